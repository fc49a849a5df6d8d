// voxelkit side of the SyN bench (run by benches/syn.mjs, each call in its own process).
//
//   node --expose-gc voxelkit_syn.mjs --input DIR/NAME --shape 96,96,96 --level-iters 10,10,5 \
//       --metric CC|SSD|EM --threads N --samples 1 --warmup 0 --result out.json --dump out.f64
//   node --expose-gc voxelkit_syn.mjs --pair FILE.json ... --dump out.f64 --dump-warped warped.f64
//
// Reads the float64 pair written by dipy_syn.py gen (or the brain pair of dipy_syn.py gen-brain:
// both NRRD files through readVolumeSync, their affines and the prealign) and times
// registerSyNSync(static, moving, { metric, levelIters, threads, prealign }); dumps
// mapping.forward (float64, NIfTI order) for the check, and with --pair the warped moving image
// (--dump-warped) and the field it is warped with (--dump-map, mapping.backward).
import { readFileSync, writeFileSync } from 'node:fs'
import { f64Bytes, mib, readF64 } from './lib.mjs'
import { contenderArgs, finish, loadVoxelkit, resultBase, timeSamples } from './contender.mjs'

const { a, threads, samples, warmup } = contenderArgs('voxelkit_syn.mjs', {
  options: { input: undefined, shape: undefined, pair: undefined, 'dump-warped': undefined, 'dump-map': undefined, 'level-iters': '10,10,5', metric: 'CC' },
  required: ['result', 'dump'],
})
const vk = loadVoxelkit()
const res = resultBase(vk, { threads })
let stat, moving, prealign
if (a.pair) {
  const p = JSON.parse(readFileSync(a.pair, 'utf8'))
  // float64 as DIPY's side gets them (both cast to float32 inside the registration)
  const read = (path) => {
    const v = vk.readVolumeSync(path)
    return { data: Float64Array.from(v.data), shape: v.shape, affine: v.affine }
  }
  stat = read(p.static)
  moving = read(p.moving)
  prealign = p.prealign
} else {
  const shape = a.shape.split(',').map(Number)
  stat = { data: readF64(`${a.input}.static.f64`), shape }
  moving = { data: readF64(`${a.input}.moving.f64`), shape }
}
res.input_mib = mib(stat.data.byteLength + moving.data.byteLength)
const levelIters = a['level-iters'].split(',').map(Number)
const { times, out } = await timeSamples({ warmup, samples }, () => vk.registerSyNSync(stat, moving, { metric: a.metric, levelIters, threads, prealign }), (t, kind) => `SyN ${threads} thread(s) ${kind} ${t.toFixed(2)} s`)
res.output_mib = mib(2 * out.forward.data.byteLength)
res.iterations = out.iterations
finish(a.result, res, times)
writeFileSync(a.dump, f64Bytes(Float64Array.from(out.forward.data)))
// the field transformSync warps with (static to moving, world mm): mapping.backward, as DIPY's
if (a['dump-map']) writeFileSync(a['dump-map'], f64Bytes(Float64Array.from(out.backward.data)))
if (a['dump-warped']) writeFileSync(a['dump-warped'], f64Bytes(Float64Array.from(out.transformSync(moving).data)))
