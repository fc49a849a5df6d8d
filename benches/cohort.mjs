#!/usr/bin/env node
// Cohort benchmark: voxelkit/cohort (BullMQ on a loopback Redis) against the local batch command
// `voxelkit radiomics cases.csv` on this machine (shared/design/BENCHMARKS.md: "cohort throughput").
//
//   node benches/cohort.mjs [overhead|clinical|throughput ...] [--samples N] [--warmup N]
//                           [--small N] [--cpu N] [--out FILE] [--timeout S] [--keep-tmp]
//
// Needs `npm run build` and Debian's redis-server (started here on a free loopback port with a
// temporary folder: AOF on, appendfsync everysec, noeviction; stopped at the end). --samples:
// timed samples of each row (default 5), --warmup: untimed samples first (default 0), --timeout:
// seconds a local command may take (default 1800).
//
// Rows:
//   overhead   --small N tiny cases (16x14x6 voxels, ~1 ms of work each). Local: the command with
//              --jobs 1 --threads 1; per case = (wall of N cases - wall of 1 case) / (N - 1), so
//              that Node's start-up does not count. Cohort: one warm worker process (1 slot,
//              1 thread, its child process already forked); per case = (last finishedOn - first
//              processedOn) / N from the jobs' own timestamps. Overhead = cohort - local. Submit
//              and collect are one-off costs, reported per case beside it.
//   throughput --cpu N CPU-bound cases (112^3 voxels, the whole image the ROI, ~0.3 s each on one
//              thread): 1 worker process vs 2 (1 slot, 1 thread each), wall time from the
//              submission to the last completion (polled every 10 ms); the local command with
//              --jobs 1 and 2 (--threads 1) beside them (process wall time, start-up included).
//   clinical   PyRadiomics' four test cases (brain1, brain2, breast1, prostate phantom; NRRD from
//              ../shared/reference/pyradiomics, skipped with a note where absent), each linked
//              under 10 names (40 distinct jobs): per case for the local command and one warm
//              worker, as the overhead row, at sizes a study has; the deployment sketch uses it.
//   memory     Redis memory per completed radiomics job (MEMORY USAGE of its hash) and of the
//              submission record, to size Redis for a cohort.
import { spawn, spawnSync } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, symlinkSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { createServer } from 'node:net'
import os from 'node:os'
import { join } from 'node:path'
import { BenchError, ROOT, SHARED_REFERENCE, cli, dayStamp, intOption, loadavgText, markdownTable, matcher, runnerArgs, say, stats, writeRecord } from './lib.mjs'

const require = createRequire(import.meta.url)
const CLI = join(ROOT, 'dist', 'cli.js')
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const ms = (s) => (s * 1000).toFixed(2)

function rng(seed) {
  let s = seed | 0
  return () => {
    s = (s + 0x6d2b79f5) | 0
    let t = Math.imul(s ^ (s >>> 15), 1 | s)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

function freePort() {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address()
      s.close(() => resolve(port))
    })
  })
}

async function startRedis(dir) {
  if (spawnSync('redis-server', ['--version']).status !== 0) throw new BenchError('redis-server not found (apt-get install -y redis-server)')
  const port = await freePort()
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--dir', dir, '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '', '--maxmemory-policy', 'noeviction', '--logfile', '']
  const p = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
  await new Promise((resolve, reject) => {
    let log = ''
    p.stdout.on('data', (b) => {
      log += b
      if (/Ready to accept connections/.test(log)) resolve()
    })
    p.once('exit', (c) => reject(new BenchError(`redis-server exited (${c}): ${log.slice(-500)}`)))
  })
  const version = /v=(\S+)/.exec(spawnSync('redis-server', ['--version'], { encoding: 'utf8' }).stdout)?.[1]
  return { url: `redis://127.0.0.1:${port}`, version, stop: () => new Promise((r) => (p.exitCode !== null ? r() : (p.once('exit', r), p.kill('SIGTERM')))) }
}

