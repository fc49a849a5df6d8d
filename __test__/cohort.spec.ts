// voxelkit/cohort on a real Redis (Debian's redis-server on a loopback port, started and stopped
// here; the file skips with a message where it is not installed) and real worker processes
// (`voxelkit cohort worker`, each case in a sandboxed child process): results equal the local
// batch command, a SIGKILLed worker and a Redis restart lose nothing, input errors fail once with
// their codes, submission is idempotent, cancel aborts, DTI maps equal `voxelkit dti`.
import test from 'ava'
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdirSync, readFileSync, readdirSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { cohortStatus, collectResults, startDashboard, startWorker, submitCohort, type CohortStatus } from '../ts/cohort'
import { readVolumeSync, simulateDkiPhantom, writeVolumeSync } from '../ts/index'
import { cli, fitArgs, scratchDir, writeDwiFiles, type DwiFiles } from './helpers/cli'
import { phantom } from './helpers/data'
import { ROOT } from './helpers/fixtures'
import { PYRAD, hasShared } from './helpers/radiomics'
import { freePort, hasRedisServer, startRedis, type RedisServer } from './helpers/redis'
import { WASI } from './helpers/wasi'

const HAVE_REDIS = hasRedisServer()
// cohort workers run the native binding; under scripts/test-wasi.sh (the WebAssembly build, which
// has no CLS/CWLS) the Redis tests are skipped
const rtest = HAVE_REDIS && !WASI ? test.serial : test.skip
const CLI = join(ROOT, 'dist', 'cli.js')
const dir = scratchDir('cohort')
let redis: RedisServer

test.before(async () => {
  if (HAVE_REDIS && !WASI) redis = await startRedis()
})
const procs = new Set<ChildProcess>()
test.after.always(async () => {
  for (const p of procs) if (p.exitCode === null && p.signalCode === null) p.kill('SIGKILL')
  await redis?.dispose()
})

if (!HAVE_REDIS || WASI) {
  test('cohort suite: the Redis tests are skipped', (t) => {
    t.log(WASI ? 'the WebAssembly build: cohort workers run the native binding' : 'redis-server not found on the PATH: install it (apt-get install -y redis-server) to run the cohort tests')
    t.pass()
  })
}

// ---------------------------------------------------------------------------------------------
// inputs

