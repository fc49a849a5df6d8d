#!/usr/bin/env node
// Cross-language field bench: voxelkit invertField / composeFields / warpVolume against DIPY
// 1.12.1 dipy.align.vector_fields, side by side on one machine (shared/design/BENCHMARKS.md).
//
//   node benches/fields.mjs [filters...] [--samples N] [--warmup N] [--threads N] [--out FILE]
//
// filters: an input (`field-128`, `field-256`), an op (`invert`, `compose`, `warp`) or both
// (`field-128/invert`); `*` is a wildcard. Inputs: smooth random fields of 128x128x96 and
// 256x256x192 voxels (at most 2 voxels of displacement), written once to benches/data by
// benches/dipy_fields.py gen and read by both sides. DIPY runs at 1 thread
// (OMP/OPENBLAS/MKL_NUM_THREADS=1), voxelkit at 1 thread and at all cores; each contender runs
// in its own process (peak RSS reported). Every row also reports the largest difference from
// DIPY's output (inverse in voxels; composition in voxels; warp relative to the image range).
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import os from 'node:os'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = resolve(HERE, '..')
const VENV = join(HERE, '.venv')
const VENV_PY = process.platform === 'win32' ? join(VENV, 'Scripts', 'python.exe') : join(VENV, 'bin', 'python')
const REQUIREMENTS = join(ROOT, 'fixtures', 'dipy', 'requirements.txt')
const DATA = join(HERE, 'data')
const RESULTS = join(HERE, 'results')
const INPUTS = ['field-128', 'field-256']
const OPS = ['invert', 'compose', 'warp']
const ONE_THREAD = { OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' }
const REF_ONLY_UNSET = ['OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE']

class BenchError extends Error {}
const say = (m = '') => process.stderr.write(`${m}\n`)
const rel = (p) => relative(process.cwd(), p) || '.'

function opts() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      samples: { type: 'string', default: '5' },
      warmup: { type: 'string', default: '1' },
      threads: { type: 'string' },
      out: { type: 'string' },
      python: { type: 'string', default: process.env.PYTHON || 'python3' },
      timeout: { type: 'string', default: '1800' },
    },
  })
  const cores = os.availableParallelism()
  return {
    filters: positionals,
    samples: Number(values.samples),
    warmup: Number(values.warmup),
    cores,
    allThreads: values.threads ? Number(values.threads) : cores,
    out: values.out,
    python: values.python,
    timeoutS: Number(values.timeout),
  }
}

function run(cmd, argv, { env, timeoutS, what, capture = false }) {
  const r = spawnSync(cmd, argv, {
    cwd: ROOT,
    env,
    stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'],
    encoding: 'utf8',
    timeout: timeoutS * 1000,
    killSignal: 'SIGKILL',
    maxBuffer: 64 * 2 ** 20,
  })
  if (r.error?.code === 'ETIMEDOUT') throw new BenchError(`${what}: killed after ${timeoutS} s`)
  if (r.error) throw new BenchError(`${what}: could not start ${cmd}: ${r.error.message}`)
  if (r.status !== 0) throw new BenchError(`${what}: exited with ${r.status ?? r.signal}`)
  return r.stdout
}

function refEnv() {
  const env = { ...process.env, ...ONE_THREAD }
  for (const k of REF_ONLY_UNSET) delete env[k]
  return env
}

function setupVenv(o) {
  const want = {}
  for (const line of readFileSync(REQUIREMENTS, 'utf8').split('\n')) {
    const m = /^\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s#;]+)/.exec(line)
    if (m) want[m[1].toLowerCase()] = m[2]
  }
  const versions = () => {
    if (!existsSync(VENV_PY)) return null
    const code = 'import json,sys\nv={"python":sys.version.split()[0]}\nfor m in ("dipy","numpy","scipy","nibabel"):\n    v[m]=__import__(m).__version__\nprint(json.dumps(v))'
    try {
      return JSON.parse(run(VENV_PY, ['-c', code], { env: refEnv(), timeoutS: 120, what: 'venv check', capture: true }))
    } catch {
      return null
    }
  }
  const ok = (v) => v && Object.entries(want).every(([k, ver]) => v[k] === ver)
  let have = versions()
  if (ok(have)) return have
  if (!existsSync(VENV_PY)) {
    say(`reference: creating ${rel(VENV)}`)
    run(o.python, ['-m', 'venv', VENV], { env: process.env, timeoutS: 300, what: 'venv' })
  }
  say(`reference: pip install -r ${rel(REQUIREMENTS)} into ${rel(VENV)}`)
  run(VENV_PY, ['-m', 'pip', 'install', '--disable-pip-version-check', '-r', REQUIREMENTS], { env: process.env, timeoutS: 1800, what: 'pip install' })
  have = versions()
  if (!ok(have)) throw new BenchError(`reference: ${rel(VENV)} does not match the pins: ${JSON.stringify(have)}`)
  return have
}