/** Writes `n` cases (image, mask, CSV) into `dir`; `size`: [nx, ny, nz]; `full`: the whole image is the ROI. */
function writeCases(vk, dir, tag, n, size, full) {
  mkdirSync(dir, { recursive: true })
  const [nx, ny, nz] = size
  const lines = ['ID,Image,Mask']
  const msk = new Uint8Array(nx * ny * nz)
  if (full) msk.fill(1)
  else
    for (let z = 0; z < nz; z++)
      for (let y = 0; y < ny; y++)
        for (let x = 0; x < nx; x++) {
          const d = ((x - nx / 2) / (nx / 2.5)) ** 2 + ((y - ny / 2) / (ny / 2.5)) ** 2 + ((z - nz / 2) / (nz / 2.2)) ** 2
          msk[x + nx * (y + ny * z)] = d < 1 ? 1 : 0
        }
  vk.writeVolumeSync(join(dir, `${tag}-mask.nii.gz`), { data: msk, shape: size })
  for (let k = 0; k < n; k++) {
    const r = rng(k + 1)
    const img = new Int16Array(nx * ny * nz)
    for (let i = 0; i < img.length; i++) img[i] = Math.floor(600 * r())
    vk.writeVolumeSync(join(dir, `${tag}${k}.nii.gz`), { data: img, shape: size })
    lines.push(`${tag}${k},${tag}${k}.nii.gz,${tag}-mask.nii.gz`)
  }
  const csv = join(dir, `${tag}-${n}.csv`)
  writeFileSync(csv, `${lines.join('\n')}\n`)
  return csv
}

let timeoutS = 1800

/** Wall seconds of `voxelkit …args`. */
function timeCli(args) {
  const t = process.hrtime.bigint()
  const r = spawnSync(process.execPath, [CLI, ...args], { encoding: 'utf8', maxBuffer: 1 << 28, timeout: timeoutS * 1000 })
  if (r.status !== 0) throw new BenchError(`voxelkit ${args.join(' ')} failed: ${r.stderr}`)
  return Number(process.hrtime.bigint() - t) / 1e9
}

