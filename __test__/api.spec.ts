// The public TypeScript API: types, coded errors, sync/async parity, abort, progress, threads.
import test from 'ava'
import { WASI } from './helpers/wasi'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { FitStatus, fitDti, fitDtiSync, getThreads, gradientTable, setThreads, type Volume } from '../ts/index'
import { asType, bitsEqual, phantom } from './helpers/data'
import { ROOT } from './helpers/fixtures'
import { acode, code } from './helpers/errors'


test('require and import of the built package expose the same API', async (t) => {
  const require = createRequire(__filename)
  const cjs = require(join(ROOT, 'dist', 'index.js'))
  const esm = await import(join(ROOT, 'dist', 'index.mjs'))
  for (const name of ['fitDti', 'fitDtiSync', 'readVolume', 'writeVolume', 'gradientTable', 'VoxelkitError', 'setThreads']) {
    t.is(typeof cjs[name], 'function', name)
    t.is(esm[name], cjs[name], name)
  }
  t.is(esm.version, require(join(ROOT, 'package.json')).version)
})

test('fit maps are Volumes on the input grid', async (t) => {
  const p = phantom()
  const fit = await fitDti(p.dwi, p.gtab, { mask: p.mask, returnS0: true })
  const spatial = p.dwi.shape.slice(0, 3)
  t.deepEqual(fit.evals.shape, [...spatial, 3])
  t.deepEqual(fit.evecs.shape, [...spatial, 3, 3])
  t.deepEqual(fit.s0!.shape, spatial)
  for (const m of [fit.fa(), fit.md(), fit.ad(), fit.rd(), fit.trace(), fit.mode(), fit.ga(), fit.linearity(), fit.planarity(), fit.sphericity()]) {
    t.deepEqual(m.shape, spatial)
    t.deepEqual(m.affine, p.dwi.affine)
    t.true(m.data instanceof Float64Array)
    t.true([...m.data].every(Number.isFinite))
  }
  t.deepEqual(fit.colorFa().shape, [...spatial, 3])
  t.deepEqual(fit.lowerTriangular().shape, [...spatial, 6])
  // zeros outside the mask, fitted inside
  const st = fit.status.data
  const fa = fit.fa().data
  for (let v = 0; v < st.length; v++) {
    if (p.mask.data[v] === 0) {
      t.is(st[v], FitStatus.Masked)
      t.is(fa[v], 0)
    } else t.is(st[v], FitStatus.Ok)
  }
  const f32 = fitDtiSync(p.dwi, p.gtab, { mask: p.mask, outputType: 'float32' })
  t.true(f32.fa().data instanceof Float32Array)
  t.true(f32.evals.data instanceof Float32Array)
  t.is(f32.fa().data[200], Math.fround(fa[200]))
})

test('async and sync results are bitwise identical, and so are all thread counts', async (t) => {
  const p = phantom([40, 40, 3]) // 4800 voxels: ten tiles
  const ref = fitDtiSync(p.dwi, p.gtab, { threads: 1, returnS0: true })
  for (const threads of [2, 3, 8]) {
    const a = await fitDti(p.dwi, p.gtab, { threads, returnS0: true })
    t.true(bitsEqual(a.evals.data, ref.evals.data), `evals, ${threads} threads`)
    t.true(bitsEqual(a.evecs.data, ref.evecs.data), `evecs, ${threads} threads`)
    t.true(bitsEqual(a.s0!.data, ref.s0!.data), `s0, ${threads} threads`)
    const s = fitDtiSync(p.dwi, p.gtab, { threads, returnS0: true, method: 'OLS' })
    const s1 = fitDtiSync(p.dwi, p.gtab, { threads: 1, returnS0: true, method: 'OLS' })
    t.true(bitsEqual(s.evals.data, s1.evals.data), `OLS evals, ${threads} threads`)
    const pa = await a.predict(p.gtab, { threads })
    const ps = ref.predictSync(p.gtab, { threads: 1 })
    t.true(bitsEqual(pa.data, ps.data), `predict, ${threads} threads`)
  }
})

test('every accepted element type gives the same fit', (t) => {
  const p = phantom([12, 12, 2])
  const ref = fitDtiSync(p.dwi, p.gtab)
  for (const ctor of [Uint16Array, Int32Array, Float32Array, Float64Array] as const) {
    const fit = fitDtiSync(asType(p.dwi, ctor), p.gtab)
    // float32 data are logged in float32 (DIPY/numpy semantics), so compare to rounding
    if (ctor === Float32Array) t.true(fit.evals.data.every((x, i) => Math.abs(x - ref.evals.data[i]) <= 1e-5 * 3e-3))
    else t.true(bitsEqual(fit.evals.data, ref.evals.data), ctor.name)
  }
})

test('onProgress reports per tile and ends at the total', async (t) => {
  const p = phantom([64, 64, 8])
  const calls: [number, number][] = []
  await fitDti(p.dwi, p.gtab, { threads: 1, onProgress: (d, n) => calls.push([d, n]) })
  t.true(calls.length >= 1)
  const nvox = 64 * 64 * 8
  t.deepEqual(calls[calls.length - 1], [nvox, nvox])
  for (let i = 1; i < calls.length; i++) t.true(calls[i][0] >= calls[i - 1][0])
})

