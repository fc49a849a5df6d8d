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
// The last sample's output is dumped (float64, NIfTI order) for the correctness check.
import { createRequire } from 'node:module'
import { readFileSync, writeFileSync } from 'node:fs'
import { dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const ROOT = resolve(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const { values: a } = parseArgs({
  options: {
    op: { type: 'string' },
    input: { type: 'string' },
    shape: { type: 'string' },
    threads: { type: 'string', default: '1' },
    samples: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    result: { type: 'string' },
    dump: { type: 'string' },
  },
})
const log = (msg) => process.stderr.write(`    [voxelkit] ${msg}\n`)
const tick = () => new Promise((r) => setImmediate(r))
async function gc() {
  globalThis.gc?.()
  await tick()
  await tick()
  globalThis.gc?.()
}
const read = (p) => {
  const b = readFileSync(p)
  return new Float64Array(b.buffer, b.byteOffset, b.byteLength / 8)
}
const vk = require(ROOT)
const shape = a.shape.split(',').map(Number)
const threads = Number(a.threads)
const d1 = { data: read(`${a.input}.d1.f64`), shape: [...shape, 3] }
let fn
if (a.op === 'invert') fn = () => vk.invertFieldSync(d1, { maxIter: 20, tolerance: 1e-3, threads })
else if (a.op === 'compose') {
  const d2 = { data: read(`${a.input}.d2.f64`), shape: [...shape, 3] }
  fn = () => vk.composeFieldsSync(d1, d2, { threads })
} else {
  const img = { data: read(`${a.input}.img.f64`), shape }
  fn = () => vk.warpVolumeSync(img, d1, { threads })
}
const times = []
let out
const nw = Number(a.warmup)
for (let i = 0; i < nw + Number(a.samples); i++) {
  out = undefined
  await gc()
  const t0 = process.hrtime.bigint()
  out = fn()
  const t = Number(process.hrtime.bigint() - t0) / 1e9
  if (i >= nw) times.push(t)
  log(`${a.op} ${threads} thread(s) ${i < nw ? 'warm-up' : 'sample'} ${t.toFixed(3)} s${out.stats?.iterations !== undefined ? ` (${out.stats.iterations} iterations)` : ''}`)
}
writeFileSync(a.dump, Buffer.from(Float64Array.from(out.data).buffer))
writeFileSync(
  a.result,
  JSON.stringify({ times_s: times, threads, peak_rss_mib: process.resourceUsage().maxRSS / 1024, voxelkit: vk.version, op_stats: out.stats ?? null }),
)
