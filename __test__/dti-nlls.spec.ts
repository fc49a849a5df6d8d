// DTI NLLS and RESTORE through the public API against DIPY 1.12.1 (fixtures/dipy_nlls, written
// by its generate.py from DIPY itself, with 40-digit solutions of the same problems).
//
// The kernel test (crates/dmri/tests/dti_nlls_fixtures.rs) checks every voxel against the exact
// solutions (objective, distance, several minima, RESTORE's borderline decisions). Here the maps
// and the rejected volumes of the public API are compared with DIPY's. DIPY's optimiser stops
// short of the optimum by d = dist(DIPY, exact) (typically 1e-7..1e-5; voxelkit's own distance is
// below 1e-9), so the tolerance is max(1e-6, 3 d): eigenvalues relative to the voxel's largest
// (|d lambda| <= |d D|_2 <= 3 max |d D_ij|), FA absolute, S0 relative. RESTORE's rejected volumes
// equal DIPY's wherever DIPY's decisions are not within 1e-6 of their thresholds, DIPY's optimiser
// did not end in another local minimum, and the voxel's fit is not exact (noise-free).
import test from 'ava'
import { join } from 'node:path'
import { FitStatus, fitDti, fitDtiSync, gradientTable, readVolumeSync, type DtiSyncOptions, type TensorFit } from '../ts/index'
import { ROOT, caseInput, listCases, loadCase, nums, type DtiCase } from './helpers/fixtures'
import { bitsEqual } from './helpers/data'
import { cli, fitArgs, scratchDir, writeDwiFiles } from './helpers/cli'

const DIR = join(ROOT, 'fixtures', 'dipy_nlls')
const RTOL = 1e-6

interface Exact {
  params: (number | string)[]
  rejected?: number[]
  margin?: number
  fallback?: boolean
  dipy_minimum?: unknown
  dipy_minimum_at_call?: number
  noise_free?: boolean
}
interface Result {
  skipped?: boolean
  evals: (number | string)[]
  fa: (number | string)[]
  s0: (number | string)[]
  params: (number | string)[]
  fallback: number[]
  rejected?: number[][]
  rounds?: number[]
  exact: Record<string, Exact>
}
type Case = DtiCase & {
  input: DtiCase['input'] & { sigma?: number[]; weights?: number[]; fail_is_nan: boolean }
  results: Record<'NLLS' | 'RESTORE', Result>
}

const CASES = listCases(DIR).map((f) => loadCase(f, DIR) as unknown as Case)

function gtabOf(c: DtiCase) {
  return gradientTable(
    nums(c.input.bvals),
    c.input.bvecs.map((r) => Array.from(nums(r))),
    { b0Threshold: c.input.b0_threshold },
  )
}

function optsOf(c: Case, method: 'NLLS' | 'RESTORE'): DtiSyncOptions {
  const o: DtiSyncOptions = { method, returnS0: true, failIsNan: c.input.fail_is_nan }
  if (c.input.mask) o.mask = Uint8Array.from(c.input.mask)
  if (c.input.min_signal !== null) o.minSignal = c.input.min_signal
  if (method === 'NLLS' && c.input.weights) o.weights = c.input.weights
  if (method === 'RESTORE' && c.input.sigma) o.sigma = c.input.sigma
  return o
}

/** The kernel tests' distance of two parameter vectors (tensor relative to its largest entry, log S0). */
function dist(p: ArrayLike<number>, q: ArrayLike<number>): number {
  let scale = 1e-6
  let dt = 0
  for (let j = 0; j < 6; j++) {
    scale = Math.max(scale, Math.abs(q[j]))
    dt = Math.max(dt, Math.abs(p[j] - q[j]))
  }
  return Math.max(dt / scale, Math.abs(p[6] - q[6]))
}

