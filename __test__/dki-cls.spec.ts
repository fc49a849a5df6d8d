// DKI's constrained fits (CLS, CWLS) through the public API, against DIPY 1.12.1 on the fixtures
// of fixtures/dipy_dki_cls (written by its generate.py from DIPY itself; its README has the
// measured facts quoted here). The rules and tolerances are those of the kernel suite
// (crates/dmri/tests/dki_cls_fixtures.rs, where they are justified), per voxel, with t the
// fixture's feasibility margin of the least-squares (LS) solution:
// - t > 1e-6: DIPY keeps the LS solution and so must we (status Ok/PinvFallback); every map
//   within RTOL_LS = 1e-5 of DIPY's (observed ~1e-10);
// - t < -1e-6: we must report Constrained and match the true constrained optimum of DIPY's
//   program (the generator's tight solve, DIPY's maps of it) within RTOL_OPT = 5e-4 (interior
//   point accuracy on the boundary of the semidefinite cone; observed <= 3.2e-4), except two
//   documented voxels where that reference is not the optimum;
// - |t| <= 1e-6: either branch is right, not compared.
// DIPY's default solver (SCS at an absolute 1e-5) lets LS solutions that violate the constraint
// through and gives inaccurate constrained answers; those answers are not compared, but every
// voxel DIPY constrained must be constrained here too.
import avaTest from 'ava'
import { WASI } from './helpers/wasi'
import { listCases, loadCase, nums, ROOT } from './helpers/fixtures'
import { dkiCase, gtabOf } from './helpers/dki'
import { join } from 'node:path'
import { FitStatus, VoxelkitError, fitDki, fitDkiSync, gradientTable, simulateDkiPhantom, type KurtosisFit, type Volume } from '../ts/index'

// The WebAssembly build refuses CLS/CWLS (see wasm_supported in crates/node/src/dmri.rs): there
// this file checks the refusal and skips the fixture comparisons.
const test = WASI ? avaTest.skip : avaTest
if (WASI) {
  avaTest('WASI build: CLS and CWLS answer ERR_UNSUPPORTED', (t) => {
    const ph = simulateDkiPhantom({ shape: [4, 4, 2] })
    const g = gradientTable(ph.bvals, ph.bvecs)
    for (const method of ['CLS', 'CWLS'] as const) {
      const e = t.throws(() => fitDkiSync(ph.dwi, g, { method }), { instanceOf: VoxelkitError })
      t.is((e as VoxelkitError).code, 'ERR_UNSUPPORTED')
    }
  })
}

const CLS_FIXTURES = join(ROOT, 'fixtures', 'dipy_dki_cls')
const RTOL_LS = 1e-5
const RTOL_OPT = 5e-4
const MARGIN_EPS = 1e-6
const UNRELIABLE_REFERENCE = new Set(['degenerate_voxels:12', 'degenerate_voxels:13'])
const KMAPS = ['mk', 'ak', 'rk', 'mkt', 'rtk', 'kfa'] as const
// Like the kernel suite, the fixture tests together must compare voxels, at least this many
// (LS and constrained), so that they cannot pass without comparing any.
const MIN_COMPARED = 20
const compared = { ls: 0, opt: 0, tests: 0, ran: 0 }

interface Ours {
  fit: KurtosisFit
  maps: Record<string, ArrayLike<number>>
}

function ours(fit: KurtosisFit): Ours {
  const maps: Record<string, ArrayLike<number>> = { fa: fit.fa().data, md: fit.md().data, kfa: fit.kfa().data }
  for (const m of ['mk', 'ak', 'rk', 'mkt', 'rtk'] as const) maps[m] = fit[m]().data
  return { fit, maps }
}

/** Worst relative error of voxel v against a reference (floors as in the WLS/OLS suite). */
function compare(o: Ours, v: number, ref: (q: string, k: number) => number): Record<string, number> {
  const nvox = o.fit.status.data.length
  const err = (got: number, want: number, floor: number) => Math.abs(got - want) / Math.max(Math.abs(want), floor)
  const l1 = Math.max(Math.abs(ref('evals', 0)), 1e-12)
  const defined = [0, 1, 2].every((j) => ref('evals', j) > 2e-7)
  const e: Record<string, number> = {}
  e.evals = Math.max(...[0, 1, 2].map((j) => err(o.fit.evals.data[j * nvox + v], ref('evals', j), l1)))
  e.fa = err(o.maps.fa[v], ref('fa', 0), 1)
  e.md = err(o.maps.md[v], ref('md', 0), l1)
  e.s0 = err(o.fit.s0!.data[v], ref('s0', 0), 1)
  if (defined) {
    let wmax = 1
    for (let k = 0; k < 15; k++) wmax = Math.max(wmax, Math.abs(ref('kt', k)))
    e.kt = Math.max(...Array.from({ length: 15 }, (_, k) => err(o.fit.kt.data[k * nvox + v], ref('kt', k), wmax)))
  }
  for (const m of KMAPS) if (defined || (m !== 'kfa' && m !== 'mkt')) e[m] = err(o.maps[m][v], ref(m, 0), 1)
  return e
}

