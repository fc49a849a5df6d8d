// Equivalence with DIPY 1.12.1 TensorModel on the golden fixtures of fixtures/dipy
// (written by fixtures/dipy/generate.py from DIPY itself).
//
// Metrics and tolerances (RTOL below):
// * evals, MD, AD, RD, trace and the tensor (lower triangle): |ours - dipy| <= RTOL * lambda1,
//   lambda1 = the voxel's largest eigenvalue (errors of a least-squares tensor scale with its
//   norm, not with each small eigenvalue).
// * FA, linearity, planarity, sphericity: bounded in [0, 1]: |ours - dipy| <= RTOL.
// * colour FA follows the principal eigenvector, which moves by ~error / (lambda1 - lambda2):
//   RTOL * lambda1 / (lambda1 - lambda2) (the direction is arbitrary for oblate tensors).
// * mode and GA: their sensitivity to the tensor grows as 1/|deviatoric part|, so the allowed
//   error is RTOL * lambda1 / |deviatoric| (isotropic voxels are round-off on both sides).
// * S0 and predicted signal: relative, |ours - dipy| <= RTOL * |dipy|.
// RTOL = 1e-8 for integer and float64 data: DIPY solves each voxel with numpy's SVD pinv, we
//   with Cholesky on the unit-column normal equations (SVD when ill-conditioned); both are
//   accurate to ~cond^2 * eps < 1e-10 on these schemes (observed max ~5e-11). The issue's
//   contract is 1e-6; the tighter bound catches regressions.
// float32 data: numpy logs them in float32 with its own SIMD kernel on AVX2+FMA / AVX-512 CPUs
//   (not correctly rounded: 37 of 816 values of float32_storage are 1 ulp off) and with the C
//   library's logf elsewhere. voxelkit follows the same rule (the kernel is checked bit for bit
//   in crates/core), so RTOL = 1e-8 holds where this CPU takes numpy's SIMD path, as the CPU
//   that generated the fixtures did. Elsewhere one ulp of log(S) (6e-8 relative) moves the
//   tensor by up to ~1e-6 of lambda1 and RTOL = 5e-6.
// Voxels DIPY solves in an ill-conditioned weighted system (our status PinvFallback) keep the
//   tensor tolerance; their S0 lies along the ill-determined direction (cond ~1e9 in
//   zero_negative_signal voxel 5, where DIPY's own S0 differs by 1.2e-5 between a one-voxel
//   and a batched call), so S0 there is checked at 1e-4 relative.
import test from 'ava'
import { createRequire } from 'node:module'
import { join } from 'node:path'
import { ROOT, caseInput, listCases, loadCase, nums, type DtiCase, type DtiResult } from './helpers/fixtures'
import { FitStatus, fitDti, fitDtiSync, gradientTable, VoxelkitError, type TensorFit } from '../ts/index'

// Cases where voxelkit deliberately differs from DIPY (documented in the README):
// rank-deficient designs are an error instead of a minimum-norm pseudo-inverse answer.
const RANK_DEFICIENT = new Set([
  'degenerate_identical_dirs_axis',
  'degenerate_identical_dirs_oblique',
  'degenerate_coplanar_z0',
  'all_b0',
  'single_shell_no_b0',
])

function gtabOf(c: DtiCase) {
  return gradientTable(
    nums(c.input.bvals),
    c.input.bvecs.map((r) => Array.from(nums(r))),
    { b0Threshold: c.input.b0_threshold },
  )
}

interface Check {
  worst: number
  where: string
}

function compare(
  name: string,
  ours: ArrayLike<number>,
  ref: ArrayLike<number>,
  tol: (i: number) => number,
  skip: (i: number) => boolean,
  acc: Record<string, Check>,
): string[] {
  const bad: string[] = []
  if (ours.length !== ref.length) return [`${name}: length ${ours.length} vs ${ref.length}`]
  for (let i = 0; i < ref.length; i++) {
    if (skip(i)) continue
    const d = Math.abs(ours[i] - ref[i])
    const t = tol(i)
    const ratio = d / t
    if (!(d <= t)) {
      if (bad.length < 5) bad.push(`${name}[${i}]: ours ${ours[i]} dipy ${ref[i]} (|d| ${d.toExponential(2)} > ${t.toExponential(2)})`)
      else if (bad.length === 5) bad.push('…')
    }
    if (!acc[name] || ratio > acc[name].worst) acc[name] = { worst: ratio, where: `${i}` }
  }
  return bad
}