for (const c of CASES) {
  for (const method of ['NLLS', 'RESTORE'] as const) {
    const r = c.results[method]
    if (r.skipped) continue
    test(`${c.name} ${method}: maps and rejected volumes match DIPY where it converged`, (t) => {
      const dwi = caseInput(c)
      if (!dwi) return t.pass(`SKIPPED: ${c.input.source} is absent`)
      const fit = fitDtiSync(dwi, gtabOf(c), optsOf(c, method))
      const nvox = fit.status.data.length
      const ev = nums(r.evals)
      const fa = nums(r.fa)
      const s0 = nums(r.s0)
      const dp = nums(r.params)
      const ourFa = fit.fa().data
      const mask = c.input.mask
      let compared = 0
      let fitted = 0
      let excused = 0
      const bad: string[] = []
      for (let v = 0; v < nvox; v++) {
        if (mask && !mask[v]) {
          t.is(fit.status.data[v], FitStatus.Masked)
          continue
        }
        fitted++
        const e = r.exact[String(v)]
        const p = Array.from({ length: 7 }, (_, j) => dp[j * nvox + v])
        if (method === 'RESTORE') {
          const got = fit.rejectedVolumes(v)
          const borderline = (e?.margin ?? 1) < 1e-6 || e?.dipy_minimum_at_call !== undefined || e?.noise_free
          if (!borderline) t.deepEqual(got, r.rejected![v], `${c.name} voxel ${v} rejected volumes`)
          if (borderline || r.fallback[v]) {
            excused++
            continue
          }
        }
        if (!e || e.dipy_minimum !== undefined) {
          excused++
          continue
        }
        compared++
        const tol = Math.max(RTOL, 3 * dist(p, nums(e.params)))
        let lam1 = 1e-300
        for (let k = 0; k < 3; k++) lam1 = Math.max(lam1, Math.abs(ev[k * nvox + v]))
        for (let k = 0; k < 3; k++) {
          const d = Math.abs(fit.evals.data[k * nvox + v] - ev[k * nvox + v])
          if (!(d <= tol * lam1)) bad.push(`voxel ${v} eval ${k}: ${fit.evals.data[k * nvox + v]} vs ${ev[k * nvox + v]} (tol ${tol})`)
        }
        if (!(Math.abs(ourFa[v] - fa[v]) <= tol)) bad.push(`voxel ${v} FA ${ourFa[v]} vs ${fa[v]} (tol ${tol})`)
        if (!(Math.abs(fit.s0!.data[v] - s0[v]) <= tol * Math.abs(s0[v]))) bad.push(`voxel ${v} S0 ${fit.s0!.data[v]} vs ${s0[v]}`)
      }
      t.deepEqual(bad.slice(0, 5), [])
      // most voxels are compared (the others are checked against the exact solutions in Rust)
      t.true(compared === fitted - excused && excused <= Math.max(3, 0.05 * fitted), `${compared} of ${fitted} voxels compared`)
    })
  }
}

test('RESTORE: robust() is DIPY-shaped and rejectedCount() counts', (t) => {
  const c = CASES.find((x) => x.name === 'outliers_spike_float32')!
  const fit = fitDtiSync(caseInput(c)!, gtabOf(c), optsOf(c, 'RESTORE'))
  const nvox = fit.status.data.length
  const n = c.input.shape[c.input.shape.length - 1]
  const robust = fit.robust()
  t.deepEqual(robust.shape, [...c.input.shape])
  const count = fit.rejectedCount()
  t.deepEqual(count.shape, c.input.shape.slice(0, -1))
  let total = 0
  for (let v = 0; v < nvox; v++) {
    const rej = fit.rejectedVolumes(v)
    total += rej.length
    t.is(count.data[v], rej.length)
    for (let k = 0; k < n; k++) t.is(robust.data[k * nvox + v], rej.includes(k) ? 0 : 1)
  }
  t.true(total > 0)
  const [nx, ny] = c.input.shape
  t.deepEqual(fit.rejectedVolumes([1, 2, 3]), fit.rejectedVolumes(1 + nx * (2 + ny * 3)))
  t.throws(() => fit.rejectedVolumes(-1), { code: 'ERR_SETTING' } as never)
  t.throws(() => fit.rejectedVolumes(1.5), { code: 'ERR_SETTING' } as never)
  t.throws(() => fit.rejectedVolumes([1, 2]), { code: 'ERR_SHAPE' } as never)
  t.throws(() => fit.rejectedVolumes([1, 2, 99]), { code: 'ERR_SETTING' } as never)
  const wls = fitDtiSync(caseInput(c)!, gtabOf(c))
  t.throws(() => wls.rejectedCount(), { code: 'ERR_SETTING' } as never)
  t.throws(() => wls.robust(), { code: 'ERR_SETTING' } as never)
  // masked voxels: robust 0 everywhere, as DIPY's extra['robust']
  const c2 = CASES.find((x) => x.name === 'outliers_sigma_scalar')!
  const f2 = fitDtiSync(caseInput(c2)!, gtabOf(c2), optsOf(c2, 'RESTORE'))
  const m = c2.input.mask!
  const r2 = f2.robust()
  for (let v = 0; v < m.length; v++) if (!m[v]) t.is(r2.data[v], 0)
})

