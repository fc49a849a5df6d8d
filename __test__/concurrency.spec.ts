// Robustness under concurrency: many async fits at once, cancellation of one among many, the
// module inside worker_threads, and long loops of calls. Results are compared bitwise with the
// sequential synchronous fits (outputs do not depend on scheduling or thread counts).
import test from 'ava'
import { join } from 'node:path'
import { Worker } from 'node:worker_threads'
import { VoxelkitError, fitDti, fitDtiSync, gradientTable, readVolumeSync, simulateDtiPhantom, type DtiMethod, type GradientTable, type TensorFit, type Volume } from '../ts/index'
import { bitsEqual } from './helpers/data'
import { ROOT } from './helpers/fixtures'

interface Ph {
  dwi: Volume
  mask: Volume
  gtab: GradientTable
}

function makePhantom(shape: [number, number, number], seed: number): Ph {
  const p = simulateDtiPhantom({ shape, snr: 20, seed })
  return { dwi: p.dwi, mask: p.mask, gtab: gradientTable(p.bvals, p.bvecs) }
}

// four small phantoms that differ in size and noise
const small: Ph[] = [
  makePhantom([24, 24, 4], 1),
  makePhantom([24, 24, 4], 2),
  makePhantom([20, 28, 4], 3),
  makePhantom([24, 24, 5], 4),
]

/** Every output array of the fit, bitwise equal (Object.is per element, so NaN and -0 count). */
function sameFit(a: TensorFit, b: TensorFit): string | undefined {
  if (!bitsEqual(a.evals.data, b.evals.data)) return 'evals differ'
  if (!bitsEqual(a.evecs.data, b.evecs.data)) return 'evecs differ'
  if (!a.s0 !== !b.s0) return 's0 present in one fit only'
  if (a.s0 && b.s0 && !bitsEqual(a.s0.data, b.s0.data)) return 's0 differs'
  if (!bitsEqual(a.status.data, b.status.data)) return 'status differs'
  return undefined
}

async function codeOf(p: Promise<unknown>): Promise<string> {
  try {
    await p
  } catch (e) {
    return e instanceof VoxelkitError ? e.code : `not a VoxelkitError: ${String(e)}`
  }
  return 'resolved'
}

const tick = (ms: number) => new Promise((r) => setTimeout(r, ms))

interface Job {
  ph: number
  method: DtiMethod
  threads?: number
  masked: boolean
}

// 32 calls: 4 phantoms x 2 methods x {masked, not} x 2 thread settings
const jobs: Job[] = []
for (let i = 0; i < 32; i++) {
  jobs.push({
    ph: i % 4,
    method: (i >> 2) % 2 === 0 ? 'WLS' : 'OLS',
    masked: (i >> 3) % 2 === 0,
    threads: [1, 2, 3, undefined][(i >> 4) * 2 + (i % 2)],
  })
}

const refCache = new Map<string, TensorFit>()
/** The sequential synchronous fit of the same input and options (threads do not matter). */
function reference(j: Job): TensorFit {
  const key = `${j.ph}/${j.method}/${j.masked}`
  let r = refCache.get(key)
  if (!r) {
    const ph = small[j.ph]
    r = fitDtiSync(ph.dwi, ph.gtab, { method: j.method, returnS0: true, threads: 1, ...(j.masked ? { mask: ph.mask } : {}) })
    refCache.set(key, r)
  }
  return r
}

const startJob = (j: Job, extra: object = {}) => {
  const ph = small[j.ph]
  return fitDti(ph.dwi, ph.gtab, {
    method: j.method,
    returnS0: true,
    ...(j.threads !== undefined ? { threads: j.threads } : {}),
    ...(j.masked ? { mask: ph.mask } : {}),
    ...extra,
  })
}

// One large series for cancellation: ~0.5 s of work on one thread.
let bigCache: Ph | undefined
const big = () => (bigCache ??= makePhantom([128, 128, 32], 11))

test.serial('32 concurrent fitDti calls on 4 phantoms equal the sequential sync fits bitwise', async (t) => {
  for (const j of jobs) reference(j) // sequential first
  const results = await Promise.all(jobs.map((j) => startJob(j)))
  results.forEach((r, i) => {
    const j = jobs[i]
    t.is(sameFit(r, reference(j)), undefined, `call ${i}: phantom ${j.ph} ${j.method} threads ${j.threads} masked ${j.masked}`)
  })
  // and the derived maps too, for one of them
  t.true(bitsEqual(results[5].fa().data, reference(jobs[5]).fa().data))
})