function stats(times) {
  const s = [...times].sort((a, b) => a - b)
  const n = s.length
  return { min: s[0], median: n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2, max: s[n - 1], n, samples_s: times }
}

function readF64(p) {
  const b = readFileSync(p)
  return new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))
}

/** Largest difference: fields per voxel (vector norm, voxel units on the identity grid), images relative. */
function compare(op, a, b, img) {
  if (a.length !== b.length) throw new BenchError(`output sizes differ: ${a.length} / ${b.length}`)
  let worst = 0
  let identical = true
  if (op === 'warp') {
    let scale = 0
    for (const v of img) scale = Math.max(scale, Math.abs(v))
    for (let i = 0; i < a.length; i++) {
      if (!Object.is(a[i], b[i])) identical = false
      worst = Math.max(worst, Math.abs(a[i] - b[i]) / scale)
    }
  } else {
    const n = a.length / 3
    for (let v = 0; v < n; v++) {
      let s = 0
      for (let c = 0; c < 3; c++) {
        const d = a[c * n + v] - b[c * n + v]
        if (d !== 0) identical = false
        s += d * d
      }
      worst = Math.max(worst, Math.sqrt(s))
    }
  }
  return { max_diff: worst, bitwise_identical: identical }
}

function contender(kind, op, input, shape, threads, o, tmp) {
  const tag = `${input}-${op}-${kind}${threads}`
  const result = join(tmp, `${tag}.json`)
  const dump = join(tmp, `${tag}.f64`)
  const common = ['--op', op, '--input', join(DATA, input), '--samples', String(o.samples), '--warmup', String(o.warmup), '--result', result, '--dump', dump]
  if (kind === 'dipy') run(VENV_PY, [join(HERE, 'dipy_fields.py'), 'run', ...common], { env: refEnv(), timeoutS: o.timeoutS, what: `DIPY ${tag}` })
  else {
    run(process.execPath, ['--expose-gc', join(HERE, 'voxelkit_fields.mjs'), ...common, '--shape', shape.join(','), '--threads', String(threads)], {
      env: process.env,
      timeoutS: o.timeoutS,
      what: `voxelkit ${tag}`,
    })
  }
  const r = JSON.parse(readFileSync(result, 'utf8'))
  r.stats = stats(r.times_s)
  r.dump = dump
  return r
}

const span = (st) => `${(st.median * 1e3).toFixed(1)} ms (${(st.min * 1e3).toFixed(1)}–${(st.max * 1e3).toFixed(1)})`
const LABEL = { invert: 'invert (maxIter 20, tol 1e-3)', compose: 'compose d1 ∘ d2', warp: 'warp, trilinear' }