test('RESTORE: fewer than 7 volumes left gives StartFallback (the last round, or NaN with failIsNan)', (t) => {
  // 1 b0 + 9 DWIs of a noise-free tensor, DWIs 2, 4, 6, 8 dropped to 10 % (the case of the kernel's
  // unit test): the reweighted fit interpolates 6 volumes, the 4 others are rejected, and 6 volumes
  // cannot determine the 7 parameters
  const bvecs = [
    [0, 0, 0],
    [-0.9123644133256509, -0.40361043585461676, 0.06848206601868326],
    [-0.7166589591696234, -0.6320266851216979, 0.2948596370071531],
    [-0.021153473550028355, -0.9276354719248502, 0.37288733121886647],
    [-0.015537612291093541, -0.8797496296466514, 0.47518330330607317],
    [0.9702759866126045, -0.0436042700752198, 0.2380402853177255],
    [0.8133370539059565, 0.5650688130833522, 0.13849214138048038],
    [0.45320632041760495, -0.17790654844166662, 0.8734719750255917],
    [-0.969286447652141, -0.09500771923137769, -0.22684205007966457],
    [-0.2566688014881561, 0.6819208233368077, 0.6849124886014885],
  ]
  const gtab = gradientTable([0, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000, 1000], bvecs)
  const sig = [
    1000.0, 231.31482093413595, 32.459202213558285, 632.4057165555422, 64.41341240599654, 231.3089770449636,
    25.314580941749355, 516.6021397173608, 21.92951974034095, 630.9657372281171,
  ]
  const dwi = { data: Float64Array.from(sig), shape: [1, 1, 1, sig.length] }
  const fit = fitDtiSync(dwi, gtab, { method: 'RESTORE', returnS0: true })
  t.is(fit.status.data[0], FitStatus.StartFallback)
  t.deepEqual(fit.rejectedVolumes(0), [1, 2, 6, 8])
  t.true(Array.from(fit.evals.data).every(Number.isFinite))
  const nan = fitDtiSync(dwi, gtab, { method: 'RESTORE', returnS0: true, failIsNan: true })
  t.is(nan.status.data[0], FitStatus.StartFallback)
  t.true(Array.from(nan.evals.data).every(Number.isNaN))
  t.true(Number.isNaN(nan.s0!.data[0]))
  t.true(Number.isNaN(nan.fa().data[0]))
  t.deepEqual(nan.rejectedVolumes(0), [1, 2, 6, 8])
})

function sameFit(a: TensorFit, b: TensorFit): boolean {
  return bitsEqual(a.evals.data, b.evals.data) && bitsEqual(a.evecs.data, b.evecs.data) && bitsEqual(a.s0!.data, b.s0!.data) && bitsEqual(a.status.data, b.status.data)
}

test('NLLS and RESTORE: async = sync, threads and masks do not change a bit; progress', async (t) => {
  const c = CASES.find((x) => x.name === 'small_101D_mask')!
  const dwi = caseInput(c)
  if (!dwi) return t.pass('SKIPPED: small_101D is absent')
  const gtab = gtabOf(c)
  for (const method of ['NLLS', 'RESTORE'] as const) {
    const one = fitDtiSync(dwi, gtab, { method, returnS0: true, threads: 1 })
    const two = fitDtiSync(dwi, gtab, { method, returnS0: true, threads: 2 })
    t.true(sameFit(one, two), `${method}: 1 vs 2 threads`)
    let calls = 0
    const asyncFit = await fitDti(dwi, gtab, { method, returnS0: true, threads: 2, onProgress: () => calls++ })
    t.true(sameFit(one, asyncFit), `${method}: async`)
    t.true(calls > 0)
    if (method === 'RESTORE') t.true(bitsEqual(one.robust().data, asyncFit.robust().data))
    // a voxel's result does not depend on which voxels are fitted with it
    const masked = fitDtiSync(dwi, gtab, { method, returnS0: true, mask: Uint8Array.from(c.input.mask!) })
    const m = c.input.mask!
    for (let v = 0; v < m.length; v++) {
      if (!m[v]) continue
      for (let k = 0; k < 3; k++) t.is(Object.is(masked.evals.data[k * m.length + v], one.evals.data[k * m.length + v]), true)
    }
  }
})

