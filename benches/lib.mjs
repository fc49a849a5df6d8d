// Helpers shared by the cross-language bench runners (benches/run.mjs: DTI, benches/run_dki.mjs:
// DKI) and their voxelkit contender scripts. See benches/README.md.
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { existsSync, readFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import os from 'node:os'

export const HERE = dirname(fileURLToPath(import.meta.url))
export const ROOT = resolve(HERE, '..')
export const VENV = join(HERE, '.venv')
export const VENV_PY = process.platform === 'win32' ? join(VENV, 'Scripts', 'python.exe') : join(VENV, 'bin', 'python')
export const REQUIREMENTS = join(ROOT, 'fixtures', 'dipy', 'requirements.txt') // the fixtures' pins, one source of truth
export const DATA = join(HERE, 'data')
export const RESULTS = join(HERE, 'results')
export const REF_ONLY_UNSET = ['OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE']
export const ONE_THREAD = { OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' }

export class BenchError extends Error {}
export const say = (msg = '') => process.stderr.write(`${msg}\n`)
export const rel = (p) => relative(process.cwd(), p) || '.'

// ---------------------------------------------------------------- arguments
/** parseArgs options every runner takes (each runner adds its own). */
export const COMMON_OPTIONS = {
  samples: { type: 'string', default: '5' },
  warmup: { type: 'string', default: '1' },
  threads: { type: 'string' },
  out: { type: 'string' },
  shared: { type: 'string', default: resolve(ROOT, '..', 'shared', 'reference', 'dipy') },
  python: { type: 'string', default: process.env.PYTHON || 'python3' },
  timeout: { type: 'string', default: '1800' },
  'keep-tmp': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
}

/** Prints the usage block (the comment lines 2..`last` of the runner) for --help and exits. */
export function helpAndExit(url, last) {
  say(readFileSync(fileURLToPath(url), 'utf8').split('\n').slice(1, last).map((l) => l.replace(/^\/\/ ?/, '')).join('\n'))
  process.exit(0)
}

export function intOption(values, name, min) {
  const v = Number(values[name])
  if (!Number.isInteger(v) || v < min) throw new BenchError(`--${name} must be an integer >= ${min}, got ${values[name]}`)
  return v
}

/** The settings of COMMON_OPTIONS, checked. */
export function commonSettings(values) {
  const cores = os.availableParallelism()
  return {
    samples: intOption(values, 'samples', 1),
    warmup: intOption(values, 'warmup', 0),
    cores,
    allThreads: values.threads === undefined ? cores : intOption(values, 'threads', 1),
    out: values.out,
    shared: resolve(values.shared),
    python: values.python,
    timeoutS: intOption(values, 'timeout', 1),
    keepTmp: values['keep-tmp'],
  }
}

export function matcher(filters) {
  if (filters.length === 0) return () => true
  const res = filters.map((f) => new RegExp(`^${f.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`, 'i'))
  // a row is named by several keys: `dti`, `dti-64`, `dti-64/WLS`, `io`, `dti-64/io`
  return (...keys) => res.some((re) => keys.some((k) => re.test(k)))
}

// ---------------------------------------------------------------- processes
export function run(cmd, argv, { env, timeoutS, what, capture = false }) {
  const r = spawnSync(cmd, argv, {
    cwd: ROOT,
    env,
    stdio: ['ignore', capture ? 'pipe' : 'inherit', 'inherit'],
    encoding: 'utf8',
    timeout: timeoutS * 1000,
    killSignal: 'SIGKILL',
    maxBuffer: 64 * 2 ** 20,
  })
  if (r.error?.code === 'ETIMEDOUT') throw new BenchError(`${what}: killed after ${timeoutS} s (--timeout)`)
  if (r.error) throw new BenchError(`${what}: could not start ${cmd}: ${r.error.message}`)
  if (r.status !== 0) throw new BenchError(`${what}: exited with ${r.status ?? r.signal}`)
  return r.stdout
}

export function refEnv() {
  const env = { ...process.env, ...ONE_THREAD }
  for (const k of REF_ONLY_UNSET) delete env[k]
  return env
}

// ---------------------------------------------------------------- set-up
function pins(files) {
  const out = {}
  for (const file of files) {
    if (!existsSync(file)) throw new BenchError(`missing ${rel(file)} (pinned reference requirements)`)
    for (const line of readFileSync(file, 'utf8').split('\n')) {
      const m = /^\s*([A-Za-z0-9_.-]+)\s*==\s*([^\s#;]+)/.exec(line)
      if (m) out[m[1].toLowerCase()] = m[2]
    }
  }
  return out
}

// the installed version of each pinned distribution (importlib.metadata), plus Python's
function venvVersions(names, timeoutS) {
  if (!existsSync(VENV_PY)) return null
  const code =
    'import json,sys\nfrom importlib import metadata\nv={"python":sys.version.split()[0]}\n' +
    `for m in ${JSON.stringify(names)}:\n` +
    '    try:\n        v[m]=metadata.version(m)\n    except Exception:\n        v[m]=None\n' +
    'print(json.dumps(v))'
  try {
    return JSON.parse(run(VENV_PY, ['-c', code], { env: refEnv(), timeoutS, what: 'venv check', capture: true }))
  } catch {
    return null
  }
}

/**
 * Creates benches/.venv with the fixtures' pins (plus those of `extra` requirement files, e.g.
 * the constrained-DKI fixtures' cvxpy stack) unless it already has exactly those versions.
 */
export function setupVenv(o, extra = []) {
  const files = [REQUIREMENTS, ...extra]
  const want = pins(files)
  const names = [...new Set(['dipy', 'numpy', 'scipy', 'nibabel', ...Object.keys(want)])]
  let have = venvVersions(names, 120)
  const ok = (v) => v && Object.entries(want).every(([k, ver]) => v[k] === ver)
  const from = files.map(rel).join(', ')
  if (ok(have)) {
    say(`reference: ${rel(VENV)} has ${Object.keys(want).map((k) => `${k} ${have[k]}`).join(', ')} (pins of ${from}); nothing to install`)
    return have
  }
  if (!existsSync(VENV_PY)) {
    say(`reference: creating the virtual environment ${rel(VENV)} with ${o.python} -m venv`)
    run(o.python, ['-m', 'venv', VENV], { env: process.env, timeoutS: 300, what: `${o.python} -m venv` })
  }
  say(`reference: installing ${Object.entries(want).map(([k, v]) => `${k}==${v}`).join(' ')} into ${rel(VENV)} from PyPI (pip install -r ${from})`)
  run(VENV_PY, ['-m', 'pip', 'install', '--disable-pip-version-check', ...files.flatMap((f) => ['-r', f])], {
    env: process.env,
    timeoutS: 1800,
    what: 'pip install',
  })
  have = venvVersions(names, 120)
  if (!ok(have)) throw new BenchError(`reference: ${rel(VENV)} still does not match the pins after pip install: ${JSON.stringify(have)}`)
  return have
}

export function loadVoxelkit() {
  const require = createRequire(import.meta.url)
  try {
    return require(ROOT)
  } catch (e) {
    throw new BenchError(`cannot load voxelkit from ${rel(ROOT)} (run \`npm run build\` first): ${e.message}`)
  }
}

/** Generates (or finds up to date) the named inputs with gen_data.py; returns their manifest entries. */
export function generate(o, names) {
  if (!existsSync(o.shared)) throw new BenchError(`bench inputs need ../shared/reference/dipy (not found: ${o.shared}; --shared DIR to point elsewhere)`)
  say(`inputs: ${names.join(', ')} in ${rel(DATA)} (generated from ${rel(o.shared)} if missing or stale)`)
  const out = run(VENV_PY, [join(HERE, 'gen_data.py'), '--shared', o.shared, '--out', DATA, ...names], {
    env: refEnv(),
    timeoutS: 900,
    what: 'gen_data.py',
    capture: true,
  })
  return JSON.parse(out.trim().split('\n').pop())
}

export function machine(refVersions, vk) {
  let cpu = os.cpus()[0]?.model?.trim() || 'unknown'
  try {
    const m = /^model name\s*:\s*(.+)$/m.exec(readFileSync('/proc/cpuinfo', 'utf8'))
    if (m) cpu = m[1].trim()
  } catch {}
  return {
    cpu,
    cores: os.availableParallelism(),
    memory_gib: os.totalmem() / 2 ** 30,
    os: `${os.type()} ${os.release()} ${os.arch()}`,
    node: process.versions.node,
    voxelkit: vk.version,
    python: refVersions.python,
    dipy: refVersions.dipy,
    numpy: refVersions.numpy,
    scipy: refVersions.scipy,
    nibabel: refVersions.nibabel,
    date: new Date().toISOString(),
    loadavg_start: os.loadavg(),
  }
}

/** Environment notes for the output: reference-only unsets and a busy machine. */
export function environmentNotes(m) {
  const unset = REF_ONLY_UNSET.filter((k) => process.env[k] !== undefined)
  const notes = []
  if (unset.length) {
    notes.push(`${unset.map((k) => `${k}=${process.env[k]}`).join(', ')} set in the environment: unset for the DIPY process only (BENCHMARKS.md)`)
  }
  if (m.loadavg_start[0] > 0.5) notes.push(`load average ${m.loadavg_start[0].toFixed(2)} at start: other work on the machine may disturb the timings`)
  return { unset, notes }
}

/** The header line describing the machine and the software. */
export function machineLine(m) {
  return `Machine: ${m.cpu}, ${m.cores} cores, ${m.memory_gib.toFixed(0)} GiB, ${m.os}. Node ${m.node}; Python ${m.python}, DIPY ${m.dipy}, numpy ${m.numpy}, scipy ${m.scipy}, nibabel ${m.nibabel}. ${m.date.slice(0, 16).replace('T', ' ')} UTC.`
}

export const loadavgText = (l) => l.map((x) => x.toFixed(2)).join(' ')

/** `yyyy-mm-dd` of today (local time), for the default results file name. */
export function dayStamp(date = new Date()) {
  return `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, '0')}-${String(date.getDate()).padStart(2, '0')}`
}

/** Runs a runner's main, turning a BenchError into one line and exit status 1. */
export function cli(main) {
  try {
    main()
  } catch (e) {
    if (e instanceof BenchError) {
      say(`bench: ${e.message}`)
      process.exit(1)
    }
    throw e
  }
}

// ---------------------------------------------------------------- measuring
export function stats(times) {
  const s = [...times].sort((a, b) => a - b)
  const n = s.length
  const median = n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
  return { min: s[0], median, max: s[n - 1], n, samples_s: times }
}

export function readF64(path) {
  const b = readFileSync(path)
  return new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))
}

// ---------------------------------------------------------------- formatting
function fmtT(t, unit) {
  return unit === 'ms' ? (t * 1e3).toFixed(t < 0.01 ? 2 : 1) : t.toFixed(t < 10 ? 3 : 2)
}
/** `median unit (min–max)` of a stats() record. */
export function span(st) {
  const unit = st.median < 1 ? 'ms' : 's'
  return `${fmtT(st.median, unit)} ${unit} (${fmtT(st.min, unit)}–${fmtT(st.max, unit)})`
}
export const f1 = (x) => (x === undefined || x === null ? '—' : x.toFixed(0))
export const sci = (x) => (x === 0 ? '0' : x.toExponential(1))

// ---------------------------------------------------------------- contender side
// (used inside the voxelkit contender processes, run with node --expose-gc)
const collect = globalThis.gc ?? (() => {})
const tick = () => new Promise((r) => setImmediate(r))
/**
 * Frees the previous sample's outputs: the native (external) buffers are released by
 * finalizers that run only once the event loop turns, so collect, yield, collect.
 */
export async function collectGarbage() {
  collect()
  await tick()
  await tick()
  collect()
}
export const mib = (bytes) => bytes / 2 ** 20
/**
 * Peak RSS of this process in MiB: VmHWM of /proc/self/status where there is one (Linux).
 * getrusage's maxRSS is not used there: Linux carries the parent's high-water mark across
 * fork + exec, so a small contender started by a big runner would report the runner's peak.
 */
export function peakRssMib() {
  try {
    const m = /^VmHWM:\s*(\d+)\s*kB/m.exec(readFileSync('/proc/self/status', 'utf8'))
    if (m) return Number(m[1]) / 1024
  } catch {}
  return process.resourceUsage().maxRSS / 1024 // KiB on every platform
}
export const now = () => Number(process.hrtime.bigint()) / 1e9
/** The bytes of a float64 array, little-endian (the dump format). */
export function f64Bytes(arr) {
  if (os.endianness() !== 'LE') throw new Error('dump format is little-endian; this host is not')
  const f = arr instanceof Float64Array ? arr : Float64Array.from(arr)
  return new Uint8Array(f.buffer, f.byteOffset, f.byteLength)
}

// ---------------------------------------------------------------- correctness
/**
 * Compares two contenders' dumps (DIR/NAME.f64, float64 LE, NIfTI order, component-major):
 * evals as max |a-b| / max|λ| of the voxel (either side), each of `scalars` (e.g. fa, mk) as
 * max |a-b|, and `signal` (e.g. pred, [nvox * nvol]) as max |a-b| / max(|a|, |b|) per value.
 * NaN on one side only is counted, not measured; `bitwise_identical` covers every array.
 * Returns { max_rel_diff_evals, max_abs_diff_<scalar>..., max_rel_diff_<signal>, nan_mismatches, bitwise_identical }.
 */
export function compareDumps(dirA, dirB, { scalars = [], signal } = {}) {
  const ea = readF64(join(dirA, 'evals.f64'))
  const eb = readF64(join(dirB, 'evals.f64'))
  const nvox = ea.length / 3
  if (ea.length !== eb.length || !Number.isInteger(nvox)) throw new BenchError(`output sizes differ: evals ${ea.length} / ${eb.length}`)
  let nanMismatch = 0
  let identical = true
  // |x - y| (or the caller's relative form) unless NaN; NaN on one side only is counted
  const diff = (x, y, scale) => {
    if (!Object.is(x, y)) identical = false
    if (Number.isNaN(x) || Number.isNaN(y)) {
      if (Number.isNaN(x) !== Number.isNaN(y)) nanMismatch++
      return 0
    }
    const d = Math.abs(x - y)
    return scale > 0 ? d / scale : d
  }
  let evals = 0
  for (let v = 0; v < nvox; v++) {
    let scale = 0
    for (let k = 0; k < 3; k++) scale = Math.max(scale, Math.abs(ea[v + k * nvox]), Math.abs(eb[v + k * nvox]))
    for (let k = 0; k < 3; k++) evals = Math.max(evals, diff(ea[v + k * nvox], eb[v + k * nvox], scale))
  }
  const out = { max_rel_diff_evals: evals }
  for (const name of scalars) {
    const a = readF64(join(dirA, `${name}.f64`))
    const b = readF64(join(dirB, `${name}.f64`))
    if (a.length !== b.length || a.length !== nvox) throw new BenchError(`output sizes differ: ${name} ${a.length} / ${b.length}, evals ${3 * nvox}`)
    let m = 0
    for (let v = 0; v < nvox; v++) m = Math.max(m, diff(a[v], b[v], 0))
    out[`max_abs_diff_${name}`] = m
  }
  if (signal) {
    const a = readF64(join(dirA, `${signal}.f64`))
    const b = readF64(join(dirB, `${signal}.f64`))
    if (a.length !== b.length || a.length % nvox !== 0) throw new BenchError(`output sizes differ: ${signal} ${a.length} / ${b.length}`)
    let m = 0
    for (let i = 0; i < a.length; i++) m = Math.max(m, diff(a[i], b[i], Math.max(Math.abs(a[i]), Math.abs(b[i]))))
    out[`max_rel_diff_${signal}`] = m
  }
  out.nan_mismatches = nanMismatch
  out.bitwise_identical = identical
  return out
}