function main() {
  const o = opts()
  const res = o.filters.map((f) => new RegExp(`^${f.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`, 'i'))
  const match = (...keys) => res.length === 0 || res.some((re) => keys.some((k) => re.test(k)))
  const plan = []
  for (const input of INPUTS) for (const op of OPS) if (match(input, op, `${input}/${op}`, 'fields')) plan.push({ input, op })
  if (!plan.length) throw new BenchError(`no bench matches ${o.filters.join(' ')}`)
  const require = createRequire(import.meta.url)
  const vk = require(ROOT)
  const ref = setupVenv(o)
  const inputs = [...new Set(plan.map((p) => p.input))]
  say(`inputs: ${inputs.join(', ')} in ${rel(DATA)} (generated if missing)`)
  const manifest = JSON.parse(run(VENV_PY, [join(HERE, 'dipy_fields.py'), 'gen', '--out', DATA, ...inputs], { env: refEnv(), timeoutS: 900, what: 'gen', capture: true }).trim().split('\n').pop())
  let cpu = os.cpus()[0]?.model?.trim() || 'unknown'
  try {
    cpu = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))?.[1]?.trim() ?? cpu
  } catch {}
  const m = { cpu, cores: o.cores, memory_gib: os.totalmem() / 2 ** 30, os: `${os.type()} ${os.release()} ${os.arch()}`, node: process.versions.node, voxelkit: vk.version, ...ref, date: new Date().toISOString(), loadavg_start: os.loadavg() }
  const tmp = mkdtempSync(join(os.tmpdir(), 'voxelkit-fields-bench-'))
  const rows = []
  const efficiency = []
  try {
    for (const { input, op } of plan) {
      const mf = manifest[input]
      say(`\n== ${input} ${op} (${mf.shape.join('x')}, ${o.warmup} warm-up + ${o.samples} samples each)`)
      const d = contender('dipy', op, input, mf.shape, 1, o, tmp)
      const threadSet = o.allThreads > 1 ? [1, o.allThreads] : [1]
      const img = op === 'warp' ? readF64(join(DATA, `${input}.img.f64`)) : null
      const dOut = readF64(d.dump)
      const vks = threadSet.map((t) => contender('voxelkit', op, input, mf.shape, t, o, tmp))
      const outs = vks.map((v) => readF64(v.dump))
      for (const [i, v] of vks.entries()) {
        rows.push({
          input,
          op,
          voxels: mf.voxels,
          dipy: { threads: 1, stats: d.stats, peak_rss_mib: d.peak_rss_mib },
          voxelkit: { threads: v.threads, stats: v.stats, peak_rss_mib: v.peak_rss_mib },
          vk_stats: v.op_stats ?? null,
          ratio: d.stats.median / v.stats.median,
          diff: compare(op, outs[i], dOut, img),
          field_mib: mf.field_mib,
        })
      }
      if (vks.length > 1) {
        const sp = vks[0].stats.median / vks[1].stats.median
        efficiency.push({ input, op, threads: vks[1].threads, t1_s: vks[0].stats.median, tn_s: vks[1].stats.median, speedup: sp, efficiency: sp / vks[1].threads, bitwise_identical_across_threads: compare(op, outs[0], outs[1], img).bitwise_identical })
      }
      for (const r of [d, ...vks]) rmSync(r.dump, { force: true })
    }
  } finally {
    rmSync(tmp, { recursive: true, force: true })
  }
  m.loadavg_end = os.loadavg()
  const head = ['kernel', 'input', 'voxels', 'threads DIPY / vk', 'DIPY median (min–max)', 'voxelkit median (min–max)', 'DIPY / voxelkit', 'ns/voxel DIPY / vk', 'peak RSS MiB DIPY / vk', 'max diff vs DIPY']
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map((_, i) => (i >= 2 && i !== 3 ? '---:' : '---')).join(' | ')} |`]
  for (const r of rows) {
    const unit = r.op === 'warp' ? ' (rel.)' : ' voxel'
    lines.push(
      `| ${[
        `${LABEL[r.op]}${r.vk_stats?.iterations !== undefined ? `, ${r.vk_stats.iterations} it.` : ''}`,
        r.input,
        r.voxels.toLocaleString('en-US'),
        `1 / ${r.voxelkit.threads}`,
        span(r.dipy.stats),
        span(r.voxelkit.stats),
        `${r.ratio.toFixed(2)}x`,
        `${((r.dipy.stats.median / r.voxels) * 1e9).toFixed(1)} / ${((r.voxelkit.stats.median / r.voxels) * 1e9).toFixed(1)}`,
        `${r.dipy.peak_rss_mib.toFixed(0)} / ${r.voxelkit.peak_rss_mib.toFixed(0)}`,
        `${r.diff.bitwise_identical ? '0 (identical)' : r.diff.max_diff.toExponential(1)}${r.diff.bitwise_identical ? '' : unit}`,
      ].join(' | ')} |`,
    )
  }
  const notes = []
  if (m.loadavg_start[0] > 0.5) notes.push(`load average ${m.loadavg_start[0].toFixed(2)} at start: other work on the machine may disturb the timings`)
  const md = [
    `## Registration fields: voxelkit ${m.voxelkit} vs DIPY ${m.dipy}`,
    '',
    `Machine: ${m.cpu}, ${m.cores} cores, ${m.memory_gib.toFixed(0)} GiB, ${m.os}. Node ${m.node}; Python ${m.python}, DIPY ${m.dipy}, numpy ${m.numpy}. ${m.date.slice(0, 16).replace('T', ' ')} UTC.`,
    `Method: ${o.warmup} warm-up + ${o.samples} timed samples per contender, each in its own process, same input files; time = the kernel call. DIPY at 1 thread (OMP/OPENBLAS/MKL_NUM_THREADS=1). Load average ${m.loadavg_start.map((x) => x.toFixed(2)).join(' ')} at start, ${m.loadavg_end.map((x) => x.toFixed(2)).join(' ')} at end.`,
    ...notes.map((n) => `Note: ${n}.`),
    '',
    ...lines,
    '',
    ...(efficiency.length ? ['Parallel efficiency (speed-up at all cores / cores):', ...efficiency.map((e) => `- ${e.input} ${e.op}: 1 thread ${e.t1_s.toFixed(3)} s -> ${e.threads} threads ${e.tn_s.toFixed(3)} s: speed-up ${e.speedup.toFixed(2)}x, efficiency ${e.efficiency.toFixed(2)}; bitwise identical across thread counts: ${e.bitwise_identical_across_threads ? 'yes' : 'NO'}`), ''] : []),
  ].join('\n')
  process.stdout.write(`\n${md}\n`)
  const day = new Date().toISOString().slice(0, 10)
  const outPath = o.out ? resolve(o.out) : join(RESULTS, `${day}-fields.json`)
  mkdirSync(dirname(outPath), { recursive: true })
  writeFileSync(outPath, `${JSON.stringify({ bench: 'fields', machine: m, settings: { samples: o.samples, warmup: o.warmup, threads: o.allThreads, filters: o.filters }, inputs: manifest, rows, parallel_efficiency: efficiency, markdown: md }, null, 2)}\n`)
  say(`wrote ${rel(outPath)}`)
}

try {
  main()
} catch (e) {
  if (e instanceof BenchError) {
    say(`bench: ${e.message}`)
    process.exit(1)
  }
  throw e
}
