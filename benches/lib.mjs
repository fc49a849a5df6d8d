// The bench library: everything the cross-language runners (run.mjs: DTI, run_dki.mjs: DKI,
// fields.mjs, radiomics.mjs, nrrd_read.mjs) share, so that each runner keeps only what is its
// own (inputs, contenders, rows, the correctness comparison). See benches/README.md.
//
//   arguments   stringOptions, runnerArgs (the common options, --help, checks), matcher
//   set-up      setupVenv (a venv at the pins of requirement files), venvPython, loadVoxelkit,
//               pythonJson (run a script, read its last stdout line as JSON), generate (gen_data.py)
//   processes   run, refEnv, contender (one contender process: argv, result JSON, stats), threadSet
//   measuring   stats, parallelEfficiency, contenderSide, readF64, f64Bytes, peakRssMib, mib, now
//   reporting   begin (voxelkit, venv, machine, notes), machine, environmentNotes, header,
//               markdownTable, versusHead/versusCells/rssCell, span, efficiencyLine, fitRow,
//               baseSettings, writeRecord (the Markdown on stdout, the JSON record under
//               benches/results/), cli
//   comparing   compareDumps (the DTI/DKI dumps: evals, scalar maps, signal)
// The voxelkit contender scripts use benches/contender.mjs, the Python ones benches/common.py.
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, relative, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import os from 'node:os'