/** Compares every map of `fit` with DIPY's result `r` on the voxels `vox` (all, or a subset). */
function compareFit(c: DtiCase, fit: TensorFit, r: DtiResult, rtol: number): string[] {
  const nvox = fit.status.data.length
  const all = Array.from({ length: nvox }, (_, i) => i)
  const subset = r.subset ?? all
  const inMask = (v: number) => fit.status.data[v] !== FitStatus.Masked
  const evals = fit.evals.data
  const lam1 = (v: number) => Math.max(Math.abs(evals[v]), Math.abs(evals[nvox + v]), Math.abs(evals[2 * nvox + v]), 1e-300)
  const dev = (v: number) => {
    const l = [evals[v], evals[nvox + v], evals[2 * nvox + v]]
    const m = (l[0] + l[1] + l[2]) / 3
    return Math.hypot(l[0] - m, l[1] - m, l[2] - m)
  }
  const acc: Record<string, Check> = {}
  const bad: string[] = []
  // full-volume maps, component-major: element i belongs to voxel i % nvox
  const full = (name: string, ours: ArrayLike<number>, tol: (v: number) => number, skip = (_v: number) => false) =>
    bad.push(...compare(name, ours, nums(r[name] as (number | string)[]), (i) => tol(i % nvox), (i) => skip(i % nvox), acc))
  // subset maps: stored only for `subset` voxels, component-major over the subset
  const sub = (name: string, ours: ArrayLike<number>, tol: (v: number) => number, skip = (_v: number) => false) => {
    const ncomp = ours.length / nvox
    const picked = new Float64Array(subset.length * ncomp)
    for (let k = 0; k < ncomp; k++) subset.forEach((v, j) => (picked[k * subset.length + j] = ours[k * nvox + v]))
    const vOf = (i: number) => subset[i % subset.length]
    bad.push(...compare(name, picked, nums(r[name] as (number | string)[]), (i) => tol(vOf(i)), (i) => skip(vOf(i)), acc))
  }
  const lamTol = (v: number) => rtol * lam1(v)
  full('evals', evals, lamTol)
  full('md', fit.md().data, lamTol)
  full('ad', fit.ad().data, lamTol)
  full('rd', fit.rd().data, lamTol)
  full('trace', fit.trace().data, (v) => 3 * rtol * lam1(v))
  full('fa', fit.fa().data, () => rtol)
  const ill = (v: number) => fit.status.data[v] === FitStatus.PinvFallback
  const s0ref = nums(r.s0 as (number | string)[])
  full('s0', fit.s0!.data, (v) => (ill(v) ? 1e-4 : rtol) * Math.abs(s0ref[v]))
  sub('lower_triangular', fit.lowerTriangular().data, lamTol)
  // the principal eigenvector moves by ~ error / (lambda1 - lambda2): undefined for oblate tensors
  const gap = (v: number) => Math.max(evals[v] - evals[nvox + v], 1e-300)
  sub('color_fa', fit.colorFa().data, (v) => Math.max(2 * rtol, (4 * rtol * lam1(v)) / gap(v)))
  // DIPY's linearity/planarity/sphericity are NaN outside the mask (0/0); ours are 0 there
  sub('linearity', fit.linearity().data, () => 2 * rtol, (v) => !inMask(v))
  sub('planarity', fit.planarity().data, () => 4 * rtol, (v) => !inMask(v))
  sub('sphericity', fit.sphericity().data, () => 3 * rtol, (v) => !inMask(v))
  sub('mode', fit.mode().data, (v) => (20 * rtol * lam1(v)) / Math.max(dev(v), 1e-300), (v) => !inMask(v))
  sub('ga', fit.ga().data, (v) => (20 * rtol * lam1(v)) / Math.max(dev(v), 1e-300), (v) => !inMask(v))
  for (const v of all) {
    if (!inMask(v)) {
      for (const m of [fit.fa(), fit.mode(), fit.linearity()]) if (m.data[v] !== 0) bad.push(`voxel ${v} outside the mask is not 0`)
    }
  }
  return bad
}

const cases = listCases().map((f) => loadCase(f))
const require = createRequire(__filename)
const SIMD_LOGF: boolean = require(join(ROOT, 'native', 'index.js')).internalNumpySimdLogf()