for (const file of listCases(CLS_FIXTURES)) {
  const c = loadCase(file, CLS_FIXTURES)
  for (const method of ['CLS', 'CWLS'] as const) {
    compared.tests++
    test(`DIPY DKI ${method}: ${c.name}`, async (t) => {
      compared.ran++
      const set = dkiCase(t, c, method)
      if (!set) return
      const { dwi, r, opts } = set
      if (c.name.startsWith('rank_deficient')) {
        const e = t.throws(() => fitDkiSync(dwi, gtabOf(c), opts), { instanceOf: VoxelkitError })
        t.is(e?.code, 'ERR_GRADIENTS')
        return
      }
      const fit = await fitDki(dwi, gtabOf(c), opts)
      const st = fit.status.data
      if (r.error) {
        // DIPY raises for the whole fit; we flag the voxel instead (its outputs are finite)
        if (c.name.startsWith('nonfinite')) t.is(st[1], FitStatus.NonFinite)
        else if (c.name.startsWith('huge_dynamic_range')) t.is(st[1], FitStatus.SolverFailed)
        else t.fail(`DIPY raised ${r.error}`)
        t.true(Array.from(fit.evals.data).every(Number.isFinite) && Array.from(fit.kt.data).every(Number.isFinite))
        return
      }
      const o = ours(fit)
      const nvox = st.length
      const margin = nums(r.ls_feasibility_margin as never)
      const branch = nums(r.branch as never)
      const co = r.constrained_optimum as Record<string, never>
      const coVox = co.voxels as number[]
      const ev = nums(r.evals as never)
      const kt = nums(r.kt as never)
      const worst = { ls: 0, opt: 0 }
      let nls = 0
      let nopt = 0
      for (let v = 0; v < nvox; v++) {
        if (st[v] === FitStatus.Masked) {
          t.is(branch[v], 0)
          continue
        }
        if (branch[v] === 2 && st[v] !== FitStatus.Constrained) t.fail(`voxel ${v}: DIPY constrained it, status ${st[v]}`)
        if (margin[v] > MARGIN_EPS) {
          if (!(st[v] === FitStatus.Ok || st[v] === FitStatus.PinvFallback)) t.fail(`voxel ${v}: LS solution feasible, status ${st[v]}`)
          const e = compare(o, v, (q, k) => (q === 'evals' ? ev[k * nvox + v] : q === 'kt' ? kt[k * nvox + v] : nums(r[q] as never)[v]))
          for (const [q, x] of Object.entries(e)) if (!(x <= RTOL_LS)) t.fail(`voxel ${v} ${q}: relative error ${x} (LS)`)
          worst.ls = Math.max(worst.ls, ...Object.values(e))
          nls++
        } else if (margin[v] < -MARGIN_EPS) {
          if (st[v] !== FitStatus.Constrained) t.fail(`voxel ${v}: LS solution infeasible (margin ${margin[v]}), status ${st[v]}`)
          if (UNRELIABLE_REFERENCE.has(`${c.name}:${v}`)) continue
          const i = coVox.indexOf(v)
          if (i < 0) {
            t.fail(`voxel ${v}: no reference optimum`)
            continue
          }
          const e = compare(o, v, (q, k) => (q === 'evals' ? nums(co.evals)[3 * i + k] : q === 'kt' ? nums(co.kt)[15 * i + k] : nums(co[q])[i]))
          for (const [q, x] of Object.entries(e)) if (!(x <= RTOL_OPT)) t.fail(`voxel ${v} ${q}: relative error ${x} (constrained optimum)`)
          worst.opt = Math.max(worst.opt, ...Object.values(e))
          nopt++
        }
      }
      t.log(`${nls} LS voxels (worst ${worst.ls.toExponential(1)}), ${nopt} constrained (worst ${worst.opt.toExponential(1)})`)
      compared.ls += nls
      compared.opt += nopt
      t.pass()
    })
  }
}

;(WASI ? avaTest.skip : avaTest.after)('DIPY DKI CLS/CWLS: the fixture tests compared at least 20 voxels', (t) => {
  const n = compared.ls + compared.opt
  t.log(`${n} voxels compared: ${compared.ls} LS, ${compared.opt} constrained`)
  if (compared.ran < compared.tests) {
    t.log(`only ${compared.ran} of ${compared.tests} fixture tests ran (--match): the count is not checked`)
    return
  }
  t.true(n >= MIN_COMPARED, `only ${n} voxels compared (${compared.ls} LS, ${compared.opt} constrained)`)
})