export const HERE = dirname(fileURLToPath(import.meta.url))
export const ROOT = resolve(HERE, '..')
/** The reference data beside the repository (../shared/reference: dipy, pyradiomics, ...). */
export const SHARED_REFERENCE = resolve(ROOT, '..', 'shared', 'reference')
export const venvPython = (venv) => (process.platform === 'win32' ? join(venv, 'Scripts', 'python.exe') : join(venv, 'bin', 'python'))
export const VENV = join(HERE, '.venv')
export const VENV_PY = venvPython(VENV)
export const REQUIREMENTS = join(ROOT, 'fixtures', 'dipy', 'requirements.txt') // the fixtures' pins, one source of truth
export const DATA = join(HERE, 'data')
export const RESULTS = join(HERE, 'results')
export const REF_ONLY_UNSET = ['OPENBLAS_CORETYPE', 'OPENBLAS_L2_SIZE']
export const ONE_THREAD = { OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' }
/** The versions a DIPY venv reports in the machine description. */
export const DIPY_STACK = ['dipy', 'numpy', 'scipy', 'nibabel']

export class BenchError extends Error {}
export const say = (msg = '') => process.stderr.write(`${msg}\n`)
export const rel = (p) => relative(process.cwd(), p) || '.'

// ---------------------------------------------------------------- arguments
/** parseArgs options of type string from { name: default } (undefined: no default). */
export function stringOptions(spec) {
  return Object.fromEntries(Object.entries(spec).map(([k, d]) => [k, d === undefined ? { type: 'string' } : { type: 'string', default: d }]))
}

/** parseArgs options every runner takes (each runner adds its own). */
export const COMMON_OPTIONS = {
  ...stringOptions({
    samples: '5',
    warmup: '1',
    threads: undefined,
    out: undefined,
    shared: join(SHARED_REFERENCE, 'dipy'),
    python: process.env.PYTHON || 'python3',
    timeout: '1800',
  }),
  'keep-tmp': { type: 'boolean', default: false },
  help: { type: 'boolean', short: 'h', default: false },
}

/** The runner's usage: its leading `//` comment block (after the #! line). */
function usage(url) {
  const lines = readFileSync(fileURLToPath(url), 'utf8').split('\n')
  const from = lines[0].startsWith('#!') ? 1 : 0
  const block = []
  for (const l of lines.slice(from)) {
    if (!l.startsWith('//')) break
    block.push(l.replace(/^\/\/ ?/, ''))
  }
  return block.join('\n')
}

export function intOption(values, name, min) {
  const v = Number(values[name])
  if (!Number.isInteger(v) || v < min) throw new BenchError(`--${name} must be an integer >= ${min}, got ${values[name]}`)
  return v
}

/**
 * Parses a runner's command line: COMMON_OPTIONS (less `omit`, with `defaults` changed) plus
 * the runner's `options`; positionals are filters. --help prints the runner's header comment and
 * exits. Returns { filters, values, samples, warmup, cores, allThreads, out, shared, python,
 * timeoutS, keepTmp }.
 */
export function runnerArgs(url, { options = {}, defaults = {}, omit = [] } = {}) {
  const all = { ...COMMON_OPTIONS, ...options }
  for (const k of omit) delete all[k]
  for (const [k, d] of Object.entries(defaults)) all[k] = { ...all[k], default: d }
  let parsed
  try {
    parsed = parseArgs({ allowPositionals: true, options: all })
  } catch (e) {
    if (e.code?.startsWith('ERR_PARSE_ARGS')) throw new BenchError(`${e.message} (--help lists the options)`)
    throw e
  }
  const { values, positionals } = parsed
  if (values.help) {
    say(usage(url))
    process.exit(0)
  }
  const cores = os.availableParallelism()
  const o = {
    filters: positionals,
    values,
    samples: intOption(values, 'samples', 1),
    warmup: intOption(values, 'warmup', 0),
    cores,
    allThreads: values.threads === undefined ? cores : intOption(values, 'threads', 1),
    out: values.out,
    shared: values.shared === undefined ? undefined : resolve(values.shared),
    python: values.python,
    timeoutS: intOption(values, 'timeout', 1),
    keepTmp: values['keep-tmp'],
  }
  if (o.samples < 5) say(`note: --samples ${o.samples} is below the 5 samples BENCHMARKS.md asks for: a smoke run, not a claim`)
  return o
}

/** A predicate over a row's names: does any filter (`*` a wildcard, case-insensitive) match any of them? */
export function matcher(filters) {
  if (filters.length === 0) return () => true
  const res = filters.map((f) => new RegExp(`^${f.replace(/[.+?^${}()|[\]\\]/g, '\\$&').replace(/\*/g, '.*')}$`, 'i'))
  // a row is named by several keys: `dti`, `dti-64`, `dti-64/WLS`, `io`, `dti-64/io`
  return (...keys) => res.some((re) => keys.some((k) => re.test(k)))
}

// ---------------------------------------------------------------- processes
/**
 * Runs a process to its end (killed after timeoutS). Its stdout is returned with `capture`, else
 * sent to stderr like its progress: the runner's stdout carries only the Markdown.
 */
export function run(cmd, argv, { env, timeoutS, what, capture = false }) {
  const r = spawnSync(cmd, argv, {
    cwd: ROOT,
    env,
    stdio: ['ignore', capture ? 'pipe' : 2, 'inherit'],
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

/** The reference's environment: one thread for OpenMP/OpenBLAS/MKL, REF_ONLY_UNSET removed. */
export function refEnv() {
  const env = { ...process.env, ...ONE_THREAD }
  for (const k of REF_ONLY_UNSET) delete env[k]
  return env
}

/** Runs a Python script of benches/ and returns the JSON of its last stdout line. */
export function pythonJson(python, script, argv, { timeoutS = 900, what = script } = {}) {
  const out = run(python, [join(HERE, script), ...argv], { env: refEnv(), timeoutS, what, capture: true })
  return JSON.parse(out.trim().split('\n').pop())
}

/**
 * Runs one contender process and reads its result: `script` (in benches/) is run with `python`
 * (default the bench venv's, in refEnv()) when it ends in .py, else with `node --expose-gc`;
 * `--samples N --warmup N --result FILE` are appended to `argv`. The result JSON comes back with
 * `process_wall_s` added, and `stats` of its `times_s` where it has them.
 */
export function contender(label, script, argv, { o, tmp, tag, python = VENV_PY, samples = o.samples, warmup = o.warmup }) {
  const result = join(tmp, `${tag}.json`)
  const py = script.endsWith('.py')
  const [cmd, pre, env] = py ? [python, [], refEnv()] : [process.execPath, ['--expose-gc'], process.env]
  const t0 = Date.now()
  run(cmd, [...pre, join(HERE, script), ...argv, '--samples', String(samples), '--warmup', String(warmup), '--result', result], {
    env,
    timeoutS: o.timeoutS,
    what: `${label} ${tag}`,
  })
  const r = JSON.parse(readFileSync(result, 'utf8'))
  if (r.times_s) r.stats = stats(r.times_s)
  r.process_wall_s = (Date.now() - t0) / 1000
  return r
}

/** voxelkit's thread settings: 1 and all cores (just 1 where all cores is 1). */
export const threadSet = (o) => (o.allThreads > 1 ? [1, o.allThreads] : [1])

/** Runs fn(tmp) (sync or async) with a fresh temporary folder, removed afterwards unless --keep-tmp. */
export function withTmp(o, prefix, fn) {
  const tmp = mkdtempSync(join(os.tmpdir(), prefix))
  const done = () => {
    if (!o.keepTmp) rmSync(tmp, { recursive: true, force: true })
    else say(`kept ${tmp}`)
  }
  let r
  try {
    r = fn(tmp)
  } catch (e) {
    done()
    throw e
  }
  if (typeof r?.then === 'function') return r.finally(done) // an async fn: once it settles
  done()
  return r
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

// the installed version of each named distribution (importlib.metadata), plus Python's
function venvVersions(py, names, timeoutS) {
  if (!existsSync(py)) return null
  const code =
    'import json,sys\nfrom importlib import metadata\nv={"python":sys.version.split()[0]}\n' +
    `for m in ${JSON.stringify(names)}:\n` +
    '    try:\n        v[m]=metadata.version(m)\n    except Exception:\n        v[m]=None\n' +
    'print(json.dumps(v))'
  try {
    return JSON.parse(run(py, ['-c', code], { env: refEnv(), timeoutS, what: 'venv check', capture: true }))
  } catch {
    return null
  }
}

/**
 * Makes `venv` (default benches/.venv) hold exactly the pins of `requirements` (default the DIPY
 * fixtures' pins; add e.g. the constrained-DKI fixtures' cvxpy stack) unless it already does:
 * creates it with `o.python -m venv`, then `pip install -r ...`. Returns the installed versions
 * of the pinned distributions and of `report` (keys lower-case), plus `python`.
 */
export function setupVenv(o, { venv = VENV, requirements = [REQUIREMENTS], report = DIPY_STACK } = {}) {
  const py = venvPython(venv)
  const want = pins(requirements)
  const names = [...new Set([...report.map((n) => n.toLowerCase()), ...Object.keys(want)])]
  let have = venvVersions(py, names, 120)
  const ok = (v) => v && Object.entries(want).every(([k, ver]) => v[k] === ver)
  const from = requirements.map(rel).join(', ')
  if (ok(have)) {
    say(`reference: ${rel(venv)} has ${Object.keys(want).map((k) => `${k} ${have[k]}`).join(', ')} (pins of ${from}); nothing to install`)
    return have
  }
  if (!existsSync(py)) {
    say(`reference: creating the virtual environment ${rel(venv)} with ${o.python} -m venv`)
    run(o.python, ['-m', 'venv', venv], { env: process.env, timeoutS: 300, what: `${o.python} -m venv` })
  }
  say(`reference: installing ${Object.entries(want).map(([k, v]) => `${k}==${v}`).join(' ')} into ${rel(venv)} from PyPI (pip install -r ${from})`)
  run(py, ['-m', 'pip', 'install', '--disable-pip-version-check', ...requirements.flatMap((f) => ['-r', f])], {
    env: process.env,
    timeoutS: 1800,
    what: 'pip install',
  })
  have = venvVersions(py, names, 120)
  if (!ok(have)) throw new BenchError(`reference: ${rel(venv)} still does not match the pins after pip install: ${JSON.stringify(have)}`)
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

/** Throws unless the reference data folder `dir` exists. */
export function needShared(dir, what = '../shared/reference/dipy') {
  if (!existsSync(dir)) throw new BenchError(`bench inputs need ${what} (not found: ${dir}; --shared DIR to point elsewhere)`)
}

/** Generates (or finds up to date) the named inputs with gen_data.py; returns their manifest entries. */
export function generate(o, names) {
  needShared(o.shared)
  say(`inputs: ${names.join(', ')} in ${rel(DATA)} (generated from ${rel(o.shared)} if missing or stale)`)
  return pythonJson(VENV_PY, 'gen_data.py', ['--shared', o.shared, '--out', DATA, ...names], { what: 'gen_data.py' })
}

/** The .nii, .bval and .bvec of a generated input. */
export const dataFiles = (input) => ({ nii: join(DATA, `${input}.nii`), bval: join(DATA, `${input}.bval`), bvec: join(DATA, `${input}.bvec`) })

// ---------------------------------------------------------------- machine
/** The machine and software; `refVersions` from setupVenv (the names in `report` are kept). */
export function machine(refVersions, vk, report = DIPY_STACK) {
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
    ...Object.fromEntries(report.map((n) => [n, refVersions[n.toLowerCase()]])),
    date: new Date().toISOString(),
    loadavg_start: os.loadavg(),
  }
}

/** Environment notes for the output: reference-only unsets and a busy machine. */
export function environmentNotes(m, ref = 'DIPY') {
  const unset = REF_ONLY_UNSET.filter((k) => process.env[k] !== undefined)
  const notes = []
  if (unset.length) {
    notes.push(`${unset.map((k) => `${k}=${process.env[k]}`).join(', ')} set in the environment: unset for the ${ref} process only (BENCHMARKS.md)`)
  }
  if (m.loadavg_start[0] > 0.5) notes.push(`load average ${m.loadavg_start[0].toFixed(2)} at start: other work on the machine may disturb the timings`)
  return { unset, notes }
}

/**
 * The start of every runner, once its plan is made: loads voxelkit, sets up the reference's venv
 * (setupVenv `setup`: venv, requirements, report), describes the machine and prints the notes.
 * Returns { t0, vk, versions, m (the machine record), unset, notes }.
 */
export function begin(o, setup = {}, ref = 'DIPY') {
  const t0 = Date.now()
  const vk = loadVoxelkit()
  const versions = setupVenv(o, setup)
  const m = machine(versions, vk, setup.report)
  const { unset, notes } = environmentNotes(m, ref)
  for (const n of notes) say(`note: ${n}`)
  return { t0, vk, versions, m, unset, notes }
}

/** The settings every JSON record has (runners add theirs). */
export function baseSettings(o, unset = []) {
  return { filters: o.filters, samples: o.samples, warmup: o.warmup, threads: o.allThreads, reference_env: { ...ONE_THREAD, unset } }
}

const PRETTY = { dipy: 'DIPY', 'pyradiomics-bhklab': 'PyRadiomics (pyradiomics-bhklab)', pynrrd: 'pynrrd', simpleitk: 'SimpleITK' }

/** The header line describing the machine and the software (`report`: the versions to name). */
export function machineLine(m, report = DIPY_STACK) {
  const sw = ['Python', m.python, ...report.flatMap((n) => [PRETTY[n.toLowerCase()] ?? n, m[n]])]
  const pairs = []
  for (let i = 0; i < sw.length; i += 2) pairs.push(`${sw[i]} ${sw[i + 1]}`)
  return `Machine: ${m.cpu}, ${m.cores} cores, ${m.memory_gib.toFixed(0)} GiB, ${m.os}. Node ${m.node}; ${pairs.join(', ')}. ${m.date.slice(0, 16).replace('T', ' ')} UTC.`
}

export const loadavgText = (l) => l.map((x) => x.toFixed(2)).join(' ')

/** Closes the machine record: load average at the end, the run's wall time. */
export function finishMachine(m, t0) {
  m.loadavg_end = os.loadavg()
  m.total_wall_s = (Date.now() - t0) / 1000
  return m
}

/**
 * The Markdown header: title, machine line, `Method: <method> Load average <start> at start,
 * <end> at end.`, `extra` lines, the notes, a blank line.
 */
export function header(title, m, method, { notes = [], extra = [], report } = {}) {
  return [
    `## ${title}`,
    '',
    machineLine(m, report),
    `Method: ${method} Load average ${loadavgText(m.loadavg_start)} at start, ${loadavgText(m.loadavg_end)} at end.`,
    ...extra,
    ...notes.map((n) => `Note: ${n}.`),
    '',
  ].join('\n')
}

/** `yyyy-mm-dd` of today (local time), for the default results file name. */
export function dayStamp(date = new Date()) {
  return `${date.getFullYear()}-${String(date.getMonth() + 1).padStart(2, '0')}-${String(date.getDate()).padStart(2, '0')}`
}

/** `path`, or when a file is there (an earlier run of the day, perhaps committed) `name-2.json`, `-3`, … */
export function freshPath(path) {
  if (!existsSync(path)) return path
  const stem = path.replace(/\.json$/, '')
  for (let k = 2; ; k++) if (!existsSync(`${stem}-${k}.json`)) return `${stem}-${k}.json`
}

/**
 * Prints the record's Markdown on stdout and writes the record (`bench` first) as JSON to --out,
 * by default benches/results/<yyyy-mm-dd>-<bench>.json (`file` to name it otherwise); a default
 * name never overwrites an earlier result (`-2`, `-3`, … are appended), an explicit --out does.
 */
export function writeRecord(o, bench, record, { file = `${dayStamp()}-${bench}.json`, t0 } = {}) {
  process.stdout.write(`\n${record.markdown}`)
  const outPath = o.out ? resolve(o.out) : freshPath(join(RESULTS, file))
  mkdirSync(dirname(outPath), { recursive: true })
  writeFileSync(outPath, `${JSON.stringify({ bench, ...record }, null, 2)}\n`)
  const wall = record.machine?.total_wall_s ?? (t0 === undefined ? undefined : (Date.now() - t0) / 1000)
  say(`\nwrote ${rel(outPath)}${wall === undefined ? '' : ` (${wall.toFixed(0)} s in all)`}`)
}

/** Runs a runner's main (sync or async), turning a BenchError into one line and exit status 1. */
export function cli(main) {
  Promise.resolve()
    .then(main)
    .catch((e) => {
      if (e instanceof BenchError) {
        say(`bench: ${e.message}`)
        process.exit(1)
      }
      throw e
    })
}

// ---------------------------------------------------------------- measuring
export function stats(times) {
  const s = [...times].sort((a, b) => a - b)
  const n = s.length
  const median = n % 2 ? s[(n - 1) / 2] : (s[n / 2 - 1] + s[n / 2]) / 2
  return { min: s[0], median, max: s[n - 1], n, samples_s: times }
}

/** Speed-up of voxelkit at all cores over 1 thread, per core, and whether the outputs agree. */
export function parallelEfficiency(keys, one, all, identical) {
  const speedup = one.stats.median / all.stats.median
  return {
    ...keys,
    threads: all.threads,
    t1_s: one.stats.median,
    tn_s: all.stats.median,
    speedup,
    efficiency: speedup / all.threads,
    bitwise_identical_across_threads: identical,
  }
}

/** A contender's side of a row (DTI, DKI): time, µs/voxel, memory, what it reported. */
export function contenderSide(r, voxels) {
  return {
    threads: r.threads,
    stats: r.stats,
    us_per_voxel: (r.stats.median / voxels) * 1e6,
    peak_rss_mib: r.peak_rss_mib,
    rss_after_imports_mib: r.rss_after_imports_mib,
    rss_after_load_mib: r.rss_after_load_mib,
    ...(r.rss_after_fit_mib !== undefined ? { rss_after_fit_mib: r.rss_after_fit_mib } : {}),
    output_mib: r.output_mib,
    overhead_mib: r.peak_rss_mib - r.input_mib - r.output_mib,
    process_wall_s: r.process_wall_s,
    ...(r.env_threads ? { env_seen: r.env_threads } : {}),
    ...(r.moved_voxels !== undefined ? { moved_voxels: r.moved_voxels, failed_voxels: r.failed_voxels } : {}),
    ...(r.units ? { units: r.units, solver: r.solver ?? null } : {}),
  }
}

/**
 * The fields of a fit row (DTI, DKI): the input (`mf`, its manifest entry), both sides
 * (contenderSide) and the ratio of the medians.
 */
export function fitRow(mf, d, v) {
  return {
    voxels: mf.voxels,
    volumes: mf.volumes,
    dtype: mf.dtype,
    input_mib: mf.data_mib,
    output_mib: v.output_mib,
    dipy: contenderSide(d, mf.voxels),
    voxelkit: contenderSide(v, mf.voxels),
    ratio: d.stats.median / v.stats.median,
  }
}

/** A file of float64 little-endian values (no copy when the file's buffer is aligned). */
export function readF64(path) {
  const b = readFileSync(path)
  if (b.byteOffset % 8 === 0) return new Float64Array(b.buffer, b.byteOffset, b.byteLength / 8)
  return new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))
}

/** The bytes of a float64 array, little-endian (the dump format). */
export function f64Bytes(arr) {
  if (os.endianness() !== 'LE') throw new Error('dump format is little-endian; this host is not')
  const f = arr instanceof Float64Array ? arr : Float64Array.from(arr)
  return new Uint8Array(f.buffer, f.byteOffset, f.byteLength)
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

// ---------------------------------------------------------------- formatting
function fmtT(t, unit) {
  return unit === 'ms' ? (t * 1e3).toFixed(t < 0.01 ? 2 : 1) : t.toFixed(t < 10 ? 3 : 2)
}
/** `median unit (min–max)` of a stats() record in seconds; the unit is ms below 1 s unless given. */
export function span(st, unit = st.median < 1 ? 'ms' : 's') {
  return `${fmtT(st.median, unit)} ${unit} (${fmtT(st.min, unit)}–${fmtT(st.max, unit)})`
}
export const f1 = (x) => (x === undefined || x === null ? '—' : x.toFixed(0))
export const sci = (x) => (x === 0 ? '0' : x.toExponential(1))

/** A Markdown table; columns named in `left` are left-aligned, the others right-aligned. */
export function markdownTable(head, rows, left = [head[0]]) {
  const l = new Set(left)
  return [`| ${head.join(' | ')} |`, `| ${head.map((h) => (l.has(h) ? '---' : '---:')).join(' | ')} |`, ...rows.map((r) => `| ${r.join(' | ')} |`)].join('\n')
}

/** The columns every reference-vs-voxelkit table has, after the row's names. */
export const versusHead = (ref = 'DIPY') => ['voxels', `threads ${ref} / vk`, `${ref} median (min–max)`, 'voxelkit median (min–max)', `${ref} / voxelkit`]

/** The cells of versusHead for the sides `d` (reference) and `v` (voxelkit): { threads, stats }. */
export function versusCells(voxels, d, v, { unit, digits = 1 } = {}) {
  return [voxels.toLocaleString('en-US'), `${d.threads} / ${v.threads}`, span(d.stats, unit), span(v.stats, unit), `${(d.stats.median / v.stats.median).toFixed(digits)}x`]
}

/** The `peak RSS MiB ref / vk` cell. */
export const rssCell = (d, v) => `${f1(d.peak_rss_mib)} / ${f1(v.peak_rss_mib)}`

/** One line of the parallel-efficiency list under a table. */
export function efficiencyLine(e, name, outputs = 'outputs') {
  return `- ${name}: voxelkit 1 thread ${e.t1_s.toFixed(3)} s -> ${e.threads} threads ${e.tn_s.toFixed(3)} s: speed-up ${e.speedup.toFixed(2)}x, parallel efficiency ${e.efficiency.toFixed(2)}; ${outputs} bitwise identical across thread counts: ${e.bitwise_identical_across_threads ? 'yes' : 'NO'}`
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