/** `voxelkit cohort worker` processes for `queue`, resolved once each is ready. */
async function startWorkers(url, queue, n) {
  const procs = []
  for (let i = 0; i < n; i++) {
    const p = spawn(process.execPath, [CLI, 'cohort', 'worker', '--redis', url, '--queue', queue, '--concurrency', '1', '--threads', '1'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let out = ''
    await new Promise((resolve, reject) => {
      const take = (b) => {
        out += b
        if (/^worker .* slot/m.test(out)) resolve()
      }
      p.stdout.on('data', take)
      p.stderr.on('data', take)
      p.once('exit', () => reject(new BenchError(`worker exited: ${out}`)))
    })
    procs.push(p)
  }
  return {
    stop: () => Promise.all(procs.map((p) => new Promise((r) => (p.exitCode !== null ? r() : (p.once('exit', r), p.kill('SIGTERM')))))),
  }
}

async function main() {
  const o = runnerArgs(import.meta.url, {
    options: { small: { type: 'string', default: '400' }, cpu: { type: 'string', default: '16' } },
    defaults: { warmup: '0' },
    omit: ['threads', 'shared', 'python'],
  })
  const values = { ...o.values, out: o.out }
  const { samples, warmup } = o
  const nSmall = intOption(o.values, 'small', 2)
  const nCpu = intOption(o.values, 'cpu', 2)
  timeoutS = o.timeoutS
  // positional filters pick rows (none: all); memory rides with overhead
  const ROWS = ['overhead', 'clinical', 'throughput']
  for (const f of o.filters) if (!ROWS.some((r) => matcher([f])(r))) throw new BenchError(`unknown row ${f} (${ROWS.join(', ')})`)
  const want = (row) => matcher(o.filters)(row)
  const t0 = Date.now()
  let vk, cohort, Redis
  try {
    vk = require(ROOT)
    cohort = require(join(ROOT, 'dist', 'cohort.js'))
    Redis = require('ioredis').Redis
  } catch (e) {
    throw new BenchError(`cannot load voxelkit, voxelkit/cohort or ioredis (npm ci, npm run build): ${e.message}`)
  }
  const tmp = mkdtempSync(join(os.tmpdir(), 'voxelkit-cohort-bench-'))
  const redis = await startRedis(tmp)
  const client = new Redis(redis.url)
  const loadStart = os.loadavg()
  const record = { machine: {}, settings: { samples, warmup, small_cases: nSmall, cpu_cases: nCpu }, rows: {} }
  try {
    say(`Redis ${redis.version} on ${redis.url}; writing inputs ...`)
    const smallCsv = writeCases(vk, join(tmp, 'small'), 's', nSmall, [16, 14, 6], false)
    const oneCsv = writeCases(vk, join(tmp, 'small'), 's', 1, [16, 14, 6], false)
    const warmCsv = writeCases(vk, join(tmp, 'warm'), 'w', 4, [16, 14, 6], false)
    const cpuCsv = writeCases(vk, join(tmp, 'cpu'), 'c', nCpu, [112, 112, 112], true)
    let qn = 0
    const completed = (q) => client.zcard(`bull:${q}:completed`)

    /** One cohort sample: `workers` warm worker processes, `csv` submitted; returns timings. */
    const cohortSample = async (csv, workers, n) => {
      const q = `bench${qn++}`
      const w = await startWorkers(redis.url, q, workers)
      try {
        // warm-up: the workers fork their child processes (and load the binding) on a first job
        await cohort.submitCohort(warmCsv, { redis: redis.url, queue: q, task: 'radiomics' })
        while ((await completed(q)) < 4) await sleep(10)
        const ts = process.hrtime.bigint()
        const sub = await cohort.submitCohort(csv, { redis: redis.url, queue: q, task: 'radiomics' })
        const tSubmit = Number(process.hrtime.bigint() - ts) / 1e9
        while ((await completed(q)) < 4 + n) await sleep(10)
        const wall = Number(process.hrtime.bigint() - ts) / 1e9
        const tc = process.hrtime.bigint()
        const res = await cohort.collectResults({ redis: redis.url, queue: q })
        const tCollect = Number(process.hrtime.bigint() - tc) / 1e9
        if (res.completed !== n) throw new BenchError(`${res.completed} of ${n} cases completed`)
        // the jobs' own timestamps: first start to last finish
        let first = Infinity
        let last = 0
        for (const id of sub.jobIds) {
          const [p, f] = await client.hmget(`bull:${q}:${id}`, 'processedOn', 'finishedOn')
          first = Math.min(first, Number(p))
          last = Math.max(last, Number(f))
        }
        return { q, jobIds: sub.jobIds, submit_s: tSubmit, wall_s: wall, span_s: (last - first) / 1000, collect_s: tCollect }
      } finally {
        await w.stop()
      }
    }

    // --- overhead on small cases
    if (want('overhead')) {
    say(`overhead: ${nSmall} small cases, local command vs one warm worker, ${samples} sample(s) ...`)
    const usedMemory = async () => Number(/used_memory:(\d+)/.exec(await client.info('memory'))[1])
    const mem0 = await usedMemory()
    const localN = []
    const local1 = []
    const co = []
    for (let s = -warmup; s < samples; s++) {
      const l1 = timeCli(['radiomics', oneCsv, '--jobs', '1', '--threads', '1', '--out', join(tmp, 'l1.csv')])
      const ln = timeCli(['radiomics', smallCsv, '--jobs', '1', '--threads', '1', '--out', join(tmp, 'ln.csv')])
      const c = await cohortSample(smallCsv, 1, nSmall)
      say(`  ${s < 0 ? 'warm-up' : `sample ${s + 1}`}: local ${ln.toFixed(3)} s (1 case ${l1.toFixed(3)} s), cohort span ${c.span_s.toFixed(3)} s, submit ${c.submit_s.toFixed(3)} s, collect ${c.collect_s.toFixed(3)} s`)
      if (s < 0) continue
      local1.push(l1)
      localN.push(ln)
      co.push(c)
    }
    const localPer = stats(localN.map((t, s) => (t - local1[s]) / (nSmall - 1)))
    const cohortPer = stats(co.map((c) => c.span_s / nSmall))
    const overhead = stats(co.map((c, s) => c.span_s / nSmall - (localN[s] - local1[s]) / (nSmall - 1)))
    record.rows.overhead = {
      cases: nSmall,
      local_per_case_s: localPer,
      cohort_per_case_s: cohortPer,
      overhead_per_case_s: overhead,
      submit_per_case_s: stats(co.map((c) => c.submit_s / nSmall)),
      collect_per_case_s: stats(co.map((c) => c.collect_s / nSmall)),
    }
    // Redis memory per job and per submission
    const q0 = co[0].q
    const mem = []
    for (const id of co[0].jobIds.slice(0, 50)) mem.push(Number(await client.call('MEMORY', 'USAGE', `bull:${q0}:${id}`, 'SAMPLES', '0')))
    const manifestBytes = Number(await client.call('MEMORY', 'USAGE', `bull:${q0}:voxelkit:submission`, 'SAMPLES', '0'))
    // everything a job costs Redis (hash, sets, events stream), over every sample's jobs
    const perJobAll = ((await usedMemory()) - mem0) / ((samples + warmup) * (nSmall + 4))
    record.rows.memory = { job_hash_bytes: stats(mem), submission_bytes_per_case: manifestBytes / nSmall, used_memory_per_job_bytes: perJobAll, jobs_read: mem.length }
    }

    // --- PyRadiomics' cases, 10 names each
    const pyrad = join(SHARED_REFERENCE, 'pyradiomics')
    const clinical = [
      ['brain1', 'brain1_image.nrrd', 'brain1_label.nrrd'],
      ['brain2', 'brain2_image.nrrd', 'brain2_label.nrrd'],
      ['breast1', 'breast1_image.nrrd', 'breast1_label.nrrd'],
      ['prostate', 'prostate_phantom_subvolume.nrrd', 'prostate_phantom_subvolume-label.nrrd'],
    ]
    if (!want('clinical')) {
      // not asked for
    } else if (existsSync(join(pyrad, 'brain1_image.nrrd'))) {
      const cdir = join(tmp, 'clinical')
      mkdirSync(cdir)
      const lines = ['ID,Image,Mask']
      for (let k = 0; k < 10; k++)
        for (const [name, img, msk] of clinical) {
          symlinkSync(join(pyrad, img), join(cdir, `${name}-${k}.nrrd`))
          symlinkSync(join(pyrad, msk), join(cdir, `${name}-${k}-label.nrrd`))
          lines.push(`${name}-${k},${name}-${k}.nrrd,${name}-${k}-label.nrrd`)
        }
      const ccsv = join(cdir, 'clinical.csv')
      writeFileSync(ccsv, `${lines.join('\n')}\n`)
      const c1csv = join(cdir, 'one.csv')
      writeFileSync(c1csv, `${lines.slice(0, 2).join('\n')}\n`)
      say(`clinical: PyRadiomics' 4 cases x 10 names, local command vs one warm worker, ${samples} sample(s) ...`)
      const l1s = []
      const lns = []
      const cos = []
      for (let s = -warmup; s < samples; s++) {
        const l1 = timeCli(['radiomics', c1csv, '--jobs', '1', '--threads', '1', '--out', join(tmp, 'cl1.csv')])
        const ln = timeCli(['radiomics', ccsv, '--jobs', '1', '--threads', '1', '--out', join(tmp, 'cln.csv')])
        const c = await cohortSample(ccsv, 1, 40)
        say(`  ${s < 0 ? 'warm-up' : `sample ${s + 1}`}: local ${ln.toFixed(3)} s (1 case ${l1.toFixed(3)} s), cohort span ${c.span_s.toFixed(3)} s`)
        if (s < 0) continue
        l1s.push(l1)
        lns.push(ln)
        cos.push(c)
      }
      record.rows.clinical = {
        cases: 40,
        local_per_case_s: stats(lns.map((t, s) => (t - l1s[s]) / 39)),
        cohort_per_case_s: stats(cos.map((c) => c.span_s / 40)),
        overhead_per_case_s: stats(cos.map((c, s) => c.span_s / 40 - (lns[s] - l1s[s]) / 39)),
      }
    } else say(`clinical: ${pyrad} not found, row skipped`)

    // --- throughput on CPU-bound cases
    if (want('throughput')) {
    say(`throughput: ${nCpu} CPU-bound cases, 1 vs 2 worker processes, ${samples} sample(s) ...`)
    const one = []
    const two = []
    const lj1 = []
    const lj2 = []
    for (let s = -warmup; s < samples; s++) {
      const c1 = (await cohortSample(cpuCsv, 1, nCpu)).wall_s
      const c2 = (await cohortSample(cpuCsv, 2, nCpu)).wall_s
      const j1 = timeCli(['radiomics', cpuCsv, '--jobs', '1', '--threads', '1', '--out', join(tmp, 'c1.csv')])
      const j2 = timeCli(['radiomics', cpuCsv, '--jobs', '2', '--threads', '1', '--out', join(tmp, 'c2.csv')])
      say(`  ${s < 0 ? 'warm-up' : `sample ${s + 1}`}: cohort 1 worker ${c1.toFixed(2)} s, 2 workers ${c2.toFixed(2)} s; local --jobs 1 ${j1.toFixed(2)} s, --jobs 2 ${j2.toFixed(2)} s`)
      if (s < 0) continue
      one.push(c1)
      two.push(c2)
      lj1.push(j1)
      lj2.push(j2)
    }
    const st = { one: stats(one), two: stats(two), lj1: stats(lj1), lj2: stats(lj2) }
    record.rows.throughput = {
      cases: nCpu,
      case_voxels: 112 ** 3,
      cohort_1_worker_s: st.one,
      cohort_2_workers_s: st.two,
      local_jobs1_s: st.lj1,
      local_jobs2_s: st.lj2,
      cohort_speedup_2_vs_1: st.one.median / st.two.median,
      local_speedup_2_vs_1: st.lj1.median / st.lj2.median,
      cohort_per_case_1_worker_s: st.one.median / nCpu,
    }
    }

    // --- report
    record.machine = {
      cpu: os.cpus()[0]?.model?.trim() ?? 'unknown',
      cores: os.availableParallelism(),
      memory_gib: os.totalmem() / 2 ** 30,
      os: `${os.type()} ${os.release()} ${os.arch()}`,
      node: process.versions.node,
      voxelkit: vk.version,
      redis: redis.version,
      bullmq: require('bullmq/package.json').version,
      ioredis: require('ioredis/package.json').version,
      date: new Date().toISOString(),
      loadavg_start: loadStart,
      loadavg_end: os.loadavg(),
      total_wall_s: (Date.now() - t0) / 1000,
    }
    const m = record.machine
    const { overhead: o, clinical: c, throughput: t, memory: mm } = record.rows
    const span = (x, f = ms) => `${f(x.median)} (${f(x.min)}–${f(x.max)})`
    const perCase = [
      ...(o ? [[`${nSmall} small cases (16x14x6)`, span(o.local_per_case_s), span(o.cohort_per_case_s), span(o.overhead_per_case_s), span(o.submit_per_case_s), span(o.collect_per_case_s)]] : []),
      ...(c ? [['PyRadiomics brain1, brain2, breast1, prostate (x10)', span(c.local_per_case_s), span(c.cohort_per_case_s), span(c.overhead_per_case_s), '', '']] : []),
    ]
    const s2 = (x) => x.toFixed(2)
    record.markdown = [
      '## Cohort (BullMQ on loopback Redis) vs the local batch command',
      '',
      `Machine: ${m.cpu}, ${m.cores} cores, ${m.memory_gib.toFixed(0)} GiB, ${m.os}. Node ${m.node}; Redis ${m.redis} (AOF everysec, noeviction), bullmq ${m.bullmq}, ioredis ${m.ioredis}. ${m.date.slice(0, 16).replace('T', ' ')} UTC.`,
      `Method: median (min–max) of ${samples} sample(s); workers started and warmed (child process forked) before timing. Load average ${loadavgText(m.loadavg_start)} at start, ${loadavgText(m.loadavg_end)} at end.`,
      '',
      ...(perCase.length ? [markdownTable(['per case, ms', 'local command (--jobs 1)', 'cohort, 1 worker', 'queue overhead', 'submit', 'collect'], perCase), ''] : []),
      ...(t
        ? [
            markdownTable(
              [`${nCpu} cases of 112³ voxels, s`, 'cohort 1 worker', 'cohort 2 workers', '2 vs 1', 'local --jobs 1', 'local --jobs 2', '2 vs 1'],
              [['wall (submit to last result; local: process)', span(t.cohort_1_worker_s, s2), span(t.cohort_2_workers_s, s2), `${s2(t.cohort_speedup_2_vs_1)}x`, span(t.local_jobs1_s, s2), span(t.local_jobs2_s, s2), `${s2(t.local_speedup_2_vs_1)}x`]],
            ),
            '',
          ]
        : []),
      ...(mm
        ? [
            `Redis memory: ${mm.job_hash_bytes.median} bytes per completed radiomics job hash (median of ${mm.jobs_read}: 40 features, the job data), ${mm.used_memory_per_job_bytes.toFixed(0)} bytes per job of Redis' used_memory in all (sets, events stream), ${mm.submission_bytes_per_case.toFixed(0)} bytes per case of the submission record.`,
            '',
          ]
        : []),
    ].join('\n')
    writeRecord(values, 'cohort', record, { file: `${dayStamp()}-cohort.json`, t0 })
  } finally {
    client.disconnect()
    await redis.stop()
    if (o.keepTmp) say(`kept ${tmp}`)
    else rmSync(tmp, { recursive: true, force: true })
  }
}

cli(main)