// serial: concurrent synchronous tests would block the event loop that delivers the abort
test.serial('an aborted signal rejects with ERR_ABORTED, before and during the fit', async (t) => {
  const p = phantom([128, 128, 32])
  const pre = new AbortController()
  pre.abort()
  t.is(await acode(() => fitDti(p.dwi, p.gtab, { signal: pre.signal })), 'ERR_ABORTED')
  const ac = new AbortController()
  let seen = 0
  const started = performance.now()
  const r = fitDti(p.dwi, p.gtab, {
    threads: 1,
    signal: ac.signal,
    onProgress: (d) => {
      seen = d
      ac.abort()
    },
  })
  t.is(await acode(() => r), 'ERR_ABORTED')
  t.true(seen < 128 * 128 * 32, 'stopped before the end')
  t.log(`aborted after ${seen} voxels, ${(performance.now() - started).toFixed(0)} ms`)
  // the process and the module still work
  const ok = await fitDti(phantom([8, 8, 1]).dwi, phantom([8, 8, 1]).gtab)
  t.is(ok.fa().shape.length, 3)
})

test('every computable element type fits, bit for bit as float64 data of the same values', (t) => {
  const { dwi, gtab } = phantom([6, 6, 2])
  const ref = fitDtiSync({ ...dwi, data: Float64Array.from(dwi.data as Int16Array, (x) => Math.abs(x) % 120) }, gtab, { returnS0: true })
  // float32 data are clipped and logged in float32, as numpy does for DIPY, so they are not
  // expected to match float64 bits; they must still fit every voxel
  const f32 = fitDtiSync({ ...dwi, data: Float32Array.from(dwi.data as Int16Array, (x) => Math.abs(x) % 120) }, gtab)
  t.deepEqual([...f32.status.data], [...ref.status.data])
  const ctors = [Uint8Array, Int8Array, Int16Array, Uint16Array, Int32Array, Uint32Array, Float64Array]
  for (const C of ctors) {
    const data = C.from(dwi.data as Int16Array, (x) => Math.abs(x) % 120)
    const f = fitDtiSync({ ...dwi, data }, gtab, { returnS0: true })
    t.true(bitsEqual(f.evals.data, ref.evals.data), `${C.name} evals`)
    t.true(bitsEqual(f.s0!.data, ref.s0!.data), `${C.name} s0`)
  }
})

test('bad arguments give coded errors', (t) => {
  const p = phantom([6, 6, 1])
  const { dwi, gtab } = p
  const fit = (d: Volume, o: object = {}) => () => fitDtiSync(d, gtab, o)
  t.is(code(fit({ ...dwi, shape: [6, 6, 2, 66] })), 'ERR_SHAPE')
  t.is(code(fit({ ...dwi, shape: [36, 66] }, {})), 'no error') // any [..., nvol] layout is fine
  t.is(code(fit({ ...dwi, shape: [6, 6, 66, 1] })), 'ERR_SHAPE') // volume axis must be last
  t.is(code(fit({ ...dwi, data: new BigInt64Array(dwi.data.length) })), 'ERR_DTYPE')
  t.is(code(fit({ ...dwi, data: new BigUint64Array(dwi.data.length) })), 'ERR_DTYPE')
  t.is(code(fit({ ...dwi, data: [1, 2, 3] as unknown as Int16Array })), 'ERR_DTYPE')
  t.is(code(fit(null as unknown as Volume)), 'ERR_SHAPE')
  t.is(code(fit(dwi, { mask: new Uint8Array(5) })), 'ERR_SHAPE')
  t.is(code(fit(dwi, { mask: { data: new Uint8Array(36), shape: [36] } })), 'ERR_SHAPE')
  t.is(code(fit(dwi, { method: 'FOO' })), 'ERR_SETTING')
  t.is(code(fit(dwi, { method: 'NLLS', weights: new Float64Array(3) })), 'ERR_SHAPE')
  t.is(code(fit(dwi, { method: 'RESTORE', sigma: [1, 2] })), 'ERR_SHAPE')
  t.is(code(fit(dwi, { method: 'RESTORE', sigma: -1 })), 'ERR_SETTING')
  t.is(code(fit(dwi, { method: 'WLS', sigma: 1 })), 'ERR_SETTING')
  t.is(code(fit(dwi, { minSignal: 0 })), 'ERR_SETTING')
  t.is(code(fit(dwi, { minSignal: NaN })), 'ERR_SETTING')
  t.is(code(fit(dwi, { returnS0: 'yes' })), 'ERR_SETTING')
  t.is(code(fit(dwi, { outputType: 'int8' })), 'ERR_SETTING')
  t.is(code(fit(dwi, { tolerance: 3 })), 'ERR_SETTING') // unknown option
  t.is(code(fit(dwi, { signal: new AbortController().signal })), 'ERR_SETTING') // async-only option
  for (const threads of [0, -1, 1.5, 2000, NaN]) t.is(code(fit(dwi, { threads })), 'ERR_SETTING', `threads ${threads}`)
  t.is(code(() => fitDtiSync(dwi, { length: 66 } as never)), 'ERR_GRADIENTS')
  // the tensor cannot be determined: a single shell without b=0 volumes
  const dw = Array.from(p.bvals).map((b, i) => (b > 0 ? i : -1)).filter((i) => i >= 0)
  const g1 = gradientTable(dw.map(() => 1000), dw.flatMap((i) => Array.from(p.bvecs.subarray(3 * i, 3 * i + 3))))
  const d1 = { data: new Int16Array(36 * dw.length).fill(100), shape: [6, 6, dw.length] }
  t.is(code(() => fitDtiSync(d1, g1)), 'ERR_GRADIENTS')
  t.is(code(() => fitDtiSync(d1, p.gtab)), 'ERR_SHAPE') // 60 volumes vs 66 gradients
})

