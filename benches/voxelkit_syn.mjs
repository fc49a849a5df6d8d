// voxelkit side of the SyN bench (run by benches/syn.mjs, each call in its own process).
//
//   node --expose-gc voxelkit_syn.mjs --input DIR/NAME --shape 96,96,96 --level-iters 10,10,5 \
//       --metric CC|SSD|EM --threads N --samples 1 --warmup 0 --result out.json --dump out.f64
//
// Reads the float64 pair written by dipy_syn.py gen and times registerSyNSync(static, moving,
// { metric, levelIters, threads }); dumps mapping.forward (float64, NIfTI order) for the check.
import { writeFileSync } from 'node:fs'
import { f64Bytes, mib, readF64 } from './lib.mjs'
import { contenderArgs, finish, loadVoxelkit, resultBase, timeSamples } from './contender.mjs'

const { a, threads, samples, warmup } = contenderArgs('voxelkit_syn.mjs', {
  options: { input: undefined, shape: undefined, 'level-iters': '10,10,5', metric: 'CC' },
  required: ['input', 'shape', 'result', 'dump'],
})
const vk = loadVoxelkit()
const res = resultBase(vk, { threads })
const shape = a.shape.split(',').map(Number)
const stat = { data: readF64(`${a.input}.static.f64`), shape }
const moving = { data: readF64(`${a.input}.moving.f64`), shape }
res.input_mib = mib(stat.data.byteLength + moving.data.byteLength)
const levelIters = a['level-iters'].split(',').map(Number)
const { times, out } = await timeSamples({ warmup, samples }, () => vk.registerSyNSync(stat, moving, { metric: a.metric, levelIters, threads }), (t, kind) => `SyN ${threads} thread(s) ${kind} ${t.toFixed(2)} s`)
res.output_mib = mib(2 * out.forward.data.byteLength)
res.iterations = out.iterations
finish(a.result, res, times)
writeFileSync(a.dump, f64Bytes(Float64Array.from(out.forward.data)))
