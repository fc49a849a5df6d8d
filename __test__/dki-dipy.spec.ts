// Equivalence with DIPY 1.12.1 DiffusionKurtosisModel on the golden fixtures of
// fixtures/dipy_dki (written by fixtures/dipy_dki/generate.py from DIPY itself), through the
// public API.
//
// Tolerance: RTOL = 1e-5 relative (the contract), measured against
// max(|dipy|, floor): floor = the voxel's lambda1 for eigenvalues and MD/AD/RD (errors of a
// least-squares tensor scale with its norm), 1 for the dimensionless maps (FA and the kurtosis
// maps are of order 1, so this is 1e-5 absolute there) and for kurtosis-tensor elements, and
// the voxel's largest signal for predictions. Both sides solve the same least-squares problem
// (DIPY by SVD, voxelkit by Cholesky on unit-column normal equations with an SVD fallback);
// observed agreement is below 1e-9 (printed by `cargo test -p voxelkit-dmri --test
// dki_fixtures -- --nocapture`).
// Where an eigenvalue is not above 2e-7 (DIPY zeroes MK/AK/RK there), W = (fitted MD^2 W) / MD^2
// divides rounding noise by the floored MD^2 on both sides: kt, KFA and MKT of such voxels carry
// no information and are not compared (the maps that DIPY defines there are); nor is their
// predicted signal when the fit itself is undetermined there (a voxel with zero signal on two of
// three shells: both sides take the truncated SVD and the prediction follows rounding noise).
import test from 'ava'
import { DKI_FIXTURES, caseInput, listCases, loadCase, nums } from './helpers/fixtures'
import { dkiCase, gtabOf } from './helpers/dki'
import { FitStatus, fitDki, fitDkiSync, setThreads, getThreads, VoxelkitError, type KurtosisFit, type Volume } from '../ts/index'

const RTOL = 1e-5
const MAPS = ['mk', 'ak', 'rk', 'mkt', 'rtk', 'kfa'] as const

function mapOf(fit: KurtosisFit, m: (typeof MAPS)[number], lo?: number, hi?: number): Volume {
  const o = lo === undefined ? {} : { minKurtosis: lo, maxKurtosis: hi }
  return m === 'kfa' ? fit.kfa() : fit[m](o)
}

function check(t: { fail(m: string): void }, what: string, ours: ArrayLike<number>, ref: ArrayLike<number>, floor: (i: number) => number, skip?: (i: number) => boolean): number {
  let worst = 0
  if (ours.length !== ref.length) t.fail(`${what}: length ${ours.length} vs ${ref.length}`)
  for (let i = 0; i < ref.length; i++) {
    if (skip?.(i)) continue
    const err = Math.abs(ours[i] - ref[i]) / Math.max(Math.abs(ref[i]), floor(i))
    if (!(err <= RTOL)) {
      t.fail(`${what}[${i}]: ours ${ours[i]}, DIPY ${ref[i]} (relative error ${err})`)
      return err
    }
    worst = Math.max(worst, err)
  }
  return worst
}