for (const c of cases) {
  for (const method of ['WLS', 'OLS'] as const) {
    test(`DIPY ${c.name} ${method}`, async (t) => {
      const r = c.results[method]
      const input = caseInput(c)
      if (!input) {
        t.log(`SKIPPED: ${c.input.source} is not present (../shared is absent)`)
        t.pass()
        return
      }
      if (c.input.gradient_table_error) {
        const e = t.throws(() => gtabOf(c), { instanceOf: VoxelkitError })
        t.is(e!.code, 'ERR_GRADIENTS')
        return
      }
      const gtab = gtabOf(c)
      const opts = {
        method,
        mask: c.input.mask ? Uint8Array.from(c.input.mask) : undefined,
        minSignal: c.input.min_signal ?? undefined,
        returnS0: true,
      }
      if (RANK_DEFICIENT.has(c.name)) {
        // deliberate difference: DIPY returns a minimum-norm answer, we refuse the scheme
        const e = t.throws(() => fitDtiSync(input, gtab, opts), { instanceOf: VoxelkitError })
        t.is(e!.code, 'ERR_GRADIENTS')
        return
      }
      const fit = await fitDti(input, gtab, opts)
      if (r.error) {
        // DIPY fails the whole call on NaN/+inf signal; we fit the others and flag those voxels
        const data = input.data as ArrayLike<number>
        const nvox = fit.status.data.length
        const nvol = data.length / nvox
        const fitted: number[] = [FitStatus.Ok, FitStatus.PinvFallback]
        for (let v = 0; v < nvox; v++) {
          let bad = false
          for (let k = 0; k < nvol; k++) bad ||= Number.isNaN(data[k * nvox + v]) || data[k * nvox + v] === Infinity
          const status = fit.status.data[v]
          if (opts.mask && opts.mask[v] === 0) t.is(status, FitStatus.Masked)
          else if (bad) {
            t.is(status, FitStatus.NonFinite)
            t.is(fit.evals.data[v], 0)
          } else t.true(fitted.includes(status), `voxel ${v} status ${status}`)
        }
        t.true([...fit.fa().data].every(Number.isFinite))
        t.log(`DIPY raised ${r.error}; voxelkit flags the voxels instead`)
        return
      }
      const rtol = c.input.dtype === 'float32' && !SIMD_LOGF ? 5e-6 : 1e-8
      const bad = compareFit(c, fit, r, rtol)
      // prediction with the fitted S0 on DIPY's voxel list
      const p = r.predict as { voxels: number[]; signal: (number | string)[] }
      const pred = (await fit.predict(gtab)).data
      const nvox = fit.status.data.length
      const nvol = gtab.length
      const ref = nums(p.signal)
      p.voxels.forEach((v, j) => {
        if (fit.status.data[v] === FitStatus.Masked) return // DIPY predicts 1e-4 there, we 0
        const tol = (fit.status.data[v] === FitStatus.PinvFallback ? 1e-4 : rtol * 4)
        for (let k = 0; k < nvol; k++) {
          const a = pred[k * nvox + v]
          const b = ref[j * nvol + k]
          if (!(Math.abs(a - b) <= tol * Math.abs(b))) bad.push(`predict voxel ${v} vol ${k}: ${a} vs ${b}`)
        }
      })
      t.deepEqual(bad.slice(0, 12), [])
    })
  }
}

test('DIPY predict with scalar and default S0 (single_voxel)', (t) => {
  const c = cases.find((x) => x.name === 'single_voxel')!
  const gtab = gtabOf(c)
  const input = caseInput(c)!
  for (const method of ['WLS', 'OLS'] as const) {
    const extra = c.results[method].predict_extra as { s0: number | string; signal: number[] }[]
    const withS0 = fitDtiSync(input, gtab, { method, returnS0: true })
    const noS0 = fitDtiSync(input, gtab, { method })
    for (const e of extra) {
      const out =
        typeof e.s0 === 'number'
          ? e.s0 === 1
            ? noS0.predictSync(gtab) // DIPY's default without an estimated S0 is 1
            : withS0.predictSync(gtab, { s0: e.s0 })
          : withS0.predictSync(gtab) // default: the fitted S0
      e.signal.forEach((b, k) => t.true(Math.abs(out.data[k] - b) <= 4e-8 * Math.abs(b), `${method} s0=${e.s0} vol ${k}`))
    }
  }
})
