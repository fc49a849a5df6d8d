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
import { writeFileSync, mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { collectGarbage as gc, f64Bytes, loadVoxelkit, mib, now, peakRssMib } from './lib.mjs'

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
if (mode !== 'fit' && mode !== 'io') throw new Error('usage: voxelkit_dti.mjs fit|io --data ... --result ...')
if (!a.data || !a.result) throw new Error('--data and --result are required')
const samples = Number(a.samples)
const warmup = Number(a.warmup)
const threads = Number(a.threads)

const log = (msg) => process.stderr.write(`    [voxelkit] ${msg}\n`)

const vk = loadVoxelkit() // the package as built: dist/ + native/
// the maps run on the default pool: make `threads` the default so a 1-thread row is 1 thread
vk.setThreads(threads)
const rssStart = mib(process.memoryUsage().rss)
const res = {
  contender: 'voxelkit',
  mode,
  versions: { node: process.versions.node, voxelkit: vk.version },
  threads,
  rss_after_imports_mib: rssStart,
}
const times = []

if (mode === 'io') {
  for (let i = 0; i < warmup + samples; i++) {
    const t0 = now()
    let v = vk.readVolumeSync(a.data)
    const t = now() - t0
    if (i >= warmup) times.push(t)
    res.shape = v.shape
    res.dtype = v.data.constructor.name
    res.input_mib = mib(v.data.byteLength)
    v = null
    await gc()
  }
  log(`io: ${times.map((t) => t.toFixed(3)).join(' ')} s`)
} else {
  const { bvals, bvecs } = vk.readBvalsBvecs(a.bval, a.bvec)
  const gtab = vk.gradientTable(bvals, bvecs)
  const dwi = vk.readVolumeSync(a.data)
  res.shape = dwi.shape
  res.dtype = dwi.data.constructor.name
  res.input_mib = mib(dwi.data.byteLength)
  res.rss_after_load_mib = mib(process.memoryUsage().rss)
  const nvox = dwi.shape.slice(0, -1).reduce((x, y) => x * y, 1)
  let fit = null
  let maps = null
  for (let i = 0; i < warmup + samples; i++) {
    fit = maps = null // drop the previous sample's outputs before the next run
    await gc()
    const t0 = now()
    fit = vk.fitDtiSync(dwi, gtab, { method: a.method, threads })
    maps = [fit.fa(), fit.md(), fit.ad(), fit.rd()]
    const t = now() - t0
    const kind = i < warmup ? 'warm-up' : `sample ${i - warmup + 1}/${samples}`
    log(`${a.method} ${threads} thr ${kind}: ${t.toFixed(3)} s (${((t / nvox) * 1e6).toFixed(2)} us/voxel)`)
    if (i >= warmup) times.push(t)
  }
  // outputs held by the user: evals (3) + evecs (9) + 4 maps, float64
  res.output_mib = mib(fit.evals.data.byteLength + fit.evecs.data.byteLength + maps.reduce((s, m) => s + m.data.byteLength, 0))
  res.voxels = nvox
  if (a.dump) {
    mkdirSync(a.dump, { recursive: true })
    writeFileSync(join(a.dump, 'fa.f64'), f64Bytes(maps[0].data))
    writeFileSync(join(a.dump, 'evals.f64'), f64Bytes(fit.evals.data))
  }
}

res.times_s = times
res.peak_rss_mib = peakRssMib()
writeFileSync(a.result, JSON.stringify(res))
