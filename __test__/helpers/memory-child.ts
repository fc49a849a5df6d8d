// Run in a child process by memory.spec.ts, one scenario per process:
//   node --expose-gc --import=tsx memory-child.ts SCENARIO N
// A warm-up (default 1000 calls, event loop turned, gc), then N calls, then gc() and the RSS growth in
// MiB, *without* turning the event loop for the synchronous scenarios (the case where outputs
// that only a deferred finalizer frees pile up). Prints one JSON line.
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { VoxelkitError, fitDti, fitDtiSync, gradientTable, readVolume, readVolumeSync, simulateDtiPhantom, writeVolumeSync } from '../../ts/index'

const SCENARIO = Number(process.argv[2] ?? 0)
const N = Number(process.argv[3] ?? 1000)
const WARMUP = Number(process.argv[4] ?? 1000)
const gc = (globalThis as { gc?: () => void }).gc
if (!gc) throw new Error('run with --expose-gc')
const collect = () => {
  gc()
  gc()
}
const rss = () => process.memoryUsage().rss / 2 ** 20
const turn = () => new Promise((r) => setImmediate(r))

const dir = mkdtempSync(join(tmpdir(), 'voxelkit-mem-'))
process.on('exit', () => rmSync(dir, { recursive: true, force: true }))

const ph = simulateDtiPhantom({ shape: [16, 16, 4], seed: 3 })
const gtab = gradientTable(ph.bvals, ph.bvecs)
const nrrdPath = join(dir, 'v.nrrd')
writeVolumeSync(nrrdPath, { data: Float32Array.from({ length: 32 * 32 * 16 }, (_, i) => i), shape: [32, 32, 16] })
const niiPath = join(dir, 'v.nii.gz')
writeVolumeSync(niiPath, { data: Float32Array.from({ length: 32 * 32 * 16 }, (_, i) => i), shape: [32, 32, 16] })
const badNrrd = join(dir, 'bad.nrrd')
writeFileSync(badNrrd, 'NRRD0004\ntype: short\ndimension: 3\nsizes: 64 64 64\nendian: little\nencoding: raw\n\nshort')

const expectError = (f: () => unknown) => {
  try {
    f()
  } catch (e) {
    if (e instanceof VoxelkitError) return
    throw e
  }
  throw new Error('expected a VoxelkitError')
}
const expectReject = async (f: () => Promise<unknown>) => {
  try {
    await f()
  } catch (e) {
    if (e instanceof VoxelkitError) return
    throw e
  }
  throw new Error('expected a VoxelkitError')
}

function fitAndMaps() {
  const fit = fitDtiSync(ph.dwi, gtab, { mask: ph.mask, returnS0: true })
  fit.fa()
  fit.md()
  fit.colorFa()
  fit.lowerTriangular()
  fit.predictSync(gtab)
}
const badSync = [
  () => fitDtiSync(ph.dwi, gtab, { method: 'RESTORE', sigma: -1 }),
  () => gradientTable([0, NaN], [0, 0, 0, 1, 0, 0]),
  () => readVolumeSync(badNrrd),
  () => readVolumeSync(join(dir, 'missing.nii')),
]

type Scenario = [string, (i: number) => unknown, boolean]
const scenarios: Scenario[] = [
  ['sync success: fitDtiSync + 5 maps', () => fitAndMaps(), false],
  ['sync success: readVolumeSync .nrrd + .nii.gz', () => (readVolumeSync(nrrdPath), readVolumeSync(niiPath)), false],
  ['sync errors', (i) => expectError(badSync[i % badSync.length]), false],
  ['async success: fitDti + maps, readVolume', async () => {
    const fit = await fitDti(ph.dwi, gtab, { mask: ph.mask })
    fit.fa()
    fit.colorFa()
    await readVolume(nrrdPath)
  }, true],
  ['async errors', (i) => expectReject(() => (i % 2 ? fitDti(ph.dwi, gtab, { method: 'RESTORE', sigma: -1 }) : readVolume(badNrrd))), true],
]

async function main() {
  const [name, f, isAsync] = scenarios[SCENARIO]
  for (let i = 0; i < WARMUP; i++) await f(i)
  await turn()
  collect()
  await turn()
  collect()
  const warm = rss()
  if (isAsync) for (let i = 0; i < N; i++) await f(i)
  else for (let i = 0; i < N; i++) f(i)
  collect() // no event-loop turn for the synchronous scenarios
  const end = rss()
  console.log(JSON.stringify({ name, scenarios: scenarios.length, calls: N, warm, end, grew: end - warm }))
}
main().catch((e) => {
  console.error(e)
  process.exit(1)
})