for (const when of ['immediately after starting', 'from its first onProgress callback'] as const) {
  test.serial(`cancelling one call ${when} rejects it alone; 8 concurrent calls resolve bitwise equal`, async (t) => {
    const b = big()
    const others = jobs.slice(0, 8)
    for (const j of others) reference(j)
    const ac = new AbortController()
    let progressCalls = 0
    const victim = fitDti(b.dwi, b.gtab, {
      threads: 1,
      signal: ac.signal,
      onProgress:
        when === 'immediately after starting'
          ? undefined
          : () => {
              progressCalls++
              ac.abort()
            },
    })
    const victimCode = codeOf(victim)
    const rest = others.map((j) => startJob(j))
    if (when === 'immediately after starting') ac.abort()
    t.is(await victimCode, 'ERR_ABORTED')
    if (when !== 'immediately after starting') t.true(progressCalls >= 1)
    const results = await Promise.all(rest)
    results.forEach((r, i) => t.is(sameFit(r, reference(others[i])), undefined, `call ${i}`))
  })
}

test.serial('after an abort rejects, the job does no more work and the next large call completes', async (t) => {
  const b = big()
  const ref = fitDtiSync(b.dwi, b.gtab, { threads: 1 })
  const nvox = b.dwi.data.length / b.gtab.length
  const ac = new AbortController()
  const progress: number[] = []
  let settled = false
  const victim = fitDti(b.dwi, b.gtab, {
    threads: 1,
    signal: ac.signal,
    onProgress: (done) => {
      progress.push(done)
      if (progress.length === 1) ac.abort()
    },
  }).finally(() => {
    settled = true
  })
  t.is(await codeOf(victim), 'ERR_ABORTED')
  t.true(settled, 'the rejected promise has settled')
  const seen = progress.length
  t.true(seen >= 1)
  t.true(progress[seen - 1] < nvox, 'stopped before the end')
  // a second large call right away: it runs to the end with the same result as before
  const next = await fitDti(b.dwi, b.gtab, { threads: 1 })
  t.is(sameFit(next, ref), undefined)
  // the aborted call reports nothing more: its progress timer was cleared
  const cpu0 = process.cpuUsage()
  await tick(200)
  const cpu = process.cpuUsage(cpu0)
  t.is(progress.length, seen, 'no progress callback after the rejection')
  t.log(`aborted at ${progress[seen - 1]}/${nvox} voxels; CPU in the 200 ms idle after: ${((cpu.user + cpu.system) / 1000).toFixed(1)} ms`)
})

// Under WebAssembly (WASI threads) a thread spawned off the main thread is started by the main
// thread, so a pool first built inside an async job can wait on a main thread that a sync call
// blocks (the CI's WASI run of radiomics-filters hung so); async calls now build their pool on
// the JS thread first. The pattern here: an async call on a thread count not used before in this
// process (5, 6), then at once a sync call on the same count.
test.serial('an async call on a new thread count, then at once a sync call on it, both complete', async (t) => {
  const p = small[0]
  for (const threads of [5, 6]) {
    const pending = fitDti(p.dwi, p.gtab, { mask: p.mask, threads })
    const now = fitDtiSync(p.dwi, p.gtab, { mask: p.mask, threads })
    t.is(sameFit(await pending, now), undefined)
  }
})

