#!/usr/bin/env node
// Structure-aware fuzzing of registerSyN's inputs as a user's code passes them: the option
// object through the façade's checks and the binding's conversion (`SynOptionsIn` -> the
// kernel's `SynOptions`, crates/node/src/syn.rs), and the two images with their grids (shape,
// element type, spacing or affine), into the registration itself (libFuzzer's `syn_options`
// target covers the kernel's options from Rust; this one covers the JavaScript values napi
// converts: wrong types, NaN, ±Infinity, -0, fractions, huge and negative counts, extra keys,
// typed arrays, singular and non-finite affines, non-finite voxels, mismatched dimensions).
//
// Each run draws images and options from seeded generators (each key present or not, a value
// of the key's own kind or any junk value) and calls registerSyNSync, and every 8th run the
// async registerSyN. Invariant: a mapping whose forward and backward fields are finite and
// sized [...static shape, ndim], energies and iteration counts per level, and whose transform
// of the moving image has the static image's shape; or a VoxelkitError with ERR_SETTING,
// ERR_SHAPE, ERR_FORMAT or ERR_DTYPE and a message. Anything else (a TypeError, an uncoded
// error, a non-finite field, a process abort) is a finding: the inputs are printed as JSON and
// the script exits 1.
//
//   npm run build
//   node scripts/fuzz-syn.mjs [--runs 2000 | --seconds S] [--seed 1]
import * as vk from '../dist/index.mjs'
import { arg, budget, rng, tally } from './args.mjs'
import { watchdog } from './watchdog.mjs'

const RUNS = arg('runs', 2000)
const SECONDS = arg('seconds', 0)
const SEED = arg('seed', 1)
const CODES = new Set(['ERR_SETTING', 'ERR_SHAPE', 'ERR_FORMAT', 'ERR_DTYPE'])

const r = rng(SEED)
const pick = (a) => a[Math.floor(r() * a.length)]
const chance = (p) => r() < p
const int = (lo, hi) => lo + Math.floor(r() * (hi - lo + 1))

const JUNK = [undefined, null, NaN, Infinity, -Infinity, -0, 0, -1, 0.5, 1e308, 2 ** 53 + 2, '4', '', 'CC', true, false, [], [1], {}, { a: 1 }, new Float64Array(2), () => 1, Symbol('s'), 10n]
const NUMBERS = [0, -0, 1, 2, 3, 0.25, 1e-5, 1e-3, 0.2, 4, 9, 20, 1e3, 1e5, 1e6, -1, -0.5, NaN, Infinity, -Infinity, 2.5, 1e-300, 1e300]
// per key: a valid value (most draws), else one of its kind that may be out of range
const KEYS = {
  metric: [() => pick(['CC', 'SSD', 'EM']), () => pick(['cc', 'MI', ''])],
  levelIters: [() => Array.from({ length: int(1, 2) }, () => int(0, 3)), () => (chance(0.7) ? Array.from({ length: int(0, 5) }, () => pick([...NUMBERS, 1000])) : pick([new Float64Array([2, 2]), [2, '2'], [[2]], '2,2', 3]))],
  stepLength: [() => pick([0.1, 0.25, 0.5, 1, 2]), () => pick(NUMBERS)],
  ssSigmaFactor: [() => pick([0, 0.1, 0.2, 1]), () => pick(NUMBERS)],
  optTol: [() => pick([1e-5, 1e-3, 0, 1]), () => pick(NUMBERS)],
  invIter: [() => int(0, 30), () => pick(NUMBERS)],
  invTol: [() => pick([1e-3, 1e-1, 0, 1]), () => pick(NUMBERS)],
  sigmaDiff: [() => pick([0.5, 1, 2, 4]), () => pick(NUMBERS)],
  radius: [() => int(1, 3), () => pick([0, ...NUMBERS])],
  smooth: [() => pick([0, 0.5, 1, 4, 10]), () => pick(NUMBERS)],
  innerIter: [() => int(0, 12), () => pick([...NUMBERS, 1001])],
  stepType: [() => pick(['demons', 'gauss_newton']), () => pick(['Demons', 'newton', ''])],
  qLevels: [() => int(2, 300), () => pick([0, 1, ...NUMBERS])],
  doubleGradient: [() => pick([true, false]), () => pick([0, 1, 'true'])],
  prealign: [() => affine(4, true), () => affine(chance(0.9) ? 4 : 3, false)],
  threads: [() => int(1, 3), () => pick([...NUMBERS, 1025])],
}

/** A 4x4 row-major affine: identity-like, scaled, rotated, shifted; unless `valid`, also singular,
 * non-finite, of the wrong length or not an array. */
function affine(len, valid) {
  if (!valid && chance(0.3)) return pick([[1, 2, 3], new Float32Array(16), 'eye', null])
  const a = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]
  const kind = r()
  if (kind < 0.4) {
    const t = (r() - 0.5) * 0.4
    a[0] = Math.cos(t) * (0.5 + r())
    a[1] = -Math.sin(t)
    a[4] = Math.sin(t)
    a[5] = Math.cos(t) * (0.5 + r())
    a[3] = (r() - 0.5) * 4
    a[7] = (r() - 0.5) * 4
  } else if (kind < 0.7 && !valid) {
    a[int(0, 15)] = pick(NUMBERS)
  }
  return len === 4 ? a : a.slice(0, len)
}

