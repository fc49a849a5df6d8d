#!/usr/bin/env node
// Soak test, run by hand (not in CI): memory over repeated calls and cancellation latency.
//
//   npm run build            # the script uses the built package (dist/)
//   node --expose-gc scripts/soak.mjs [--calls 1000] [--reps 5]
//
// Prints a Markdown summary. Nothing is asserted: read the numbers.
//  (i)  RSS over N repeated calls, success path (fitDtiSync on a small phantom + maps) and error
//       path (bad inputs, several of which reach the native layer), after a 100-call warm-up
//       (with global.gc() when --expose-gc was given) and at the end; then once more with the
//       event loop turning every 10 calls (see soak() for why both).
//  (ii) Cancellation: fitDti on a [128, 128, 40] phantom with threads 1, aborted after ~100 ms;
//       the time from abort() to the rejection, and the process CPU time (all threads) spent in
//       the 500 ms after the rejection, which should be about that of an idle process.
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { VoxelkitError, fitDti, fitDtiSync, gradientTable, readVolumeSync, simulateDtiPhantom, version, writeVolumeSync } from '../dist/index.mjs'
import { arg } from './args.mjs'

const CALLS = arg('calls', 1000)
const WARMUP = 100
const REPS = arg('reps', 5)
const MiB = 2 ** 20
const hasGc = typeof globalThis.gc === 'function'
const gc = () => {
  if (hasGc) {
    globalThis.gc()
    globalThis.gc()
  }
}
const rss = () => process.memoryUsage().rss
const sleep = (ms) => new Promise((r) => setTimeout(r, ms))
const cpuMs = (u) => (u.user + u.system) / 1000
const fmt = (x, d = 1) => x.toFixed(d)

const dir = mkdtempSync(join(tmpdir(), 'voxelkit-soak-'))
process.on('exit', () => rmSync(dir, { recursive: true, force: true }))

// ---------------------------------------------------------------------------------------------
// (i) memory
// ---------------------------------------------------------------------------------------------

const small = simulateDtiPhantom({ shape: [16, 16, 4], seed: 3 })
const gtab = gradientTable(small.bvals, small.bvecs)

function successCall() {
  const fit = fitDtiSync(small.dwi, gtab, { mask: small.mask, returnS0: true })
  fit.fa()
  fit.md()
  fit.ad()
  fit.rd()
  fit.colorFa()
  fit.lowerTriangular()
  fit.predictSync(gtab)
}

// malformed files, written once
const valid = join(dir, 'valid.nii')
writeVolumeSync(valid, { data: new Int16Array(64), shape: [4, 4, 4] })
const bytes = readFileSync(valid)
const truncated = join(dir, 'truncated.nii')
writeFileSync(truncated, bytes.subarray(0, bytes.length - 10))
const huge = join(dir, 'huge.nii')
{
  const b = Buffer.from(bytes)
  const dv = new DataView(b.buffer, b.byteOffset, b.byteLength)
  ;[3, 32767, 32767, 25].forEach((d, i) => dv.setInt16(40 + 2 * i, d, true))
  dv.setInt16(70, 16, true)
  dv.setInt16(72, 32, true)
  writeFileSync(huge, b)
}
const badType = join(dir, 'complex.nii')
{
  const b = Buffer.from(bytes)
  new DataView(b.buffer, b.byteOffset, b.byteLength).setInt16(70, 32, true)
  writeFileSync(badType, b)
}

const badCalls = [
  () => fitDtiSync(small.dwi, gtab, { method: 'NLLS' }), // reaches the native layer
  () => fitDtiSync(small.dwi, gtab, { method: 'FOO' }),
  () => fitDtiSync({ ...small.dwi, shape: [16, 16, 4, 65] }, gtab),
  () => gradientTable([0, NaN], [0, 0, 0, 1, 0, 0]), // native
  () => gradientTable([0, 1000], [0, 0, 0, 0.5, 0, 0]), // native
  () => readVolumeSync(truncated), // native
  () => readVolumeSync(huge), // native
  () => readVolumeSync(badType), // native
  () => readVolumeSync(join(dir, 'missing.nii')), // native
]
let unexpected = 0
function errorCall(i) {
  try {
    badCalls[i % badCalls.length]()
    unexpected++
  } catch (e) {
    if (!(e instanceof VoxelkitError)) unexpected++
  }
}

const turn = () => new Promise((r) => setImmediate(r))

// Node-API finalizers of native-allocated buffers run after the event loop turns, so a purely
// synchronous loop holds every output until it yields: phase 1 (the plain loop) shows that
// retention, phase 2 (the same calls, yielding every 10) the steady state.
async function soak(name, f) {
  const start = rss()
  const t0 = performance.now()
  for (let i = 0; i < WARMUP; i++) f(i)
  await turn()
  gc()
  const warm = rss()
  for (let i = WARMUP; i < CALLS; i++) f(i)
  gc()
  const endSync = rss()
  const ext = process.memoryUsage().external
  await turn()
  gc()
  const endTurn = rss()
  const ms = performance.now() - t0
  for (let i = 0; i < CALLS; i++) {
    f(i)
    if (i % 10 === 9) await turn()
  }
  await turn()
  gc()
  const endYield = rss()
  return { name, start, warm, endSync, ext, endTurn, endYield, ms }
}

