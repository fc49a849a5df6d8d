// voxelkit contender of the DTI bench (run by benches/run.mjs in its own process, with
// node --expose-gc so each sample's outputs can be dropped before the next one).
//
//   node --expose-gc voxelkit_dti.mjs fit --data X.nii --bval X.bval --bvec X.bvec \
//       --method WLS --threads 1 --samples 5 --warmup 1 --result out.json --dump DIR
//   node --expose-gc voxelkit_dti.mjs io --data X.nii --samples 5 --warmup 1 --result out.json
//
// fit: times fitDtiSync(dwi, gtab, { method, threads }) followed by .fa() .md() .ad() .rd()
// (no mask); the input is read once, before, with readVolumeSync. The FA and evals of the
// last sample go to DIR/fa.f64 and DIR/evals.f64 (float64 little-endian, NIfTI order).
// io: times readVolumeSync(path).
// Progress goes to stderr, the result JSON to --result.
import { contenderArgs, dumpF64, finish, inputFacts, loadVoxelkit, mib, resultBase, timeSamples } from './contender.mjs'

const { a, mode, samples, warmup, threads } = contenderArgs('voxelkit_dti.mjs', { modes: ['fit', 'io'], required: ['data', 'result'] })

const vk = loadVoxelkit() // the package as built: dist/ + native/
// the maps run on the default pool: make `threads` the default so a 1-thread row is 1 thread
vk.setThreads(threads)
const res = resultBase(vk, { mode, threads })
let times

if (mode === 'io') {
  let v
  ;({ times, out: v } = await timeSamples({ warmup, samples }, () => vk.readVolumeSync(a.data), (t, kind) => `io ${kind}: ${t.toFixed(3)} s`))
  Object.assign(res, inputFacts(v))
} else {
  const { bvals, bvecs } = vk.readBvalsBvecs(a.bval, a.bvec)
  const gtab = vk.gradientTable(bvals, bvecs)
  const dwi = vk.readVolumeSync(a.data)
  Object.assign(res, inputFacts(dwi), { rss_after_load_mib: mib(process.memoryUsage().rss) })
  const nvox = dwi.shape.slice(0, -1).reduce((x, y) => x * y, 1)
  let last
  ;({ times, out: last } = await timeSamples(
    { warmup, samples },
    () => {
      const fit = vk.fitDtiSync(dwi, gtab, { method: a.method, threads })
      return { fit, maps: [fit.fa(), fit.md(), fit.ad(), fit.rd()] }
    },
    (t, kind) => `${a.method} ${threads} thr ${kind}: ${t.toFixed(3)} s (${((t / nvox) * 1e6).toFixed(2)} us/voxel)`,
  ))
  const { fit, maps } = last
  // outputs held by the user: evals (3) + evecs (9) + 4 maps, float64
  res.output_mib = mib(fit.evals.data.byteLength + fit.evecs.data.byteLength + maps.reduce((s, m) => s + m.data.byteLength, 0))
  res.voxels = nvox
  if (a.dump) {
    dumpF64(a.dump, 'fa', maps[0].data)
    dumpF64(a.dump, 'evals', fit.evals.data)
  }
}

finish(a.result, res, times)
