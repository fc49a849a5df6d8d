// DKI robustness: bad arguments get a VoxelkitError with a stable code (never a crash or a NaN
// map), non-finite voxels are flagged, and long fits abort promptly and report progress.
import test from 'ava'
import { WASI } from './helpers/wasi'
import { FitStatus, VoxelkitError, fitDki, fitDkiSync, gradientTable, simulateDkiPhantom, simulateDtiPhantom, type Volume } from '../ts/index'

const p = simulateDkiPhantom({ shape: [6, 5, 2], snr: 40, seed: 5 })
const gtab = gradientTable(p.bvals, Array.from({ length: p.bvals.length }, (_, i) => [p.bvecs[3 * i], p.bvecs[3 * i + 1], p.bvecs[3 * i + 2]]))
const dwi = p.dwi
const fit = fitDkiSync(dwi, gtab, { returnS0: true })
const dti = simulateDtiPhantom({ shape: [4, 4, 1] })
const dtiGtab = gradientTable(dti.bvals, Array.from({ length: dti.bvals.length }, (_, i) => [dti.bvecs[3 * i], dti.bvecs[3 * i + 1], dti.bvecs[3 * i + 2]]))
// three shells with 6 directions each: 19 volumes for 22 unknowns
const fewBvals = [0, ...[1000, 2000, 3000].flatMap((b) => Array(6).fill(b))]
const dirs6 = [[1, 0, 0], [0, 1, 0], [0, 0, 1], [0.7071, 0.7071, 0], [0.7071, 0, 0.7071], [0, 0.7071, 0.7071]]
const fewGtab = gradientTable(fewBvals, [[0, 0, 0], ...dirs6, ...dirs6, ...dirs6])
const aborted = () => {
  const ac = new AbortController()
  ac.abort()
  return ac.signal
}

const cases: { name: string; code: string; run: () => unknown }[] = [
  { name: 'single-shell scheme (2 b-values)', code: 'ERR_GRADIENTS', run: () => fitDkiSync(dti.dwi, dtiGtab) },
  { name: 'too few directions (rank < 22)', code: 'ERR_GRADIENTS', run: () => fitDkiSync({ data: new Float64Array(19 * 2).fill(100), shape: [2, 19] }, fewGtab) },
  { name: "method 'NLLS' (planned)", code: 'ERR_UNSUPPORTED', run: () => fitDkiSync(dwi, gtab, { method: 'NLLS' as never }) },
  { name: "method 'RESTORE' (planned)", code: 'ERR_UNSUPPORTED', run: () => fitDki(dwi, gtab, { method: 'RESTORE' as never }) },
  // the WebAssembly build refuses CLS/CWLS before it looks at the data (helpers/wasi.ts)
  { name: 'CLS: single-shell scheme', code: WASI ? 'ERR_UNSUPPORTED' : 'ERR_GRADIENTS', run: () => fitDkiSync(dti.dwi, dtiGtab, { method: 'CLS' }) },
  { name: 'CWLS: minSignal -1', code: WASI ? 'ERR_UNSUPPORTED' : 'ERR_SETTING', run: () => fitDki(dwi, gtab, { method: 'CWLS', minSignal: -1 }) },
  { name: 'CWLS: already-aborted signal', code: 'ERR_ABORTED', run: () => fitDki(dwi, gtab, { method: 'CWLS', signal: aborted() }) },
  { name: "method 'cls' (names are case-sensitive)", code: 'ERR_SETTING', run: () => fitDkiSync(dwi, gtab, { method: 'cls' as never }) },
  { name: 'unknown method', code: 'ERR_SETTING', run: () => fitDkiSync(dwi, gtab, { method: 'FOO' as never }) },
  { name: 'unknown option', code: 'ERR_SETTING', run: () => fitDkiSync(dwi, gtab, { minKurtosis: 0 } as never) },
  { name: 'minSignal 0', code: 'ERR_SETTING', run: () => fitDkiSync(dwi, gtab, { minSignal: 0 }) },
  { name: 'minSignal NaN', code: 'ERR_SETTING', run: () => fitDki(dwi, gtab, { minSignal: NaN }) },
  { name: 'mask of the wrong shape', code: 'ERR_SHAPE', run: () => fitDkiSync(dwi, gtab, { mask: { data: new Uint8Array(60), shape: [5, 6, 2] } }) },
  { name: 'volume count differs from the gradient table', code: 'ERR_SHAPE', run: () => fitDkiSync(dti.dwi, gtab) },
  { name: 'BigInt64Array data', code: 'ERR_DTYPE', run: () => fitDkiSync({ data: new BigInt64Array(193), shape: [1, 193] } as never, gtab) },
  { name: 'gtab not a GradientTable', code: 'ERR_GRADIENTS', run: () => fitDkiSync(dwi, { bvals: p.bvals } as never) },
  { name: 'threads 0', code: 'ERR_SETTING', run: () => fitDki(dwi, gtab, { threads: 0 }) },
  { name: 'threads 1e9', code: 'ERR_SETTING', run: () => fitDkiSync(dwi, gtab, { threads: 1e9 }) },
  { name: 'already-aborted signal', code: 'ERR_ABORTED', run: () => fitDki(dwi, gtab, { signal: aborted() }) },
  { name: 'mk: minKurtosis > maxKurtosis', code: 'ERR_SETTING', run: () => fit.mk({ minKurtosis: 2, maxKurtosis: 1 }) },
  { name: 'rk: minKurtosis NaN', code: 'ERR_SETTING', run: () => fit.rk({ minKurtosis: NaN }) },
  { name: "ak: analytical 'no'", code: 'ERR_SETTING', run: () => fit.ak({ analytical: 'no' as never }) },
  { name: 'mkt: unknown option', code: 'ERR_SETTING', run: () => fit.mkt({ analytical: true } as never) },
  { name: 'predict: negative s0', code: 'ERR_SETTING', run: () => fit.predictSync(gtab, { s0: -1 }) },
  { name: 'predict: s0 volume of the wrong size', code: 'ERR_SHAPE', run: () => fit.predict(gtab, { s0: { data: new Float64Array(3), shape: [3] } }) },
  { name: 'predict: s0 volume with a negative value', code: 'ERR_SETTING', run: () => fit.predictSync(gtab, { s0: { data: new Float64Array(60).fill(-1), shape: [6, 5, 2] } }) },
  { name: 'predict: gtab not a GradientTable', code: 'ERR_GRADIENTS', run: () => fit.predictSync({} as never) },
  { name: 'predict: aborted signal', code: 'ERR_ABORTED', run: () => fit.predict(gtab, { signal: aborted() }) },
]