test('gradient tables are validated like DIPY', (t) => {
  t.is(code(() => gradientTable([0, 1000], [0, 0, 0])), 'ERR_GRADIENTS')
  t.is(code(() => gradientTable([0, NaN], [0, 0, 0, 1, 0, 0])), 'ERR_GRADIENTS')
  t.is(code(() => gradientTable([0, Infinity], [0, 0, 0, 1, 0, 0])), 'ERR_GRADIENTS')
  t.is(code(() => gradientTable([0, -5], [0, 0, 0, 1, 0, 0])), 'ERR_GRADIENTS')
  t.is(code(() => gradientTable([0, 1000], [0, 0, 0, 0.5, 0, 0])), 'ERR_GRADIENTS') // not unit
  t.is(code(() => gradientTable([0, 1000], [0, 0, 0, 0, 0, 0])), 'ERR_GRADIENTS') // zero vector at b > 0
  t.is(code(() => gradientTable([0, 1000], [0, 0, 0, 1, 0, 0], { b0Threshold: -1 })), 'ERR_GRADIENTS')
  t.is(code(() => gradientTable([], [])), 'ERR_GRADIENTS')
  t.is(code(() => gradientTable('abc' as never, [])), 'ERR_GRADIENTS')
  // layouts: flat, rows, FSL's 3 rows
  const a = gradientTable([0, 1000, 1000], [0, 0, 0, 1, 0, 0, 0, 1, 0])
  const b = gradientTable([0, 1000, 1000], [[0, 0, 0], [1, 0, 0], [0, 1, 0]])
  const c = gradientTable([0, 1000, 1000, 1000], [[0, 1, 0, 0], [0, 0, 1, 0], [0, 0, 0, 1]])
  t.deepEqual(a.bvecs, b.bvecs)
  t.deepEqual([...c.b0sMask], [1, 0, 0, 0])
  // DIPY: NaN b-vector entries read as 0; b=5 with a zero vector becomes a b0 of b=0
  const d = gradientTable([5, 1000], [NaN, NaN, NaN, 0, 0, 1])
  t.deepEqual([...d.bvals], [0, 1000])
  t.deepEqual([...d.b0sMask], [1, 0])
})

test('predict validates its S0 and returns the series shape', async (t) => {
  const p = phantom([6, 6, 1])
  const fit = fitDtiSync(p.dwi, p.gtab, { returnS0: true, mask: p.mask })
  const s = await fit.predict(p.gtab, { s0: 100 })
  t.deepEqual(s.shape, [6, 6, 1, 66])
  t.is(code(() => fit.predictSync(p.gtab, { s0: -1 })), 'ERR_SETTING')
  t.is(code(() => fit.predictSync(p.gtab, { s0: { data: new Float64Array(3), shape: [3] } })), 'ERR_SHAPE')
  t.is(code(() => fit.predictSync(p.gtab, { foo: 1 } as never)), 'ERR_SETTING')
  const withVol = fit.predictSync(p.gtab, { s0: fit.s0! })
  const dflt = fit.predictSync(p.gtab)
  t.true(bitsEqual(withVol.data, dflt.data)) // default S0 = the fitted S0
})

test('threads: defaults, setThreads and validation', (t) => {
  const n = getThreads()
  t.true(n >= 1)
  setThreads(1)
  t.is(getThreads(), 1)
  setThreads(0) // back to all cores
  t.is(getThreads(), n)
  t.is(code(() => setThreads(-2)), 'ERR_SETTING')
  t.is(code(() => setThreads(1.5)), 'ERR_SETTING')
})

// WebAssembly builds abort on panic (no unwinding on stable Rust for wasm32): a panic cannot be
// contained there, so this contract is the native builds' (README, Browser and WASI).
;(WASI ? test.skip : test)('a panic inside a worker thread becomes ERR_INTERNAL, the process survives', (t) => {
  const require = createRequire(__filename)
  const native = require(join(ROOT, 'native', 'index.js'))
  const err = t.throws(() => native.internalPanicForTest())
  t.regex(err!.message, /^\[ERR_INTERNAL\] .*deliberate test panic/)
  t.is(fitDtiSync(phantom([4, 4, 1]).dwi, phantom([4, 4, 1]).gtab).fa().shape.length, 3)
})
