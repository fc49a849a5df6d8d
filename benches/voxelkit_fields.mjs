// voxelkit side of the field bench (run by benches/fields.mjs, each call in its own process,
// with node --expose-gc so each sample's output can be dropped before the next one).
//
//   node --expose-gc voxelkit_fields.mjs --op invert|compose|warp --input DIR/NAME \
//       --shape 128,128,96 --threads N --samples 5 --warmup 1 --result out.json --dump out.f64
//
// Reads the raw float64 inputs written by dipy_fields.py gen (NIfTI order, identity grid) once,
// then times one call per sample:
//   invert:  invertFieldSync(d1, { maxIter: 20, tolerance: 1e-3, threads })
//   compose: composeFieldsSync(d1, d2, { threads })
//   warp:    warpVolumeSync(img, d1, { threads })   (trilinear)
// The last sample's output is dumped (float64, NIfTI order) for the correctness check, after the
// peak RSS is read.
import { writeFileSync } from 'node:fs'
import { f64Bytes, readF64 } from './lib.mjs'
import { contenderArgs, finish, loadVoxelkit, resultBase, timeSamples } from './contender.mjs'

const { a, threads, samples, warmup } = contenderArgs('voxelkit_fields.mjs', {
  options: { op: undefined, input: undefined, shape: undefined },
  required: ['op', 'input', 'shape', 'result', 'dump'],
})
const vk = loadVoxelkit()
const res = resultBase(vk, { op: a.op, threads })
const shape = a.shape.split(',').map(Number)
const d1 = { data: readF64(`${a.input}.d1.f64`), shape: [...shape, 3] }
let fn
if (a.op === 'invert') fn = () => vk.invertFieldSync(d1, { maxIter: 20, tolerance: 1e-3, threads })
else if (a.op === 'compose') {
  const d2 = { data: readF64(`${a.input}.d2.f64`), shape: [...shape, 3] }
  fn = () => vk.composeFieldsSync(d1, d2, { threads })
} else {
  const img = { data: readF64(`${a.input}.img.f64`), shape }
  fn = () => vk.warpVolumeSync(img, d1, { threads })
}
const { times, out } = await timeSamples(
  { warmup, samples },
  fn,
  (t, kind, o) => `${a.op} ${threads} thread(s) ${kind} ${t.toFixed(3)} s${o.stats?.iterations !== undefined ? ` (${o.stats.iterations} iterations)` : ''}`,
)
res.op_stats = out.stats ?? null
finish(a.result, res, times)
writeFileSync(a.dump, f64Bytes(out.data))