for (const c of cases) {
  test(`DKI bad input: ${c.name}`, async (t) => {
    let code = 'no error'
    let msg = ''
    try {
      await c.run()
    } catch (e) {
      code = e instanceof VoxelkitError ? e.code : `not a VoxelkitError: ${String(e)}`
      msg = (e as Error).message
    }
    t.is(code, c.code, msg)
    t.true(msg.length > 0)
  })
}

test('DKI: NaN and +inf voxels are flagged and their maps are 0, the others are fitted', (t) => {
  const data = Float64Array.from(dwi.data as Int16Array)
  const nvox = 60
  data[5 * nvox + 7] = NaN
  data[9 * nvox + 11] = Infinity
  const f = fitDkiSync({ ...dwi, data } as Volume, gtab)
  t.is(f.status.data[7], FitStatus.NonFinite)
  t.is(f.status.data[11], FitStatus.NonFinite)
  for (const m of [f.mk(), f.fa(), f.kfa(), f.rk()]) {
    t.is(m.data[7], 0)
    t.is(m.data[11], 0)
    t.true(Array.from(m.data).every(Number.isFinite))
  }
  const ok = Array.from(f.status.data).filter((s) => s === FitStatus.Ok || s === FitStatus.PinvFallback).length
  t.is(ok, nvox - 2)
})

// 98304 voxels: a single-threaded fit takes far longer than queuing a call and aborting it
const big = simulateDkiPhantom({ shape: [64, 64, 24], snr: 30, seed: 2 })

test('DKI: aborting a long fit rejects promptly with ERR_ABORTED; progress is reported', async (t) => {
  const ac = new AbortController()
  const seen: number[] = []
  const started = performance.now()
  const pending = fitDki(big.dwi, gtab, {
    signal: ac.signal,
    threads: 1,
    onProgress: (done) => {
      seen.push(done)
      if (done > 0) ac.abort()
    },
  })
  const e = await t.throwsAsync(pending, { instanceOf: VoxelkitError })
  t.is(e?.code, 'ERR_ABORTED')
  t.true(seen.length > 0, 'progress was reported before the abort')
  t.log(`aborted after ${(performance.now() - started).toFixed(0)} ms`)
})

test('DKI: 32 concurrent async fits equal the sequential ones bitwise; aborting one leaves the others intact', async (t) => {
  const phantoms = [1, 2, 3, 4].map((seed) => simulateDkiPhantom({ shape: [10, 9, 2 + (seed % 2)], snr: 25, seed }))
  const gt = phantoms.map((q) => gradientTable(q.bvals, q.bvecs))
  const ref = phantoms.map((q, i) => fitDkiSync(q.dwi, gt[i], { returnS0: true, method: i % 2 ? 'OLS' : 'WLS' }))
  const ac = new AbortController()
  // job 5 is the long fit, aborted right after all calls are queued (a timer could lose the
  // race): it cannot finish first, so it must reject
  const ABORTED_JOB = 5
  const jobs = Array.from({ length: 32 }, (_, j) => {
    const i = j % 4
    if (j === ABORTED_JOB) return fitDki(big.dwi, gtab, { returnS0: true, threads: 1, signal: ac.signal })
    return fitDki(phantoms[i].dwi, gt[i], { returnS0: true, method: i % 2 ? 'OLS' : 'WLS', threads: 1 + (j % 3) })
  })
  ac.abort()
  const settled = await Promise.allSettled(jobs)
  const rejected = settled.flatMap((s, j) => (s.status === 'rejected' ? [j] : []))
  t.deepEqual(rejected, [ABORTED_JOB], 'the aborted call, and only it, rejects')
  const e = settled[ABORTED_JOB]
  t.is(e.status === 'rejected' ? (e.reason as VoxelkitError).code : 'resolved', 'ERR_ABORTED')
  settled.forEach((s, j) => {
    if (s.status === 'rejected') return
    const r = ref[j % 4]
    const f = s.value
    const same = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.prototype.every.call(a, (x: number, k: number) => Object.is(x, b[k]))
    t.true(same(f.evals.data, r.evals.data) && same(f.evecs.data, r.evecs.data) && same(f.kt.data, r.kt.data) && same(f.s0!.data, r.s0!.data), `job ${j}`)
  })
})