function rng(seed: number): () => number {
  let s = seed | 0
  return () => {
    s = (s + 0x6d2b79f5) | 0
    let t = Math.imul(s ^ (s >>> 15), 1 | s)
    t = (t + Math.imul(t ^ (t >>> 7), 61 | t)) ^ t
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/** A small textured image and an ellipsoid ROI with `label`, written as .nii.gz or .nrrd. */
function smallCase(k: number, label: number): { image: string; mask: string } {
  const r = rng(1000 + k)
  const [nx, ny, nz] = [16 + (k % 5), 14 + (k % 3), 6 + (k % 4)]
  const img = new Int16Array(nx * ny * nz)
  const msk = new Uint8Array(nx * ny * nz)
  for (let z = 0; z < nz; z++)
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++) {
        const i = x + nx * (y + ny * z)
        img[i] = Math.floor(300 * r() + 20 * x + 10 * z)
        const d = ((x - nx / 2) / (nx / 2.5)) ** 2 + ((y - ny / 2) / (ny / 2.5)) ** 2 + ((z - nz / 2) / (nz / 2.2)) ** 2
        msk[i] = d < 1 ? label : 0
      }
  const ext = k % 4 === 0 ? 'nrrd' : 'nii.gz'
  const image = join(dir, `img${k}.${ext}`)
  const mask = join(dir, `msk${k}.${ext}`)
  writeVolumeSync(image, { data: img, shape: [nx, ny, nz], spacing: [1, 1.5, 2] })
  writeVolumeSync(mask, { data: msk, shape: [nx, ny, nz], spacing: [1, 1.5, 2] })
  return { image, mask }
}

/** Cases of ~0.1-0.3 s each on one thread: 112³ voxels, the mask's two halves labelled 1 and 2. */
function slowCases(n: number): string {
  const s = 112
  const msk = new Uint8Array(s * s * s)
  msk.fill(1, 0, (s * s * s) / 2)
  msk.fill(2, (s * s * s) / 2)
  writeVolumeSync(join(dir, 'slow-mask.nii.gz'), { data: msk, shape: [s, s, s] })
  const lines = ['ID,Image,Mask,Label']
  for (let k = 0; k < n; k++) {
    const r = rng(7 + k)
    const img = new Int16Array(s * s * s)
    for (let i = 0; i < img.length; i++) img[i] = Math.floor(600 * r())
    writeVolumeSync(join(dir, `slow${k}.nii.gz`), { data: img, shape: [s, s, s] })
    lines.push(`s${k}a,slow${k}.nii.gz,slow-mask.nii.gz,1`, `s${k}b,slow${k}.nii.gz,slow-mask.nii.gz,2`)
  }
  const csv = join(dir, `slow${n}.csv`)
  writeFileSync(csv, `${lines.join('\n')}\n`)
  return csv
}

const PARAMS = join(dir, 'params.yaml')
const CASES = join(dir, 'cases.csv')
let SLOW: string // 8 images x 2 labels = 16 cases
/** Params for `SLOW` (LoG at two sigmas: ~0.45 s a case on one thread, ~0.15 s without), so the
 * tests that signal a running case (SIGKILL, Redis restart) do not race a case that ends first. */
const SLOW_PARAMS = join(dir, 'slow.yaml')

test.before(() => {
  writeFileSync(PARAMS, 'setting:\n  binWidth: 20\n  distances: [1, 2]\n')
  const lines = ['ID,Image,Mask,Label']
  const shared = hasShared('pyradiomics', 'brain1_image.nrrd')
  if (shared) {
    for (const c of ['brain1', 'brain2', 'breast1']) lines.push(`${c},${join(PYRAD, `${c}_image.nrrd`)},${join(PYRAD, `${c}_label.nrrd`)},`)
    lines.push(`prostate,${join(PYRAD, 'prostate_phantom_subvolume.nrrd')},${join(PYRAD, 'prostate_phantom_subvolume-label.nrrd')},`)
  }
  for (let k = 0; lines.length < 41; k++) {
    const label = k % 5 === 2 ? 2 : 1
    const c = smallCase(k, label)
    // relative paths (to the CSV), a Label cell on some rows
    lines.push(`g${String(k).padStart(2, '0')},${c.image.slice(dir.length + 1)},${c.mask.slice(dir.length + 1)},${label === 2 ? '2' : ''}`)
  }
  writeFileSync(CASES, `${lines.join('\n')}\n`)
  if (HAVE_REDIS && !WASI) SLOW = slowCases(8)
  writeFileSync(SLOW_PARAMS, 'imageType:\n  Original: {}\n  LoG:\n    sigma: [1.0, 3.0]\nsetting:\n  binWidth: 20\n')
})

// ---------------------------------------------------------------------------------------------
// helpers

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function waitFor<T>(what: string, f: () => Promise<T | undefined | false>, ms = 60000, every = 50): Promise<T> {
  const end = Date.now() + ms
  let last: unknown
  for (;;) {
    try {
      const v = await f()
      if (v) return v
    } catch (e) {
      last = e
    }
    if (Date.now() > end) throw new Error(`timed out waiting for ${what}${last ? `: ${String(last)}` : ''}`)
    await sleep(every)
  }
}

const status = (queue: string, connectTimeout = 5000): Promise<CohortStatus> => cohortStatus({ redis: redis.url, queue, connectTimeout })
const finished = (queue: string) => waitFor(`queue ${queue} to finish`, async () => ((await status(queue)).submission?.pending === 0 ? true : undefined), 120000, 100)

interface WorkerProc {
  proc: ChildProcess
  out(): string
  ready: Promise<void>
  stop(): Promise<void>
}

/** `voxelkit cohort worker` as a process of its own. */
function worker(queue: string, ...extra: string[]): WorkerProc {
  const proc = spawn(process.execPath, [CLI, 'cohort', 'worker', '--redis', redis.url, '--queue', queue, '--threads', '1', ...extra], { stdio: ['ignore', 'pipe', 'pipe'] })
  procs.add(proc)
  let out = ''
  let onReady: () => void
  const ready = new Promise<void>((r) => (onReady = r))
  const take = (b: Buffer) => {
    out += b.toString()
    if (/^worker .* slot/m.test(out)) onReady()
  }
  proc.stdout!.on('data', take)
  proc.stderr!.on('data', take)
  const exited = new Promise<void>((r) => proc.once('exit', () => r()))
  return {
    proc,
    out: () => out,
    ready: Promise.race([ready, exited.then(() => Promise.reject(new Error(`worker exited:\n${out}`)))]),
    stop: async () => {
      if (proc.exitCode === null && proc.signalCode === null) proc.kill('SIGTERM')
      await exited
    },
  }
}

/** The `done <case>` lines of worker logs, by case. */
function doneCounts(...logs: string[]): Map<string, number> {
  const m = new Map<string, number>()
  for (const l of logs.join('\n').split('\n')) {
    const x = /^done (\S+) /.exec(l)
    if (x) m.set(x[1], (m.get(x[1]) ?? 0) + 1)
  }
  return m
}

const text = (p: string) => readFileSync(p, 'utf8')
const arg = (queue: string) => ['--redis', redis.url, '--queue', queue]

// ---------------------------------------------------------------------------------------------
// no Redis needed

test('voxelkit/cohort is an entry point of its own; voxelkit never loads bullmq or ioredis', (t) => {
  const pkg = JSON.parse(text(join(ROOT, 'package.json'))) as Record<string, Record<string, unknown>>
  for (const p of ['bullmq', 'ioredis', '@bull-board/api', '@bull-board/express']) {
    t.deepEqual(pkg.peerDependenciesMeta[p], { optional: true }, p)
    t.false(p in (pkg.dependencies ?? {}), p)
  }
  t.deepEqual(pkg.exports['./cohort'], { types: './dist/cohort.d.ts', import: './dist/cohort.mjs', require: './dist/cohort.js' })
  const script = [
    "const v = require('voxelkit')",
    "const loaded = () => Object.keys(require.cache).filter((k) => /node_modules[\\\\/](bullmq|ioredis|@bull-board)/.test(k)).length",
    "if (loaded() !== 0) throw new Error('voxelkit loaded a Redis client')",
    "const c = require('voxelkit/cohort')",
    "if (loaded() !== 0) throw new Error('voxelkit/cohort loaded a Redis client before use')",
    "console.log(typeof v.fitDti, typeof c.submitCohort, typeof c.startWorker, typeof c.cohortStatus, typeof c.collectResults)",
  ].join('\n')
  const r = spawnSync(process.execPath, ['-e', script], { cwd: ROOT, encoding: 'utf8' })
  t.is(r.status, 0, r.stderr)
  t.is(r.stdout.trim(), 'function function function function function')
  const esm = spawnSync(process.execPath, ['--input-type=module', '-e', "import { submitCohort } from 'voxelkit/cohort'; import c from 'voxelkit/cohort'; console.log(submitCohort === c.submitCohort)"], {
    cwd: ROOT,
    encoding: 'utf8',
  })
  t.is(esm.stdout.trim(), 'true', esm.stderr)
})

test('cohort usage errors and setting checks', async (t) => {
  t.is((await cli('cohort')).code, 2)
  const u = await cli('cohort', 'frob')
  t.is(u.code, 2)
  t.regex(u.stderr, /unknown cohort subcommand 'frob'[\s\S]*voxelkit cohort submit/)
  t.is((await cli('cohort', 'submit', CASES)).code, 2) // no --task
  t.regex((await cli('cohort', 'submit', CASES, '--task', 'segment')).stderr, /--task must be radiomics, dti or dki/)
  t.regex((await cli('cohort', 'submit', CASES, '--task', 'dti')).stderr, /\[ERR_SETTING\] the dti task needs an output folder/)
  t.regex((await cli('cohort', 'submit', CASES, '--task', 'radiomics', '--redis', 'http://x')).stderr, /\[ERR_SETTING\] redis must be a redis:/)
  t.regex((await cli('cohort', 'status', '--queue', 'a:b')).stderr, /\[ERR_SETTING\] queue must be/)
  const port = await freePort()
  const e = await t.throwsAsync(cohortStatus({ redis: `redis://127.0.0.1:${port}`, connectTimeout: 300 }))
  t.is((e as { code?: string }).code, 'ERR_IO')
  t.regex(e!.message, /cannot reach Redis at redis:\/\/127\.0\.0\.1:\d+ in 0\.3 s/)
})

// ---------------------------------------------------------------------------------------------
// the proof, on Redis

rtest('40 radiomics cases through 2 worker processes equal `voxelkit radiomics cases.csv`, value for value', async (t) => {
  const q = 'rad40'
  const local = join(dir, 'local40.csv')
  const l = await cli('radiomics', CASES, '--params', PARAMS, '--jobs', '2', '--out', local)
  t.is(l.code, 0, l.stderr)
  const a = worker(q)
  const b = worker(q)
  await Promise.all([a.ready, b.ready])
  const s = await cli('cohort', 'submit', CASES, '--task', 'radiomics', '--params', PARAMS, ...arg(q))
  t.is(s.code, 0, s.stderr)
  t.regex(s.stdout, /40 cases, 40 jobs: 40 added, 0 already there/)
  await finished(q)
  const out = join(dir, 'cohort40.csv')
  const c = await cli('cohort', 'collect', '--out', out, ...arg(q))
  t.is(c.code, 0, c.stderr)
  t.is(text(out), text(local)) // the same bytes: every value, the column order, the CSV's case order
  const done = doneCounts(a.out(), b.out())
  t.is(done.size, 40)
  t.true([...done.values()].every((n) => n === 1))
  t.true(doneCounts(a.out()).size > 0 && doneCounts(b.out()).size > 0, 'both workers took cases')
  const r = await collectResults({ redis: redis.url, queue: q })
  t.is(r.completed, 40)
  t.is(r.rows.length, 40)
  t.true(Object.keys(r.rows[0]).some((k) => k.startsWith('original_glcm_')))
  await Promise.all([a.stop(), b.stop()])
  t.regex(a.out(), /SIGTERM: finishing the running cases/)
  // the Redis URL from VOXELKIT_REDIS_URL
  const st = spawnSync(process.execPath, [CLI, 'cohort', 'status', '--queue', q], { env: { ...process.env, VOXELKIT_REDIS_URL: redis.url }, encoding: 'utf8' })
  t.is(st.status, 0, st.stderr)
  t.regex(st.stdout, /40 cases \(40 jobs\): 40 done, 0 failed, 0 pending/)
  t.regex(st.stdout, /Redis: AOF on, noeviction/)
})

rtest('submitting the same CSV again enqueues nothing; a changed input adds its case, a changed params file all', async (t) => {
  const q = 'rad40'
  const o = { redis: redis.url, queue: q, task: 'radiomics' as const, params: PARAMS }
  const again = await submitCohort(CASES, o)
  t.is(again.added, 0)
  t.deepEqual(again.existing, { completed: 40, failed: 0, pending: 0 })
  const first = (await collectResults({ redis: redis.url, queue: q })).rows
  const img = join(dir, 'img3.nii.gz')
  const { atimeMs, mtimeMs } = statSync(img)
  const later = new Date(Date.now() + 5000)
  utimesSync(img, later, later) // same bytes, a new modification time
  const touched = await submitCohort(CASES, o)
  t.is(touched.added, 1)
  t.is(touched.jobs, 40)
  utimesSync(img, atimeMs / 1000, mtimeMs / 1000)
  // --hash: inputs by content (other ids than by path); a new modification time changes nothing
  const byContent = await submitCohort(CASES, { ...o, hash: true })
  t.is(byContent.added, 40)
  utimesSync(img, later, later)
  t.is((await submitCohort(CASES, { ...o, hash: true })).added, 0)
  utimesSync(img, atimeMs / 1000, mtimeMs / 1000)
  const changed = join(dir, 'params2.yaml')
  writeFileSync(changed, 'setting:\n  binWidth: 10\n  distances: [1, 2]\n')
  const p2 = await submitCohort(CASES, { ...o, params: changed })
  t.is(p2.added, 40)
  t.is(new Set([...p2.jobIds, ...again.jobIds]).size, 80)
  // the same settings in another file (a comment, another key order) are the same jobs
  writeFileSync(changed, '# the first settings\nsetting:\n  distances: [1, 2]\n  binWidth: 20\n')
  const same = await submitCohort(CASES, { ...o, params: changed })
  t.is(same.added, 0)
  t.deepEqual(same.jobIds, again.jobIds)
  t.deepEqual((await collectResults({ redis: redis.url, queue: q })).rows, first)
})

rtest('a corrupt image, an absent file and a bad setting fail with their codes without retries, the others complete; retry-failed after a fix completes it', async (t) => {
  const q = 'failures'
  const good = smallCase(90, 1)
  const fixed = smallCase(91, 1)
  const corrupt = join(dir, 'corrupt.nii.gz')
  writeFileSync(corrupt, Buffer.from('\x1f\x8b\x08\x00 this is not a gzip stream'))
  mkdirSync(join(dir, 'adir.nii.gz'), { recursive: true })
  const csv = join(dir, 'failures.csv')
  writeFileSync(
    csv,
    [
      'ID,Image,Mask,Label',
      `good,${good.image},${good.mask},`,
      `corrupt,corrupt.nii.gz,${fixed.mask},`,
      `absent,absent.nii.gz,${good.mask},`,
      `badlabel,${good.image},${good.mask},0`,
      `readerror,adir.nii.gz,${good.mask},`, // an input that cannot be read but is there: retried
      `good2,${fixed.image},${fixed.mask},1`,
      '',
    ].join('\n'),
  )
  const w = worker(q)
  await w.ready
  const s = await cli('cohort', 'submit', csv, '--task', 'radiomics', '--attempts', '3', '--backoff', '50', ...arg(q))
  t.is(s.code, 0, s.stderr)
  await finished(q)
  const st = await status(q)
  t.deepEqual(st.failures.byCode, { ERR_FORMAT: 1, ERR_IO: 2, ERR_SETTING: 1 })
  const attempts = Object.fromEntries(st.failures.cases.map((f) => [f.case, [f.code, f.attempts]]))
  t.deepEqual(attempts, { corrupt: ['ERR_FORMAT', 1], absent: ['ERR_IO', 1], badlabel: ['ERR_SETTING', 1], readerror: ['ERR_IO', 3] })
  t.is(st.submission!.completed, 2)
  const sc = await cli('cohort', 'status', ...arg(q))
  t.regex(sc.stdout, /failures: .*ERR_FORMAT 1/)
  t.regex(sc.stdout, /absent \[ERR_IO\] cannot open .*absent\.nii\.gz.* \(1 attempt\)/)
  // collect writes what the local command writes, error column included; exit status 1
  const local = join(dir, 'local-failures.csv')
  t.is((await cli('radiomics', csv, '--out', local)).code, 1)
  const out = join(dir, 'cohort-failures.csv')
  const c = await cli('cohort', 'collect', '--out', out, ...arg(q))
  t.is(c.code, 1)
  t.regex(c.stderr, /4 of 6 cases failed/)
  t.is(text(out), text(local))
  // fix the corrupt image; retry-failed completes it, the others fail again as before
  writeVolumeSync(corrupt, readVolumeSync(fixed.image))
  const r = await cli('cohort', 'retry-failed', ...arg(q))
  t.is(r.code, 0, r.stderr)
  t.regex(r.stdout, /^4 failed case\(s\) back in the queue/)
  await finished(q)
  const st2 = await status(q)
  t.is(st2.submission!.completed, 3)
  t.deepEqual(st2.failures.byCode, { ERR_IO: 2, ERR_SETTING: 1 })
  // attempts counted afresh after retry-failed
  t.deepEqual(Object.fromEntries(st2.failures.cases.map((f) => [f.case, [f.code, f.attempts]])), { absent: ['ERR_IO', 1], badlabel: ['ERR_SETTING', 1], readerror: ['ERR_IO', 3] })
  t.is((await cli('radiomics', csv, '--out', local)).code, 1)
  t.is((await cli('cohort', 'collect', '--out', out, ...arg(q))).code, 1)
  t.is(text(out), text(local))
  const rows = (await collectResults({ redis: redis.url, queue: q })).rows
  t.is(rows[1].error, '')
  t.is(rows[1].original_glcm_Contrast, rows[5].original_glcm_Contrast) // corrupt.nii.gz now holds good2's image
  await w.stop()
})

/** The pids of `pid`'s child processes (Linux /proc). */
function childPids(pid: number): number[] {
  const out: number[] = []
  for (const d of readdirSync('/proc')) {
    if (!/^\d+$/.test(d)) continue
    try {
      // pid (comm) state ppid …: comm may hold spaces, so split after its closing parenthesis
      const stat = readFileSync(`/proc/${d}/stat`, 'utf8')
      if (Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === pid) out.push(Number(d))
    } catch {
      // gone meanwhile
    }
  }
  return out
}

rtest('a crashed case process fails its case (retried), not the worker; SIGKILL of a worker holding a job: another worker takes it, every case completes exactly once', async (t) => {
  const q = 'kill'
  const quick = ['--lock-duration', '2000', '--stalled-interval', '500']
  const a = worker(q, '--name', 'doomed', ...quick)
  await a.ready
  await submitCohort(SLOW, { redis: redis.url, queue: q, task: 'radiomics', params: SLOW_PARAMS, backoff: 100 })
  // the OOM killer's way: SIGKILL the process running a case (the worker's child)
  const crashed = await waitFor('a running case', async () => (await status(q)).active.find((x) => x.worker === 'doomed' && x.progress > 0), 60000, 10)
  const kids = childPids(a.proc.pid!)
  t.is(kids.length, 1, 'one case process for one slot')
  process.kill(kids[0], 'SIGKILL')
  await waitFor('the crash report', async () => a.out().includes(`failed ${crashed.case} (${crashed.jobId}): [ERR_INTERNAL] the case's process ended (exit code null, signal SIGKILL) (attempt 1 of 3, retrying)`))
  t.is(a.proc.exitCode, null, 'the worker lives on')
  // wait until the worker has finished a case and holds the next one (running for 40 ms at least)
  const held = await waitFor(
    'a held job',
    async () => {
      const s = await status(q)
      const j = s.active.find((x) => x.worker === 'doomed' && x.ms > 40)
      return s.counts.completed >= 1 && j ? j : undefined
    },
    60000,
    10,
  )
  a.proc.kill('SIGKILL')
  await a.stop()
  const b = worker(q, '--name', 'heir', ...quick)
  await finished(q)
  await b.stop()
  t.regex(b.out(), new RegExp(`recovered ${held.jobId} from a worker that stopped`))
  const done = doneCounts(a.out(), b.out())
  t.is(done.size, 16)
  t.true([...done.entries()].every(([, n]) => n === 1), JSON.stringify([...done]))
  t.false(doneCounts(a.out()).has(held.case))
  t.true(done.has(crashed.case))
  const r = await collectResults({ redis: redis.url, queue: q })
  t.is(r.completed, 16)
  const local = join(dir, 'local-slow.csv')
  t.is((await cli('radiomics', SLOW, '--params', SLOW_PARAMS, '--jobs', '2', '--out', local)).code, 0)
  const out = join(dir, 'cohort-kill.csv')
  t.is((await cli('cohort', 'collect', '--out', out, ...arg(q))).code, 0)
  t.is(text(out), text(local))
})

rtest('restarting Redis (AOF on) mid-run loses nothing completed; the workers resume and the run finishes', async (t) => {
  const q = 'restart'
  const before40 = (await collectResults({ redis: redis.url, queue: 'rad40' })).rows
  // a job fetched while Redis went down (moved to active there, the reply lost) comes back
  // through the stalled-job check: after lockDuration + stalledInterval, 60 s by default
  const quick = ['--lock-duration', '5000', '--stalled-interval', '1000']
  const a = worker(q, ...quick)
  const b = worker(q, ...quick)
  await Promise.all([a.ready, b.ready])
  await submitCohort(SLOW, { redis: redis.url, queue: q, task: 'radiomics', params: SLOW_PARAMS })
  await waitFor('4 completed cases', async () => (await status(q)).counts.completed >= 4, 60000, 20)
  const early = await collectResults({ redis: redis.url, queue: q, partial: true })
  t.true(early.completed >= 4 && early.pending > 0, `${early.completed} done, ${early.pending} pending`)
  // `status --watch` rides out the restart and ends when the run does
  const watch = spawn(process.execPath, [CLI, 'cohort', 'status', '--watch', '0.2', ...arg(q)], { stdio: ['ignore', 'pipe', 'pipe'] })
  procs.add(watch)
  let watched = ''
  watch.stdout!.on('data', (b: Buffer) => (watched += b.toString()))
  watch.stderr!.on('data', (b: Buffer) => (watched += b.toString()))
  const watchEnd = new Promise<number | null>((r) => watch.once('exit', (code) => r(code)))
  await sleep(300)
  await redis.stop()
  await sleep(500)
  await redis.start()
  await finished(q)
  t.is(await watchEnd, 0, watched)
  t.regex(watched, /16 cases \(16 jobs\): 16 done, 0 failed, 0 pending/)
  const r = await collectResults({ redis: redis.url, queue: q })
  t.is(r.completed, 16)
  for (const [k, row] of early.rows.entries()) if (row.error === '') t.deepEqual(r.rows[k], row, `row ${k}`)
  t.deepEqual((await collectResults({ redis: redis.url, queue: 'rad40' })).rows, before40)
  const local = join(dir, 'local-slow.csv')
  const out = join(dir, 'cohort-restart.csv')
  t.is((await cli('cohort', 'collect', '--out', out, ...arg(q))).code, 0)
  t.is(text(out), text(local))
  await Promise.all([a.stop(), b.stop()])
})

rtest('progress reaches the job; cancel removes the waiting cases and aborts the running one through its AbortSignal (ERR_ABORTED)', async (t) => {
  const q = 'cancel'
  const w = worker(q, '--concurrency', '1')
  await w.ready
  // LoG (5 sigmas) + wavelet make a case take ~2 s on one thread, so the abort reaches it
  // running: with the plain `SLOW` cases (~0.1 s now) the case could finish first (CI, stop 28)
  const heavy = join(dir, 'heavy.yaml')
  writeFileSync(heavy, 'imageType:\n  Original: {}\n  LoG:\n    sigma: [1.0, 2.0, 3.0, 4.0, 5.0]\n  Wavelet: {}\nsetting:\n  binWidth: 20\n')
  await submitCohort(SLOW, { redis: redis.url, queue: q, task: 'radiomics', params: heavy })
  // the kernel's onProgress reaches job.updateProgress through the sandbox: wait for a running
  // case past 0 %
  const running = await waitFor('a running case with progress', async () => (await status(q)).active.find((j) => j.progress > 0), 60000, 10)
  t.true(running.progress > 0 && running.progress < 100)
  const c = await cli('cohort', 'cancel', ...arg(q))
  t.is(c.code, 0, c.stderr)
  t.regex(c.stdout, /asked 1 worker\(s\) to abort 1 running case/)
  const s = await waitFor('the abort', async () => {
    const x = await status(q)
    return x.counts.active === 0 && x.counts.failed + x.counts.completed >= 1 ? x : undefined
  })
  t.is(s.counts.waiting, 0)
  t.deepEqual(s.failures.byCode, { ERR_ABORTED: 1 })
  t.is(s.failures.cases[0].attempts, 1)
  t.true(s.counts.completed + s.counts.failed < 16)
  // submitting again puts the removed cases back; the worker is still serving
  const again = await submitCohort(SLOW, { redis: redis.url, queue: q, task: 'radiomics', params: heavy })
  t.is(again.existing.failed, 1)
  t.is(again.added, 16 - 1 - again.existing.completed)
  await cli('cohort', 'cancel', ...arg(q))
  await w.stop()
})

rtest('DTI cohort of 10 generated subjects (API worker, 2 slots): maps equal `voxelkit dti` per subject', async (t) => {
  const q = 'dti'
  const subjects: { id: string; files: DwiFiles }[] = []
  for (let k = 0; k < 10; k++) {
    const p = phantom([12, 10, 3], 20 + k)
    subjects.push({ id: `sub-${String(k + 1).padStart(2, '0')}`, files: writeDwiFiles(join(dir, 'dti-in', `s${k}`), p) })
  }
  const csv = join(dir, 'dti.csv')
  writeFileSync(csv, ['ID,DWI,Bval,Bvec,Mask', ...subjects.map((s) => `${s.id},${s.files.dwi},${s.files.bval},${s.files.bvec},${s.files.mask}`), ''].join('\n'))
  const out = join(dir, 'dti-out')
  const sub = await submitCohort(csv, { redis: redis.url, queue: q, task: 'dti', out })
  t.is(sub.added, 10)
  const events: string[] = []
  const w = await startWorker({ redis: redis.url, queue: q, concurrency: 2, threads: 1, onEvent: (e) => events.push(e.type) })
  t.is(w.concurrency, 2)
  await finished(q)
  await w.close()
  t.is(events.filter((e) => e === 'completed').length, 10)
  t.deepEqual(readdirSync(out).sort(), subjects.map((s) => s.id)) // no temporary names left
  const r = await collectResults({ redis: redis.url, queue: q })
  for (const [k, s] of subjects.entries()) {
    const local = join(dir, 'dti-local', s.id)
    const l = await cli('dti', ...fitArgs(s.files, local))
    t.is(l.code, 0, l.stderr)
    t.is(r.rows[k].out, join(out, s.id))
    t.regex(l.stdout, new RegExp(`fitted ${String(r.rows[k].fitted)} of ${String(r.rows[k].voxels)} voxels`))
    for (const m of ['fa', 'md', 'ad', 'rd', 'evals', 'evecs', 'color_fa']) {
      const got = readVolumeSync(join(out, s.id, `${m}.nii.gz`))
      const want = readVolumeSync(join(local, `${m}.nii.gz`))
      t.deepEqual(got.shape, want.shape)
      t.deepEqual(got.affine, want.affine)
      t.deepEqual(got.data, want.data, `${s.id} ${m}`)
    }
    t.deepEqual(readFileSync(join(out, s.id, 'preview.png')), readFileSync(join(local, 'preview.png')))
  }
})

rtest('DKI cohort: the maps equal `voxelkit dki` (CWLS)', async (t) => {
  const q = 'dki'
  const p = simulateDkiPhantom({ shape: [6, 6, 2], seed: 5 })
  const files = writeDwiFiles(join(dir, 'dki-in'), p)
  const csv = join(dir, 'dki.csv')
  writeFileSync(csv, `ID,DWI,Bval,Bvec,Mask\nk1,${files.dwi},${files.bval},${files.bvec},${files.mask}\n`)
  const out = join(dir, 'dki-out')
  t.is((await submitCohort(csv, { redis: redis.url, queue: q, task: 'dki', method: 'CWLS', out })).added, 1)
  const w = await startWorker({ redis: redis.url, queue: q, threads: 1 })
  await finished(q)
  await w.close()
  const local = join(dir, 'dki-local')
  const l = await cli('dki', ...fitArgs(files, local), '--method', 'CWLS')
  t.is(l.code, 0, l.stderr)
  for (const m of ['fa', 'md', 'mk', 'ak', 'rk', 'kfa', 'mkt', 'kt', 'evecs']) {
    t.deepEqual(readVolumeSync(join(out, 'k1', `${m}.nii.gz`)).data, readVolumeSync(join(local, `${m}.nii.gz`)).data, m)
  }
})

rtest('dashboard: bull-board serves the queues', async (t) => {
  const d = await startDashboard({ redis: redis.url, queue: 'rad40', port: 0, readOnly: true })
  try {
    t.true(d.queues.includes('rad40') && d.queues.includes('dti'))
    const page = await fetch(d.url)
    t.is(page.status, 200)
    const api = (await (await fetch(`${d.url}api/queues`)).json()) as { queues: { name: string }[] }
    t.true(api.queues.some((x) => x.name === 'rad40'))
  } finally {
    await d.close()
  }
})