// serial: concurrent synchronous tests would block the event loop that delivers the abort
test.serial('NLLS and RESTORE: an aborted signal rejects with ERR_ABORTED, before and during the fit', async (t) => {
  const c = CASES.find((x) => x.name === 'small_101D_mask')!
  const dwi = caseInput(c)
  if (!dwi) return t.pass('SKIPPED: small_101D is absent')
  const gtab = gtabOf(c)
  // small_101D stacked 100 times along z (60,000 voxels): the fit spans many tiles, so an abort
  // from the first progress report lands mid-fit (600 voxels fit in two tiles, before any abort)
  const [nx, ny, nz, nv] = dwi.shape
  const block = nx * ny * nz
  const k = 100
  const Ctor = dwi.data.constructor as new (n: number) => typeof dwi.data
  const data = new Ctor(block * k * nv)
  for (let v = 0; v < nv; v++) {
    for (let r = 0; r < k; r++) data.set(dwi.data.subarray(v * block, (v + 1) * block) as never, (v * k + r) * block)
  }
  const big = { data, shape: [nx, ny, nz * k, nv] }
  for (const method of ['NLLS', 'RESTORE'] as const) {
    const pre = new AbortController()
    pre.abort()
    await t.throwsAsync(fitDti(big, gtab, { method, signal: pre.signal }), { code: 'ERR_ABORTED' } as never)
    const ctl = new AbortController()
    let seen = 0
    const p = fitDti(big, gtab, {
      method,
      signal: ctl.signal,
      threads: 1,
      onProgress: (d) => {
        seen = d
        ctl.abort()
      },
    })
    await t.throwsAsync(p, { code: 'ERR_ABORTED' } as never)
    t.true(seen < block * k, `${method}: stopped before the end`)
  }
})

test('NLLS: predict and the zero voxel behave as DIPY (clipped signal, no error)', (t) => {
  const c = CASES.find((x) => x.name === 'edge_voxels')!
  const fit = fitDtiSync(caseInput(c)!, gtabOf(c), optsOf(c, 'NLLS'))
  // voxel 0 is all zeros: DIPY fits the clipped signal (min_signal everywhere)
  t.is(fit.status.data[0], FitStatus.Ok)
  t.true(Math.abs(fit.s0!.data[0] - 1e-4) < 1e-12)
  const pred = fit.predictSync(gtabOf(c))
  t.is(pred.shape[pred.shape.length - 1], c.input.shape[3])
  t.true(Array.from(pred.data).every(Number.isFinite))
})

const CLI_DIR = scratchDir('restore')

test('voxelkit dti --method RESTORE --sigma writes the rejected-volume counts', async (t) => {
  const dir = CLI_DIR
  const c = CASES.find((x) => x.name === 'outliers_sigma_scalar')!
  const dwi = caseInput(c)!
  const mask = { data: Uint8Array.from(c.input.mask!), shape: c.input.shape.slice(0, -1) }
  const files = writeDwiFiles(dir, { dwi, mask, bvals: nums(c.input.bvals), bvecs: Float64Array.from(c.input.bvecs.flat(), Number) })
  const out = join(dir, 'out')
  const r = await cli('dti', ...fitArgs(files, out), '--method', 'RESTORE', '--sigma', '60')
  t.is(r.code, 0, r.stderr)
  t.regex(r.stdout, /volumes rejected/)
  const counts = readVolumeSync(join(out, 'rejected.nii.gz'))
  const fit = fitDtiSync(readVolumeSync(files.dwi), gtabOf(c), { method: 'RESTORE', sigma: 60, mask })
  t.deepEqual(Array.from(counts.data), Array.from(fit.rejectedCount().data))
  t.true(Array.from(counts.data).some((x) => x > 0))
  const noRestore = await cli('dti', ...fitArgs(files, join(dir, 'x')), '--sigma', '60')
  t.not(noRestore.code, 0)
  t.regex(noRestore.stderr, /--sigma/)
  const negative = await cli('dti', ...fitArgs(files, join(dir, 'y')), '--method', 'RESTORE', '--sigma', '-1')
  t.not(negative.code, 0)
  const perVolume = await cli('dti', ...fitArgs(files, join(dir, 'z')), '--method', 'RESTORE', '--sigma', Array(c.input.bvals.length).fill('60').join(','))
  t.is(perVolume.code, 0, perVolume.stderr)
})

// initParams (DIPY's init_params of nlls_fit_tensor): fixtures/dipy_exact/dti_nlls_init_params.json holds two starts,
// DIPY's fit from each and the 40-digit minimiser reached from it (the same for both). The kernel test
// (crates/dmri/tests/exact_fixtures.rs) bounds voxelkit's distance to it by 1e-9; here the public API gives the same
// eigenvalues within that tolerance (relative to the voxel's largest) from both starts and from the default OLS start,
// and DIPY's within its own distance to the minimiser plus 1e-9.
interface InitCase extends DtiCase {
  results: Record<'perturbed' | 'isotropic', { init_params: number[]; voxels: { voxel: number; dipy: { evals: number[] }; exact: { evals: number[] } }[] }>
}
const INIT = loadCase('dti_nlls_init_params.json', join(ROOT, 'fixtures', 'dipy_exact')) as unknown as InitCase

