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
import { contenderArgs, dumpF64, finish, inputFacts, loadDwi, loadVoxelkit, mib, resultBase, timeSamples } from './contender.mjs'

const { a, mode, samples, warmup, threads } = contenderArgs('voxelkit_dti.mjs', { modes: ['fit', 'io'], required: ['data', 'result'] })

const vk = loadVoxelkit() // the package as built: dist/ + native/
// the maps run on the default pool: make `threads` the default so a 1-thread row is 1 thread
vk.setThreads(threads)
const res = resultBase(vk, { mode, threads })

if (mode === 'io') {
  const { times, out } = await timeSamples({ warmup, samples }, () => vk.readVolumeSync(a.data), (t, kind) => `io ${kind}: ${t.toFixed(3)} s`)
  finish(a.result, Object.assign(res, inputFacts(out)), times)
} else {
  const { gtab, dwi, nvox } = loadDwi(vk, a, res)
  const fitAndMaps = () => {
    const fit = vk.fitDtiSync(dwi, gtab, { method: a.method, threads })
    return { fit, maps: [fit.fa(), fit.md(), fit.ad(), fit.rd()] }
  }
  const describe = (t, kind) => `${a.method} ${threads} thr ${kind}: ${t.toFixed(3)} s (${((t / nvox) * 1e6).toFixed(2)} us/voxel)`
  const { times, out } = await timeSamples({ warmup, samples }, fitAndMaps, describe)
  const { fit, maps } = out
  // outputs held by the user: evals (3) + evecs (9) + 4 maps, float64
  res.output_mib = mib(fit.evals.data.byteLength + fit.evecs.data.byteLength + maps.reduce((s, m) => s + m.data.byteLength, 0))
  res.voxels = nvox
  finish(a.result, res, times)
  if (a.dump) {
    dumpF64(a.dump, 'fa', maps[0].data)
    dumpF64(a.dump, 'evals', fit.evals.data)
  }
}