for (const file of listCases(DKI_FIXTURES)) {
  const c = loadCase(file, DKI_FIXTURES)
  for (const method of ['WLS', 'OLS'] as const) {
    test(`DIPY DKI ${method}: ${c.name}`, async (t) => {
      const set = dkiCase(t, c, method)
      if (!set) return
      const { dwi, r, opts } = set
      if (r.error || c.name.startsWith('rank_deficient')) {
        // DIPY refuses fewer than 3 b-values; rank-deficient designs are refused by voxelkit on
        // purpose (DIPY returns a minimum-norm answer)
        const e = t.throws(() => fitDkiSync(dwi, gtabOf(c), opts), { instanceOf: VoxelkitError })
        t.is(e?.code, 'ERR_GRADIENTS')
        return
      }
      const fit = await fitDki(dwi, gtabOf(c), opts)
      const nvox = fit.status.data.length
      const ev = nums(r.evals as never)
      const l1 = (i: number) => Math.max(Math.abs(ev[i % nvox]), 1e-12)
      const defined = (v: number) => ev[v] > 2e-7 && ev[nvox + v] > 2e-7 && ev[2 * nvox + v] > 2e-7
      const one = () => 1
      const worst: Record<string, number> = {}
      worst.evals = check(t, 'evals', fit.evals.data, ev, l1)
      worst.fa = check(t, 'fa', fit.fa().data, nums(r.fa as never), one)
      for (const m of ['md', 'ad', 'rd'] as const) worst[m] = check(t, m, fit[m]().data, nums(r[m] as never), l1)
      worst.s0 = check(t, 's0', fit.s0!.data, nums(r.s0 as never), one)
      worst.kt = check(t, 'kt', fit.kt.data, nums(r.kt as never), one, (i) => !defined(i % nvox))
      for (const m of MAPS) {
        const skip = m === 'kfa' || m === 'mkt' ? (i: number) => !defined(i) : undefined
        worst[m] = check(t, m, mapOf(fit, m).data, nums(r[m] as never), one, skip)
      }
      const clipped = r.clipped as Record<string, never> | undefined
      if (clipped) {
        for (const m of ['mk', 'ak', 'rk', 'mkt', 'rtk'] as const) {
          const skip = m === 'mkt' ? (i: number) => !defined(i) : undefined
          check(t, `${m} clipped`, mapOf(fit, m, clipped.min_kurtosis, clipped.max_kurtosis).data, nums(clipped[m]), one, skip)
        }
      }
      const numerical = r.numerical as Record<string, never> | undefined
      if (numerical) {
        const vox = numerical.voxels as number[]
        for (const m of ['mk', 'ak', 'rk'] as const) {
          const all = fit[m]({ analytical: false }).data
          worst[`${m} numerical`] = check(t, `${m} numerical`, vox.map((v) => all[v]), nums(numerical[m]), one)
        }
      }
      const gtab = gtabOf(c)
      const nvol = gtab.length
      for (const [key, s0] of [['predict', undefined], ['predict_fit_s0', fit.s0]] as const) {
        const p = r[key] as { voxels: number[]; signal: never }
        const pred = s0 ? fit.predictSync(gtab, { s0 }) : await fit.predict(gtab)
        const want = nums(p.signal)
        const ours = new Float64Array(want.length)
        const skipRows = new Set<number>()
        p.voxels.forEach((v, i) => {
          if (!defined(v) && c.input.mask?.[v] !== 0) skipRows.add(i) // kurtosis undefined: see the header
          for (let k = 0; k < nvol; k++) ours[i * nvol + k] = pred.data[k * nvox + v]
        })
        const smax = (i: number) => {
          const row = Math.floor(i / nvol)
          let m = 1e-300
          for (let k = 0; k < nvol; k++) m = Math.max(m, Math.abs(want[row * nvol + k]))
          return m
        }
        worst[key] = check(t, key, ours, want, smax, (i) => skipRows.has(Math.floor(i / nvol)))
      }
      // statuses: fitted voxels Ok or PinvFallback, masked voxels Masked
      for (let v = 0; v < nvox; v++) {
        const inMask = !c.input.mask || c.input.mask[v] !== 0
        const s = fit.status.data[v]
        if (inMask ? !(s === FitStatus.Ok || s === FitStatus.PinvFallback) : s !== FitStatus.Masked) {
          t.fail(`status[${v}] = ${s}`)
        }
      }
      t.log(Object.entries(worst).map(([k, w]) => `${k} ${w.toExponential(1)}`).join(', '))
      for (const [k, w] of Object.entries(worst)) t.true(w <= RTOL, k)
    })
  }
}

test('DKI fit and maps are bitwise identical at 1, 2 and 3 threads, sync and async', async (t) => {
  const c = loadCase('three_shell_int16.json', DKI_FIXTURES)
  const dwi = caseInput(c)!
  const before = getThreads()
  const runs: Float64Array[][] = []
  try {
    for (const n of [1, 2, 3]) {
      setThreads(n)
      const a = fitDkiSync(dwi, gtabOf(c), { returnS0: true })
      const b = await fitDki(dwi, gtabOf(c), { returnS0: true, threads: n })
      for (const f of [a, b]) {
        runs.push([f.evals.data, f.evecs.data, f.kt.data, f.s0!.data, f.mk().data, f.rk().data, f.kfa().data].map((x) => Float64Array.from(x)))
      }
    }
  } finally {
    setThreads(before)
  }
  const bits = (x: Float64Array) => Buffer.from(x.buffer).toString('hex')
  for (const r of runs.slice(1)) t.deepEqual(r.map(bits), runs[0].map(bits))
})

test('DKI predict defaults to S0 = 1 like DIPY, and takes a number or a volume', (t) => {
  const c = loadCase('two_shell_noise_free.json', DKI_FIXTURES)
  const fit = fitDkiSync(caseInput(c)!, gtabOf(c), { returnS0: true })
  const g = gtabOf(c)
  const p1 = fit.predictSync(g)
  const p2 = fit.predictSync(g, { s0: 2 })
  t.deepEqual(p1.shape, [...c.input.shape])
  for (let i = 0; i < p1.data.length; i += 97) t.true(Math.abs(p2.data[i] - 2 * p1.data[i]) <= 1e-12 * p2.data[i])
})