test('NLLS: initParams starts DIPY\'s optimisation where given and reaches its optimum', (t) => {
  const dwi = caseInput(INIT)!
  const spatial = INIT.input.shape.slice(0, -1)
  const nvox = spatial.reduce((a, b) => a * b, 1)
  const gtab = gtabOf(INIT)
  const byDefault = fitDtiSync(dwi, gtab, { method: 'NLLS' })
  let worst = 0
  for (const start of ['perturbed', 'isotropic'] as const) {
    const r = INIT.results[start]
    const initParams = { data: Float64Array.from(r.init_params), shape: [...spatial, 7] }
    const fit = fitDtiSync(dwi, gtab, { method: 'NLLS', initParams })
    // float32 starts are taken too (rounded: another start, the same optimum)
    const fit32 = fitDtiSync(dwi, gtab, { method: 'NLLS', initParams: { data: Float32Array.from(r.init_params), shape: [...spatial, 7] } })
    const ev = fit.evals.data as Float64Array
    let moved = 0
    for (const { voxel: v, dipy, exact } of r.voxels) {
      const lam = Math.max(...exact.evals.map(Math.abs))
      const got = [0, 1, 2].map((k) => ev[k * nvox + v])
      const dist = (a: number[], b: number[]) => Math.max(...a.map((x, k) => Math.abs(x - b[k]))) / lam
      const dd = dist(dipy.evals, exact.evals)
      t.true(dist(got, exact.evals) <= 1e-9, `${start} voxel ${v}`)
      t.true(dist(got, dipy.evals) <= dd + 1e-9, `${start} voxel ${v}: DIPY ${dd}`)
      const def = [0, 1, 2].map((k) => (byDefault.evals.data as Float64Array)[k * nvox + v])
      t.true(dist(got, def) <= 2e-9, `${start} voxel ${v}: vs the OLS start`)
      t.true(dist([0, 1, 2].map((k) => (fit32.evals.data as Float64Array)[k * nvox + v]), exact.evals) <= 1e-9)
      if (got.some((x, k) => x !== def[k])) moved++
      worst = Math.max(worst, dist(got, exact.evals))
    }
    // an ignored start would repeat the default fit bit for bit
    t.true(moved >= nvox / 2, `${start}: ${moved} voxels moved`)
  }
  t.log(`NLLS from given starts: eigenvalues within ${worst.toExponential(1)} of the 40-digit minimiser`)
})

test('NLLS: bad initParams get coded errors', async (t) => {
  const dwi = caseInput(INIT)!
  const spatial = INIT.input.shape.slice(0, -1)
  const gtab = gtabOf(INIT)
  const good = Float64Array.from(INIT.results.perturbed.init_params)
  const fit = (initParams: unknown, method: 'NLLS' | 'RESTORE' | 'WLS' | 'OLS' = 'NLLS') =>
    fitDtiSync(dwi, gtab, { method, initParams } as DtiSyncOptions)
  const code = (f: () => unknown) => t.throws(f)?.code
  t.is(code(() => fit({ data: good, shape: [...spatial, 6] })), 'ERR_SHAPE')
  t.is(code(() => fit({ data: good, shape: [spatial[0] * spatial[1] * spatial[2], 7] })), 'ERR_SHAPE')
  t.is(code(() => fit({ data: good.subarray(7), shape: [...spatial, 7] })), 'ERR_SHAPE')
  t.is(code(() => fit(good)), 'ERR_DTYPE') // a bare array, not a Volume { data, shape }
  t.is(code(() => fit({ data: Int16Array.from(good), shape: [...spatial, 7] })), 'ERR_DTYPE')
  t.is(code(() => fit({ data: [1, 2, 3], shape: [...spatial, 7] })), 'ERR_DTYPE')
  t.is(code(() => fit('start')), 'ERR_SETTING')
  for (const bad of [NaN, Infinity, -Infinity]) {
    const p = good.slice()
    p[40] = bad
    t.is(code(() => fit({ data: p, shape: [...spatial, 7] })), 'ERR_SETTING')
  }
  for (const m of ['WLS', 'OLS', 'RESTORE'] as const) t.is(code(() => fit({ data: good, shape: [...spatial, 7] }, m)), 'ERR_SETTING', m)
  await t.throwsAsync(fitDti(dwi, gtab, { method: 'NLLS', initParams: { data: good, shape: [...spatial, 5] } }), { code: 'ERR_SHAPE' })
})
