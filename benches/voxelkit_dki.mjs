// voxelkit contender of the DKI bench (run by benches/run_dki.mjs in its own process, with
// node --expose-gc so each sample's outputs can be dropped before the next one).
//
//   node --expose-gc voxelkit_dki.mjs MODE --data X.nii --bval X.bval --bvec X.bvec \
//       --method WLS --threads 1 --samples 5 --warmup 1 --result out.json --dump DIR
//
// Timed region per MODE (no mask; the input read once before with readVolumeSync, the
// gradient table built before the clock):
//   all:     fitDkiSync(dwi, gtab, { method, threads }), then .fa() .md() .mk() .ak() .rk() .kfa()
//   fit:     fitDkiSync(dwi, gtab, { method, threads })
//   maps:    .mk() .ak() .rk() .kfa() on a fit made before the clock
//   predict: fit.predictSync(gtab, { threads }) (S0 = 1, DIPY's default) on a fit made before
// `threads` also becomes the default (setThreads) so that the maps, which run on the default
// pool, use the same number of threads as the fit. After the last sample, DIR/evals.f64,
// fa.f64 and mk.f64 (and pred.f64 for predict) hold the outputs (float64 little-endian, NIfTI
// order). For the constrained methods (CLS, CWLS) DIR/moved.f64 holds 1 where the fit's status
// is FitStatus.Constrained (the constraint moved the voxel), and the result JSON counts those
// and the SolverFailed voxels. Progress goes to stderr, the result JSON to --result.
import { contenderArgs, dumpF64, finish, loadDwi, loadVoxelkit, log, mib, resultBase, timeSamples } from './contender.mjs'

const MODES = ['all', 'fit', 'maps', 'predict']
const { a, mode, samples, warmup, threads } = contenderArgs('voxelkit_dki.mjs', { modes: MODES, required: ['data', 'bval', 'bvec', 'result'] })
const method = a.method

const vk = loadVoxelkit() // the package as built: dist/ + native/
vk.setThreads(threads)
const res = resultBase(vk, { mode, method, threads, default_threads: vk.getThreads() })
const { gtab, dwi, nvox } = loadDwi(vk, a, res)

const newFit = () => vk.fitDkiSync(dwi, gtab, { method, threads })
const kurtosisMaps = (fit) => [fit.mk(), fit.ak(), fit.rk(), fit.kfa()]

let base = null
if (mode === 'maps' || mode === 'predict') {
  base = newFit() // the existing fit the timed region works on
  res.rss_after_fit_mib = mib(process.memoryUsage().rss)
}

// each sample: the fit it made or worked on, and what the timed region produced
const region = {
  all: () => {
    const fit = newFit()
    return { fit, out: [fit.fa(), fit.md(), ...kurtosisMaps(fit)] }
  },
  fit: () => ({ fit: newFit(), out: [] }),
  maps: () => ({ fit: base, out: kurtosisMaps(base) }),
  predict: () => ({ fit: base, out: [base.predictSync(gtab, { threads })] }),
}[mode]
const { times, out: last } = await timeSamples(
  { warmup, samples },
  region,
  (t, kind) => `${mode} ${method} ${threads} thr ${kind}: ${t.toFixed(3)} s (${((t / nvox) * 1e6).toFixed(2)} us/voxel)`,
)
const { fit, out } = last
// outputs held by the user: evals (3) + evecs (9) + kt (15) + what the region made, float64
res.output_mib = mib(fit.evals.data.byteLength + fit.evecs.data.byteLength + fit.kt.data.byteLength + out.reduce((s, m) => s + m.data.byteLength, 0))
res.voxels = nvox
const constrained = ['CLS', 'CWLS'].includes(method.toUpperCase())
if (constrained) {
  let moved = 0
  let failed = 0
  for (const s of fit.status.data) {
    if (s === vk.FitStatus.Constrained) moved++
    else if (s === vk.FitStatus.SolverFailed) failed++
  }
  res.moved_voxels = moved
  res.failed_voxels = failed
  log(`${method}: the constraint moved ${moved} of ${nvox} voxels; ${failed} solver failures`)
}
finish(a.result, res, times) // before the dump, which computes more maps

if (a.dump) {
  dumpF64(a.dump, 'evals', fit.evals.data)
  dumpF64(a.dump, 'fa', fit.fa().data)
  dumpF64(a.dump, 'mk', (mode === 'all' ? out[2] : mode === 'maps' ? out[0] : fit.mk()).data)
  if (mode === 'predict') dumpF64(a.dump, 'pred', out[0].data)
  if (constrained) dumpF64(a.dump, 'moved', Float64Array.from(fit.status.data, (s) => (s === vk.FitStatus.Constrained ? 1 : 0)))
}
