#!/usr/bin/env node
// Soak over every public entry point: many mixed calls in one process (good and bad inputs,
// async and sync, aborted calls), RSS sampled as it goes; exits non-zero when memory is not
// flat after warm-up or when any call has an outcome other than the expected one.
//
//   npm run build                      # the script uses the built package (dist/)
//   node --expose-gc scripts/soak-mixed.mjs [--calls 10000] [--workers 4] [--bound-mib 16] [--seed 1]
//
// --workers N runs the same mix in N worker_threads at once (calls split between them) while
// the main thread samples the process's RSS; without it, one thread runs everything.
//
// "Flat": the RSS after warm-up (the first 20 % of the calls) is averaged over each tenth of
// the run; the last tenth's average may exceed the first post-warm-up tenth's by at most
// --bound-mib (default 16 MiB; measured here: +2.7 MiB in one thread, -7.3 MiB with 4 workers).
// The calls allocate and free tens of MiB each second, so RSS moves by allocator and V8 heap
// growth alone; a leak of 2 KiB per call would add 16 MiB over 10,000 calls and fail the check (`--leak-kib 4` retains 4 KiB per call on purpose, to
// see the check fail).
import { Worker, isMainThread, parentPort, workerData } from 'node:worker_threads'
import { mkdtempSync, rmSync, writeFileSync, readFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import * as vk from '../dist/index.mjs'
import { arg, rng } from './args.mjs'

const MiB = 2 ** 20
const gc = () => {
  if (typeof globalThis.gc === 'function') globalThis.gc()
}
const turn = () => new Promise((r) => setImmediate(r))

/** The operations: [name, kind, fn]; kind 'ok' must succeed, 'bad' must throw a VoxelkitError
 * (its code checked when given), 'abort' must reject with ERR_ABORTED. */
function operations(dir, seed) {
  const r = rng(seed)
  const dti = vk.simulateDtiPhantom({ shape: [8, 8, 3], seed: 1 })
  const g = vk.gradientTable(dti.bvals, dti.bvecs)
  const dki = vk.simulateDkiPhantom({ shape: [5, 5, 2], seed: 2 })
  const gk = vk.gradientTable(dki.bvals, dki.bvecs)
  const fshape = [12, 10, 8]
  const nf = fshape[0] * fshape[1] * fshape[2]
  const fdata = new Float32Array(3 * nf)
  for (let i = 0; i < fdata.length; i++) fdata[i] = 0.8 * Math.sin(i * 0.37)
  const affine = [1.5, 0, 0, -3, 0, 1.2, 0, 2, 0, 0, 2, 1, 0, 0, 0, 1]
  const field = { data: fdata, shape: [...fshape, 3], affine }
  const moving = { data: Float64Array.from({ length: nf }, () => r() * 100), shape: fshape, affine }
  const blob = (cx) => Float32Array.from({ length: 400 }, (_, i) => Math.exp(-(((i % 20) - cx) ** 2 + (Math.floor(i / 20) - 10) ** 2) / 18))
  const syn2d = { s: { data: blob(9.5), shape: [20, 20] }, m: { data: blob(10.5), shape: [20, 20] } }
  const rshape = [16, 14, 8]
  const nr = rshape[0] * rshape[1] * rshape[2]
  const image = { data: Int16Array.from({ length: nr }, () => Math.floor(r() * 400)), shape: rshape, spacing: [0.8, 0.8, 2] }
  const mask = new Uint8Array(nr)
  for (let z = 0; z < 8; z++)
    for (let y = 0; y < 14; y++)
      for (let x = 0; x < 16; x++) {
        const q = ((x - 7.5) / 6) ** 2 + ((y - 6.5) / 5) ** 2 + ((z - 3.5) / 3) ** 2
        mask[x + 16 * (y + 14 * z)] = q <= 1 ? 1 : 0
      }
  const vol = { data: image.data, shape: rshape, affine }
  const nii = join(dir, 'v.nii.gz')
  const nrrd = join(dir, 'v.nrrd')
  vk.writeVolumeSync(nii, vol)
  vk.writeVolumeSync(nrrd, vol)
  const niiBytes = readFileSync(join(dir, 'v.nii.gz'))
  const raw = vk.serializeVolumeSync(vol, 'v.nii')
  const truncated = join(dir, 'truncated.nii')
  writeFileSync(truncated, raw.subarray(0, raw.length - 10))
  writeFileSync(join(dir, 'b.bval'), dti.bvals.join(' ') + '\n')
  const bv = [0, 1, 2].map((c) => Array.from({ length: dti.bvals.length }, (_, i) => dti.bvecs[3 * i + c]).join(' '))
  writeFileSync(join(dir, 'b.bvec'), bv.join('\n') + '\n')
  writeFileSync(join(dir, 'p.yaml'), 'setting:\n  binWidth: 25\nfeatureClass:\n  glcm:\n  glrlm:\n')
  writeFileSync(join(dir, 'bad.yaml'), 'setting: [1, 2\n')
  const aborted = () => {
    const ac = new AbortController()
    ac.abort()
    return ac.signal
  }
  const abortSoon = () => {
    const ac = new AbortController()
    setImmediate(() => ac.abort())
    return ac.signal
  }
  const out = (ext) => join(dir, `out-${Math.floor(r() * 4)}.${ext}`)
  return [
    // I/O
    ['readVolumeSync nii.gz', 'ok', () => vk.readVolumeSync(nii)],
    ['readVolume nrrd', 'ok', () => vk.readVolume(nrrd)],
    ['readVolumeSync truncated', 'bad', () => vk.readVolumeSync(truncated), 'ERR_FORMAT'],
    ['readVolume missing', 'bad', () => vk.readVolume(join(dir, 'missing.nii')), 'ERR_IO'],
    ['writeVolumeSync', 'ok', () => vk.writeVolumeSync(out('nii.gz'), vol)],
    ['writeVolume nrrd', 'ok', () => vk.writeVolume(out('nrrd'), vol)],
    ['writeVolumeSync bad name', 'bad', () => vk.writeVolumeSync(join(dir, 'x.foo'), vol), 'ERR_FORMAT'],
    ['parseVolumeSync', 'ok', () => vk.parseVolumeSync(niiBytes, 'v.nii.gz')],
    ['parseVolume garbage', 'bad', () => vk.parseVolume(new Uint8Array(400).fill(7), 'v.nii'), 'ERR_FORMAT'],
    ['serializeVolumeSync', 'ok', () => vk.serializeVolumeSync(vol, 'v.nii.gz')],
    ['serializeVolume nrrd', 'ok', () => vk.serializeVolume(vol, 'v.nrrd')],
    ['serializeVolume bad shape', 'bad', () => vk.serializeVolume({ data: vol.data, shape: [3, 3] }, 'v.nrrd'), 'ERR_SHAPE'],
    ['readBvalsBvecs', 'ok', () => vk.readBvalsBvecs(join(dir, 'b.bval'), join(dir, 'b.bvec'))],
    ['readBvalsBvecs missing', 'bad', () => vk.readBvalsBvecs(join(dir, 'no.bval'), join(dir, 'b.bvec')), 'ERR_IO'],
    // gradients and phantoms
    ['gradientTable', 'ok', () => vk.gradientTable(dti.bvals, dti.bvecs)],
    ['gradientTable NaN', 'bad', () => vk.gradientTable([0, NaN], [0, 0, 0, 1, 0, 0]), 'ERR_GRADIENTS'],
    ['simulateDtiPhantom', 'ok', () => vk.simulateDtiPhantom({ shape: [4, 4, 2], seed: 5 })],
    ['simulateDkiPhantom bad', 'bad', () => vk.simulateDkiPhantom({ shape: [0, 4, 2] })],
    ['setThreads/getThreads', 'ok', () => vk.setThreads(vk.getThreads())],
    ['setThreads 5000', 'bad', () => vk.setThreads(5000), 'ERR_SETTING'],
    // DTI
    [
      'fitDtiSync + maps + predictSync',
      'ok',
      () => {
        const f = vk.fitDtiSync(dti.dwi, g, { mask: dti.mask, returnS0: true })
        f.fa()
        f.md()
        f.colorFa()
        f.predictSync(g)
      },
    ],
    [
      'fitDti + maps + predict',
      'ok',
      async () => {
        const f = await vk.fitDti(dti.dwi, g, { method: 'OLS' })
        f.ad()
        f.rd()
        await f.predict(g)
      },
    ],
    ['fitDtiSync bad method', 'bad', () => vk.fitDtiSync(dti.dwi, g, { method: 'FOO' }), 'ERR_SETTING'],
    ['fitDti bad shape', 'bad', () => vk.fitDti({ ...dti.dwi, shape: [8, 8, 3, 5] }, g), 'ERR_SHAPE'],
    ['fitDti aborted', 'abort', () => vk.fitDti(dti.dwi, g, { signal: aborted() })],
    // DKI
    [
      'fitDkiSync + mk/ak/rk',
      'ok',
      () => {
        const f = vk.fitDkiSync(dki.dwi, gk)
        f.mk()
        f.ak()
        f.rk()
      },
    ],
    ['fitDki + mk', 'ok', async () => (await vk.fitDki(dki.dwi, gk, { method: 'OLS' })).mk()],
    ['fitDki DTI scheme', 'bad', () => vk.fitDki(dti.dwi, g)],
    ['fitDki aborted soon', 'abort-or-ok', () => vk.fitDki(dki.dwi, gk, { signal: abortSoon() })],
    // fields
    ['invertFieldSync', 'ok', () => vk.invertFieldSync(field, { maxIter: 5 })],
    ['invertField', 'ok', () => vk.invertField(field, { maxIter: 5 })],
    ['invertField bad shape', 'bad', () => vk.invertField({ ...field, shape: [12, 10, 8, 2] }), 'ERR_SHAPE'],
    ['invertField aborted', 'abort', () => vk.invertField(field, { signal: aborted() })],
    ['composeFieldsSync', 'ok', () => vk.composeFieldsSync(field, field)],
    ['composeFields', 'ok', () => vk.composeFields(field, field, { timeScaling: 0.5 })],
    ['composeFields NaN scaling', 'bad', () => vk.composeFields(field, field, { timeScaling: NaN }), 'ERR_SETTING'],
    ['warpVolumeSync', 'ok', () => vk.warpVolumeSync(moving, field)],
    ['warpVolume nearest', 'ok', () => vk.warpVolume(moving, field, { interpolation: 'nearest' })],
    ['warpVolume bad interpolation', 'bad', () => vk.warpVolume(moving, field, { interpolation: 'cubic' }), 'ERR_SETTING'],
    // SyN registration (2D 20x20, one level of 2 iterations: small enough for 10,000 calls)
    ['registerSyNSync + transform', 'ok', () => vk.registerSyNSync(syn2d.s, syn2d.m, { levelIters: [2] }).transformSync(syn2d.m)],
    ['registerSyN', 'ok', () => vk.registerSyN(syn2d.s, syn2d.m, { levelIters: [2] })],
    ['registerSyN SSD', 'ok', () => vk.registerSyN(syn2d.s, syn2d.m, { metric: 'SSD', levelIters: [2] })],
    ['registerSyN EM, qLevels 1', 'bad', () => vk.registerSyN(syn2d.s, syn2d.m, { metric: 'EM', qLevels: 1 }), 'ERR_SETTING'],
    ['registerSyN aborted', 'abort', () => vk.registerSyN(syn2d.s, syn2d.m, { levelIters: [2], signal: aborted() })],
    // radiomics
    ['extractFeaturesSync', 'ok', () => vk.extractFeaturesSync(image, mask, { binWidth: 25 })],
    ['extractFeatures', 'ok', () => vk.extractFeatures(image, mask, { binCount: 16, distances: [1, 2] })],
    ['extractFeatures mask shape', 'bad', () => vk.extractFeatures(image, new Uint8Array(10)), 'ERR_SHAPE'],
    ['extractFeatures aborted', 'abort', () => vk.extractFeatures(image, mask, {}, { signal: aborted() })],
    ['extractFeatureMapsSync', 'ok', () => vk.extractFeatureMapsSync(image, mask, { classes: { firstorder: ['Mean'] }, binWidth: 25 })],
    ['extractFeatureMaps', 'ok', () => vk.extractFeatureMaps(image, mask, { classes: { glcm: ['Contrast'] }, binCount: 16 })],
    ['extractFeatureMaps mask shape', 'bad', () => vk.extractFeatureMaps(image, new Uint8Array(10)), 'ERR_SHAPE'],
    ['extractFeatureMaps aborted', 'abort', () => vk.extractFeatureMaps(image, mask, { classes: { glcm: ['Contrast'] } }, { signal: aborted() })],
    ['glcmSync', 'ok', () => vk.glcmSync(image, mask)],
    ['glcm', 'ok', () => vk.glcm(image, mask, { binWidth: 10 })],
    ['glrlmSync', 'ok', () => vk.glrlmSync(image, mask)],
    ['glrlm bad binWidth', 'bad', () => vk.glrlm(image, mask, { binWidth: -1 }), 'ERR_SETTING'],
    ['readParams', 'ok', () => vk.readParams(join(dir, 'p.yaml'))],
    ['readParams bad yaml', 'bad', () => vk.readParams(join(dir, 'bad.yaml')), 'ERR_FORMAT'],
  ]
}

/** Runs `calls` calls drawn from the operations (seeded), yielding every 10; calls `sample`
 * every `every` calls. Returns the outcome counts and the unexpected outcomes. */
const LEAK = arg('leak-kib', 0)
const retained = []

async function run(calls, seed, sample, every) {
  const dir = mkdtempSync(join(tmpdir(), 'voxelkit-soak-mixed-'))
  try {
    const ops = operations(dir, seed)
    const r = rng(seed + 1)
    const counts = { ok: 0, bad: 0, abort: 0 }
    const unexpected = []
    for (let i = 0; i < calls; i++) {
      const [name, kind, fn, code] = ops[Math.floor(r() * ops.length)]
      let err
      try {
        await fn()
      } catch (e) {
        err = e
      }
      const isVk = err instanceof vk.VoxelkitError
      if (kind === 'ok' && err) unexpected.push(`${name}: threw ${err}`)
      else if (kind === 'bad' && (!isVk || (code && err.code !== code))) unexpected.push(`${name}: ${err ? `${err.code ?? ''} ${err}` : 'did not throw'}`)
      else if (kind === 'abort' && !(isVk && err.code === 'ERR_ABORTED')) unexpected.push(`${name}: ${err ? `${err.code} ${err}` : 'not aborted'}`)
      else if (kind === 'abort-or-ok' && err && !(isVk && err.code === 'ERR_ABORTED')) unexpected.push(`${name}: ${err.code} ${err}`)
      counts[kind === 'abort-or-ok' ? 'abort' : kind]++
      if (LEAK > 0) retained.push(new Uint8Array(LEAK * 1024).fill(1))
      if (i % 10 === 9) await turn()
      if (sample && i % every === every - 1) {
        gc()
        sample(i + 1)
      }
    }
    return { counts, unexpected: unexpected.slice(0, 20), nUnexpected: unexpected.length, ops: ops.length }
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
}

if (!isMainThread) {
  const { calls, seed } = workerData
  const res = await run(calls, seed, (done) => parentPort.postMessage({ done }), 100)
  parentPort.postMessage({ result: res })
} else {
  const CALLS = arg('calls', 10000)
  const WORKERS = arg('workers', 0)
  const BOUND = arg('bound-mib', 16)
  const SEED = arg('seed', 1)
  const samples = [] // [calls done, rss]
  const t0 = performance.now()
  let results
  if (WORKERS > 0) {
    const per = Math.ceil(CALLS / WORKERS)
    const done = new Array(WORKERS).fill(0)
    let nextSample = 0
    results = await Promise.all(
      Array.from({ length: WORKERS }, (_, w) => {
        const worker = new Worker(fileURLToPath(import.meta.url), { workerData: { calls: per, seed: SEED + 100 * w } })
        return new Promise((resolve, reject) => {
          worker.on('message', (m) => {
            if (m.done !== undefined) {
              done[w] = m.done
              const total = done.reduce((a, b) => a + b, 0)
              if (total >= nextSample) {
                gc()
                samples.push([total, process.memoryUsage().rss])
                nextSample = total + Math.max(1, Math.floor(CALLS / 100))
              }
            } else if (m.result) resolve(m.result)
          })
          worker.on('error', reject)
          worker.on('exit', (c) => c !== 0 && reject(new Error(`worker ${w} exited with ${c}`)))
        })
      }),
    )
  } else {
    results = [await run(CALLS, SEED, (done) => samples.push([done, process.memoryUsage().rss]), Math.max(1, Math.floor(CALLS / 100)))]
  }
  const secs = (performance.now() - t0) / 1000
  const total = results.reduce((a, r) => a + r.counts.ok + r.counts.bad + r.counts.abort, 0)
  const post = samples.filter(([n]) => n > 0.2 * total)
  const tenth = (k) => {
    const lo = 0.2 * total + (k * 0.8 * total) / 8
    const hi = 0.2 * total + ((k + 1) * 0.8 * total) / 8
    const s = post.filter(([n]) => n > lo && n <= hi).map(([, v]) => v)
    return s.length ? s.reduce((a, b) => a + b, 0) / s.length : NaN
  }
  const first = tenth(0)
  const last = tenth(7)
  const growth = (last - first) / MiB
  const peak = Math.max(...samples.map(([, v]) => v)) / MiB
  const nUnexpected = results.reduce((a, r) => a + r.nUnexpected, 0)
  const counts = results.reduce((a, r) => ({ ok: a.ok + r.counts.ok, bad: a.bad + r.counts.bad, abort: a.abort + r.counts.abort }), { ok: 0, bad: 0, abort: 0 })
  const flat = Number.isFinite(growth) && growth <= BOUND
  console.log(`## voxelkit mixed soak (${vk.version}, Node ${process.version}, ${process.platform}-${process.arch})`)
  console.log('')
  console.log(`| threads | calls | operations | good / bad / aborted | seconds | RSS after warm-up (MiB) | RSS at the end (MiB) | growth (MiB) | peak (MiB) | bound (MiB) | unexpected outcomes |`)
  console.log('|---|---:|---:|---|---:|---:|---:|---:|---:|---:|---:|')
  console.log(
    `| ${WORKERS > 0 ? `${WORKERS} workers` : 'main'} | ${total} | ${results[0].ops} | ${counts.ok} / ${counts.bad} / ${counts.abort} | ${secs.toFixed(1)} | ` +
      `${(first / MiB).toFixed(1)} | ${(last / MiB).toFixed(1)} | ${growth.toFixed(1)} | ${peak.toFixed(1)} | ${BOUND} | ${nUnexpected} |`,
  )
  for (const r of results) for (const u of r.unexpected) console.log(`unexpected: ${u}`)
  if (typeof globalThis.gc !== 'function') console.log('(run with --expose-gc: without it the samples include uncollected garbage)')
  if (!flat) console.log(`NOT FLAT: RSS grew ${growth.toFixed(1)} MiB after warm-up (bound ${BOUND} MiB)`)
  process.exitCode = flat && nUnexpected === 0 ? 0 : 1
}