const mem = [
  await soak('error path: 9 bad inputs in turn', errorCall),
  await soak('success: fitDtiSync [16,16,4] only', () => fitDtiSync(small.dwi, gtab, { mask: small.mask, returnS0: true })),
  await soak('success: fitDtiSync [16,16,4] + 6 maps + predictSync', successCall),
]

// ---------------------------------------------------------------------------------------------
// (ii) cancellation
// ---------------------------------------------------------------------------------------------

const big = simulateDtiPhantom({ shape: [128, 128, 40], seed: 11 })
const bigGtab = gradientTable(big.bvals, big.bvecs)
const nvox = 128 * 128 * 40

// how long the whole fit takes, for scale
let t = performance.now()
await fitDti(big.dwi, bigGtab, { threads: 1 })
const fullMs = performance.now() - t

// idle baseline: CPU of this process in 500 ms of doing nothing
gc()
let c0 = process.cpuUsage()
await sleep(500)
const idleCpu = cpuMs(process.cpuUsage(c0))

const cancels = []
for (let r = 0; r < REPS; r++) {
  gc()
  const ac = new AbortController()
  let lastDone = 0
  const p = fitDti(big.dwi, bigGtab, {
    threads: 1,
    signal: ac.signal,
    onProgress: (d) => {
      lastDone = d
    },
  })
  let tReject = 0
  const settled = p.then(
    () => 'resolved',
    (e) => {
      tReject = performance.now()
      return e instanceof VoxelkitError ? e.code : String(e)
    },
  )
  await sleep(100)
  const tAbort = performance.now()
  ac.abort()
  const code = await settled
  const latency = tReject - tAbort
  c0 = process.cpuUsage()
  await sleep(500)
  const after = cpuMs(process.cpuUsage(c0))
  cancels.push({ code, latency, after, lastDone })
}

// ---------------------------------------------------------------------------------------------
// report
// ---------------------------------------------------------------------------------------------

const out = []
out.push(`## voxelkit soak (${version}, Node ${process.version}, ${process.platform}-${process.arch})`)
out.push('')
out.push(`global.gc: ${hasGc ? 'yes (--expose-gc)' : 'no: run with --expose-gc for stable numbers'}`)
out.push('')
out.push(`### Memory (RSS, MiB)`)
out.push('')
out.push(
  `Phase 1: ${CALLS} calls in a synchronous loop (${WARMUP} warm-up, then ${CALLS - WARMUP}); ` +
    `"turned" = after one event-loop turn + gc. Phase 2: ${CALLS} more calls yielding every 10.`,
)
out.push('')
out.push('| path | start | after warm-up | end of sync loop | **Δ sync loop** | V8 external after gc | turned | end of phase 2 | **Δ phase 2** |')
out.push('|---|---:|---:|---:|---:|---:|---:|---:|---:|')
for (const m of mem) {
  out.push(
    `| ${m.name} | ${fmt(m.start / MiB)} | ${fmt(m.warm / MiB)} | ${fmt(m.endSync / MiB)} | **${fmt((m.endSync - m.warm) / MiB)}** | ` +
      `${fmt(m.ext / MiB)} | ${fmt(m.endTurn / MiB)} | ${fmt(m.endYield / MiB)} | **${fmt((m.endYield - m.endTurn) / MiB)}** |`,
  )
}
out.push('')
out.push(`Error path: ${unexpected === 0 ? 'every call threw a VoxelkitError' : `${unexpected} calls did NOT throw a VoxelkitError`}.`)
out.push('')
out.push(`### Cancellation: fitDti [128,128,40] (${nvox} voxels), threads 1, abort after ~100 ms`)
out.push('')
out.push(`Full fit without abort: ${fmt(fullMs, 0)} ms. Idle baseline: ${fmt(idleCpu)} ms CPU in 500 ms.`)
out.push('')
out.push('| run | outcome | progress at abort | abort() -> rejection (ms) | CPU in 500 ms after (ms) |')
out.push('|---:|---|---:|---:|---:|')
cancels.forEach((c, i) =>
  out.push(`| ${i + 1} | ${c.code} | ${c.lastDone}/${nvox} | ${fmt(c.latency, 2)} | ${fmt(c.after)} |`),
)
const maxLat = Math.max(...cancels.map((c) => c.latency))
const maxCpu = Math.max(...cancels.map((c) => c.after))
out.push(`| **max** | ${cancels.every((c) => c.code === 'ERR_ABORTED') ? 'all ERR_ABORTED' : 'NOT ALL ABORTED'} | | **${fmt(maxLat, 2)}** | **${fmt(maxCpu)}** |`)
console.log(out.join('\n'))