/** An image: a blob at a random place on a random small grid, of a random element type. */
function image(ndim) {
  const shape = Array.from({ length: ndim }, () => (chance(0.98) ? int(ndim === 2 ? 12 : 6, ndim === 2 ? 28 : 12) : pick([0, 1, 2, 3, 2.5, -1])))
  const n = shape.every((s) => Number.isInteger(s) && s > 0) ? shape.reduce((a, b) => a * b, 1) : int(0, 64)
  const T = pick([Float32Array, Float64Array, Int16Array, Uint8Array, Uint16Array, Int32Array])
  const c = shape.map((s) => (Number.isFinite(s) ? s / 2 + (r() - 0.5) * 3 : 0))
  const data = new T(chance(0.98) ? n : int(0, n + 2))
  const scale = T === Uint8Array ? 200 : pick([1, 100, 1e4])
  for (let i = 0; i < data.length; i++) {
    let rest = i
    let d2 = 0
    for (let k = ndim - 1; k >= 0; k--) {
      const s = Math.max(1, Math.floor(shape[k]) || 1)
      d2 += (((rest % s) - c[k]) / 3) ** 2
      rest = Math.floor(rest / s)
    }
    data[i] = Math.exp(-d2) * scale + (chance(0.3) ? r() : 0)
  }
  if (chance(0.05) && data.length > 0 && (T === Float32Array || T === Float64Array)) data[int(0, data.length - 1)] = pick([NaN, Infinity, -Infinity])
  if (chance(0.05)) data.fill(pick([0, 7]))
  const v = { data, shape }
  const g = r()
  if (g < 0.3) v.spacing = Array.from({ length: ndim }, () => (chance(0.85) ? 0.5 + r() * 2 : pick(NUMBERS)))
  else if (g < 0.5) v.affine = affine(4, chance(0.8))
  return v
}

function inputs() {
  const nd = chance(0.85) ? 2 : 3
  const stat = image(nd)
  const moving = image(chance(0.98) ? nd : 5 - nd)
  const opts = {}
  const metric = pick(['CC', 'CC', 'SSD', 'EM'])
  if (metric !== 'CC' || chance(0.3)) opts.metric = metric
  // the metric's own keys (and, now and then, another metric's)
  const own = new Set({ CC: ['sigmaDiff', 'radius'], SSD: ['smooth', 'innerIter', 'stepType'], EM: ['smooth', 'innerIter', 'stepType', 'qLevels', 'doubleGradient'] }[metric])
  const shared = ['levelIters', 'stepLength', 'ssSigmaFactor', 'optTol', 'invIter', 'invTol', 'prealign', 'threads']
  for (const [k, [valid, hostile]] of Object.entries(KEYS)) {
    if (k === 'metric' || (!own.has(k) && !shared.includes(k) && !chance(0.02))) continue
    if (chance(0.3)) opts[k] = chance(0.93) ? valid() : chance(0.8) ? hostile() : pick(JUNK)
  }
  if (chance(0.02)) opts.metric = chance(0.5) ? KEYS.metric[1]() : pick(JUNK)
  if (chance(0.03)) opts[pick(['levelIter', 'sigma', 'onProgress', '__proto__x'])] = 1
  // most runs small and quick: one or two levels of few iterations (the generators above may
  // still ask for more)
  if (opts.levelIters === undefined && chance(0.9)) opts.levelIters = [int(0, 3), int(1, 3)].slice(0, int(1, 2))
  return { stat, moving, opts }
}

const show = (x) => JSON.stringify(x, (k, v) => (ArrayBuffer.isView(v) ? { [v.constructor.name]: Array.from(v).slice(0, 8), length: v.length } : typeof v === 'number' && !Number.isFinite(v) ? String(v) : typeof v === 'bigint' ? `${v}n` : typeof v === 'function' || typeof v === 'symbol' ? String(v) : v))

function finding(why, inp) {
  console.error(`fuzz-syn: FINDING: ${why}\n  inputs: ${show(inp)}`)
  process.exit(1)
}

function check(map, inp) {
  const s = inp.stat.shape
  const nd = s.length
  const nvox = s.reduce((a, b) => a * b, 1)
  for (const f of ['forward', 'backward']) {
    const d = map[f].data
    if (!(d instanceof Float32Array) || d.length !== nvox * nd) return `${f} has ${d?.length} values, expected ${nvox * nd}`
    for (const x of d) if (!Number.isFinite(x)) return `${f} holds a non-finite value`
  }
  if (map.energies.length !== map.iterations.length) return 'energies and iterations differ in length'
  const w = map.transformSync(inp.moving)
  if (w.shape.join() !== s.join()) return `transform gave shape [${w.shape}], expected [${s}]`
  return undefined
}

function outcome(e, inp) {
  if (!(e instanceof vk.VoxelkitError)) finding(`not a VoxelkitError: ${e?.stack ?? String(e)}`, inp)
  if (!CODES.has(e.code) || !e.message) finding(`unexpected code ${e.code}: ${e.message}`, inp)
  return e.code
}

const seen = tally()
const b = budget(RUNS, SECONDS)
// a registration that never returns is a finding (scripts/watchdog.mjs; --hang S, default 60)
const dog = watchdog({ seconds: arg('hang', 60), label: 'fuzz-syn' })
while (b.next()) {
  const inp = inputs()
  dog.start(`run ${b.runs} seed ${SEED} (replay: --seed ${SEED} --runs ${b.runs})`)
  try {
    const map = b.runs % 8 === 0 ? await vk.registerSyN(inp.stat, inp.moving, inp.opts) : vk.registerSyNSync(inp.stat, inp.moving, inp.opts)
    const bad = check(map, inp)
    if (bad) finding(bad, inp)
    seen.add('ok')
  } catch (e) {
    seen.add(outcome(e, inp))
  }
  dog.stop()
}
const parts = seen.entries().map(([k, n]) => `${k} ${n}`)
console.log(`fuzz-syn: ${b.runs} runs in ${b.seconds().toFixed(1)} s (${b.perCpuSecond()} per CPU-s), seed ${SEED}, no finding; outcomes: ${parts.join(', ')}`)