// A noisy 3-shell phantom on which WLS gives negative directional kurtosis in places.
const noisy = simulateDkiPhantom({ shape: [8, 8, 2], snr: 12, seed: 11 })
const noisyGtab = gradientTable(noisy.bvals, noisy.bvecs)

/** Smallest directional W(n) = sum W_ijkl n_i n_j n_k n_l over 500 directions, and smallest D eigenvalue, per voxel. */
function worstDirections(fit: KurtosisFit): { w: number[]; d: number[] } {
  const nvox = fit.status.data.length
  const kt = fit.kt.data
  // DIPY's kt order: W1111 W2222 W3333 W1112 W1113 W1222 W2223 W1333 W2333 W1122 W1133 W2233 W1123 W1223 W1233
  const dirs: number[][] = []
  for (let i = 0; i < 500; i++) {
    const z = 1 - (2 * (i + 0.5)) / 500
    const r = Math.sqrt(1 - z * z)
    const phi = i * Math.PI * (3 - Math.sqrt(5))
    dirs.push([r * Math.cos(phi), r * Math.sin(phi), z])
  }
  const w: number[] = []
  const d: number[] = []
  for (let v = 0; v < nvox; v++) {
    const k = (j: number) => kt[j * nvox + v]
    let m = Infinity
    for (const [x, y, z] of dirs) {
      const val =
        k(0) * x ** 4 + k(1) * y ** 4 + k(2) * z ** 4 +
        4 * (k(3) * x ** 3 * y + k(4) * x ** 3 * z + k(5) * x * y ** 3 + k(6) * y ** 3 * z + k(7) * x * z ** 3 + k(8) * y * z ** 3) +
        6 * (k(9) * x * x * y * y + k(10) * x * x * z * z + k(11) * y * y * z * z) +
        12 * (k(12) * x * x * y * z + k(13) * x * y * y * z + k(14) * x * y * z * z)
      m = Math.min(m, val)
    }
    w.push(m)
    d.push(fit.evals.data[2 * nvox + v])
  }
  return { w, d }
}

test('CLS/CWLS: the fitted kurtosis is non-negative in every direction where WLS/OLS give negative values', async (t) => {
  for (const [free, constrained] of [['WLS', 'CWLS'], ['OLS', 'CLS']] as const) {
    const a = worstDirections(fitDkiSync(noisy.dwi, noisyGtab, { method: free }))
    const fit = await fitDki(noisy.dwi, noisyGtab, { method: constrained })
    const b = worstDirections(fit)
    const negative = a.w.filter((x) => x < -1e-3).length
    t.true(negative >= 5, `${free} should give negative kurtosis somewhere on this phantom (${negative} voxels)`)
    const nConstrained = Array.from(fit.status.data).filter((s) => s === FitStatus.Constrained).length
    t.true(nConstrained >= negative, `${constrained}: ${nConstrained} voxels constrained`)
    // to the solver's tolerance (W is dimensionless, of order 1)
    t.true(b.w.every((x) => x >= -1e-6), `${constrained}: min W(n) ${Math.min(...b.w)}`)
    t.true(b.d.every((x) => x > 0), `${constrained}: min eigenvalue ${Math.min(...b.d)}`)
    // voxels kept unconstrained are exactly the free fit's
    const ref = fitDkiSync(noisy.dwi, noisyGtab, { method: free })
    for (let v = 0; v < fit.status.data.length; v++) {
      if (fit.status.data[v] === FitStatus.Ok && fit.evals.data[v] !== ref.evals.data[v]) t.fail(`voxel ${v} differs from ${free}`)
    }
  }
})

test('CLS/CWLS: NaN voxels are flagged, the others fitted; aborting mid-fit rejects with ERR_ABORTED', async (t) => {
  const data = Float64Array.from(noisy.dwi.data as ArrayLike<number>)
  const nvox = 128
  data[3 * nvox + 9] = NaN
  const f = fitDkiSync({ ...noisy.dwi, data } as Volume, noisyGtab, { method: 'CWLS' })
  t.is(f.status.data[9], FitStatus.NonFinite)
  t.true(Array.from(f.mk().data).every(Number.isFinite))
  t.is(Array.from(f.status.data).filter((s) => s === FitStatus.NonFinite).length, 1)

  const big = simulateDkiPhantom({ shape: [32, 32, 2], snr: 12, seed: 3 })
  const ac = new AbortController()
  let seen = 0
  const pending = fitDki(big.dwi, gradientTable(big.bvals, big.bvecs), {
    method: 'CLS',
    threads: 1,
    signal: ac.signal,
    onProgress: (done) => {
      seen = done
      if (done > 0) ac.abort()
    },
  })
  const e = await t.throwsAsync(pending, { instanceOf: VoxelkitError })
  t.is(e?.code, 'ERR_ABORTED')
  t.true(seen > 0 && seen < 2048, `progress ${seen}`)
})