test.serial('the module loads and fits inside worker_threads, two workers at once', async (t) => {
  const dist = join(ROOT, 'dist', 'index.js')
  // FNV-1a over the bytes of FA: equal checksums mean bitwise-equal maps
  const checksum = `(a) => {
    const u8 = new Uint8Array(a.buffer, a.byteOffset, a.byteLength)
    let h = 0x811c9dc5
    for (let i = 0; i < u8.length; i++) { h ^= u8[i]; h = Math.imul(h, 0x01000193) >>> 0 }
    return h.toString(16) + ':' + a.length
  }`
  const code = `
    const { parentPort, workerData } = require('node:worker_threads')
    const vk = require(workerData.dist)
    const checksum = ${checksum}
    ;(async () => {
      try {
        const p = vk.simulateDtiPhantom({ shape: workerData.shape, snr: 20, seed: workerData.seed })
        const g = vk.gradientTable(p.bvals, p.bvecs)
        const fit = workerData.async
          ? await vk.fitDti(p.dwi, g, { mask: p.mask, threads: 2 })
          : vk.fitDtiSync(p.dwi, g, { mask: p.mask })
        let err = 'none'
        try { vk.fitDtiSync(p.dwi, g, { method: 'FOO' }) } catch (e) { err = e instanceof vk.VoxelkitError ? e.code : String(e) }
        parentPort.postMessage({ fa: checksum(fit.fa().data), err })
      } catch (e) {
        parentPort.postMessage({ error: String(e && e.stack || e) })
      }
    })()
  `
  const shape: [number, number, number] = [24, 24, 4]
  const run = (seed: number, async: boolean) =>
    new Promise<{ fa?: string; err?: string; error?: string; exit: number }>((resolve, reject) => {
      const w = new Worker(code, { eval: true, workerData: { dist, shape, seed, async } })
      let msg: { fa?: string; err?: string; error?: string } = {}
      w.on('message', (m) => (msg = m))
      w.on('error', reject)
      w.on('exit', (exit) => resolve({ ...msg, exit }))
    })
  const [a, b] = await Promise.all([run(7, true), run(8, false)])
  // the same fits on the main thread
  const hash = new Function(`return ${checksum}`)() as (a: Float64Array) => string
  const main = (seed: number) => {
    const ph = simulateDtiPhantom({ shape, snr: 20, seed })
    return hash(fitDtiSync(ph.dwi, gradientTable(ph.bvals, ph.bvecs), { mask: ph.mask }).fa().data as Float64Array)
  }
  for (const [r, seed] of [[a, 7], [b, 8]] as const) {
    t.is(r.error, undefined)
    t.is(r.exit, 0, 'the worker exited cleanly')
    t.is(r.err, 'ERR_SETTING', 'coded errors work in the worker')
    t.is(r.fa, main(seed), `FA checksum, seed ${seed}`)
  }
  t.not(a.fa, b.fa)
  // the main thread is unaffected by the workers' exit
  const again = fitDtiSync(small[0].dwi, small[0].gtab, { mask: small[0].mask, returnS0: true })
  t.is(sameFit(again, reference(jobs[0])), undefined)
})

test.serial('200 sync fits and 200 error-path calls in a loop', (t) => {
  const ph = makePhantom([8, 8, 2], 21)
  const first = fitDtiSync(ph.dwi, ph.gtab, { returnS0: true })
  const firstFa = first.fa().data
  let same = 0
  for (let i = 0; i < 200; i++) {
    const f = fitDtiSync(ph.dwi, ph.gtab, { returnS0: true, threads: 1 + (i % 2) })
    if (sameFit(f, first) === undefined && bitsEqual(f.fa().data, firstFa)) same++
  }
  t.is(same, 200)
  const bad: [string, () => unknown][] = [
    ['ERR_SETTING', () => fitDtiSync(ph.dwi, ph.gtab, { method: 'FOO' as never })],
    ['ERR_SHAPE', () => fitDtiSync({ ...ph.dwi, shape: [8, 8, 2, 65] }, ph.gtab)],
    ['ERR_DTYPE', () => fitDtiSync({ ...ph.dwi, data: new BigInt64Array(ph.dwi.data.length) }, ph.gtab)],
    ['ERR_GRADIENTS', () => gradientTable([0, NaN], [0, 0, 0, 1, 0, 0])],
    ['ERR_IO', () => readVolumeSync(join(ROOT, 'no-such-file.nii'))],
    ['ERR_SETTING', () => fitDtiSync(ph.dwi, ph.gtab, { method: 'RESTORE', sigma: -1 })],
  ]
  const tally = new Map<string, number>()
  for (let i = 0; i < 200; i++) {
    const [want, f] = bad[i % bad.length]
    let got = 'no error'
    try {
      f()
    } catch (e) {
      got = e instanceof VoxelkitError ? e.code : `not a VoxelkitError: ${String(e)}`
    }
    const k = got === want ? 'ok' : `${want} -> ${got}`
    tally.set(k, (tally.get(k) ?? 0) + 1)
  }
  t.deepEqual([...tally], [['ok', 200]])
  t.true(bitsEqual(fitDtiSync(ph.dwi, ph.gtab).fa().data, fitDtiSync(ph.dwi, ph.gtab).fa().data))
})
