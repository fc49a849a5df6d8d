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
import { writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { collectGarbage, f64Bytes, loadVoxelkit, mib, now, peakRssMib } from './lib.mjs'

const MODES = ['all', 'fit', 'maps', 'predict']
const { values: a, positionals } = parseArgs({
  allowPositionals: true,
  options: {
    data: { type: 'string' },
    bval: { type: 'string' },
    bvec: { type: 'string' },
    method: { type: 'string', default: 'WLS' },
    threads: { type: 'string', default: '1' },
    samples: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    result: { type: 'string' },
    dump: { type: 'string' },
  },
})
const mode = positionals[0]
if (!MODES.includes(mode)) throw new Error(`usage: voxelkit_dki.mjs ${MODES.join('|')} --data ... --bval ... --bvec ... --result ...`)
if (!a.data || !a.bval || !a.bvec || !a.result) throw new Error('--data, --bval, --bvec and --result are required')
const samples = Number(a.samples)
const warmup = Number(a.warmup)
const threads = Number(a.threads)
const method = a.method

const log = (msg) => process.stderr.write(`    [voxelkit] ${msg}\n`)

const vk = loadVoxelkit() // the package as built: dist/ + native/
vk.setThreads(threads)
const res = {
  contender: 'voxelkit',
  mode,
  method,
  versions: { node: process.versions.node, voxelkit: vk.version },
  threads,
  default_threads: vk.getThreads(),
  rss_after_imports_mib: mib(process.memoryUsage().rss),
}
const { bvals, bvecs } = vk.readBvalsBvecs(a.bval, a.bvec)
const gtab = vk.gradientTable(bvals, bvecs)
const dwi = vk.readVolumeSync(a.data)
res.shape = dwi.shape
res.dtype = dwi.data.constructor.name
res.input_mib = mib(dwi.data.byteLength)
res.rss_after_load_mib = mib(process.memoryUsage().rss)
const nvox = dwi.shape.slice(0, -1).reduce((x, y) => x * y, 1)

const newFit = () => vk.fitDkiSync(dwi, gtab, { method, threads })
const kurtosisMaps = (fit) => [fit.mk(), fit.ak(), fit.rk(), fit.kfa()]

let base = null
if (mode === 'maps' || mode === 'predict') {
  base = newFit() // the existing fit the timed region works on
  res.rss_after_fit_mib = mib(process.memoryUsage().rss)
}

const times = []
let fit = null
let out = null
for (let i = 0; i < warmup + samples; i++) {
  fit = out = null // drop the previous sample's outputs before the next run
  await collectGarbage()
  const t0 = now()
  if (mode === 'all') {
    fit = newFit()
    out = [fit.fa(), fit.md(), ...kurtosisMaps(fit)]
  } else if (mode === 'fit') {
    fit = newFit()
    out = []
  } else if (mode === 'maps') {
    fit = base
    out = kurtosisMaps(fit)
  } else {
    fit = base
    out = [fit.predictSync(gtab, { threads })]
  }
  const t = now() - t0
  const kind = i < warmup ? 'warm-up' : `sample ${i - warmup + 1}/${samples}`
  log(`${mode} ${method} ${threads} thr ${kind}: ${t.toFixed(3)} s (${((t / nvox) * 1e6).toFixed(2)} us/voxel)`)
  if (i >= warmup) times.push(t)
}
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
res.times_s = times
res.peak_rss_mib = peakRssMib() // before the dump, which computes more maps

if (a.dump) {
  mkdirSync(a.dump, { recursive: true })
  const dump = (name, vol) => writeFileSync(join(a.dump, `${name}.f64`), f64Bytes(vol.data))
  dump('evals', fit.evals)
  dump('fa', fit.fa())
  dump('mk', mode === 'all' ? out[2] : mode === 'maps' ? out[0] : fit.mk())
  if (mode === 'predict') dump('pred', out[0])
  if (constrained) dump('moved', { data: Float64Array.from(fit.status.data, (s) => (s === vk.FitStatus.Constrained ? 1 : 0)) })
}
writeFileSync(a.result, JSON.stringify(res))
