// The voxelkit side of every bench: what the contender scripts (voxelkit_*.mjs, each run by its
// runner in its own process with node --expose-gc) and the in-process timings of radiomics.mjs
// and nrrd_read.mjs share. The Python contenders have the same in benches/common.py.
//
//   contenderArgs  the contender command line (--data --bval --bvec --method --threads --samples
//                  --warmup --result --dump, a mode as the first positional)
//   timeSamples    warm-up + timed samples, the previous sample's outputs freed outside the clock
//   resultBase     the start of the result JSON (versions, threads, RSS after imports)
//   loadDwi        the dMRI input (gradient table, series), read before the clock
//   dumpF64        one output as float64 little-endian, for the runner's comparison
//   finish         times, peak RSS and the result JSON to --result
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { parseArgs } from 'node:util'
import { f64Bytes, loadVoxelkit, mib, now, peakRssMib, stringOptions } from './lib.mjs'

export { loadVoxelkit, mib, now, peakRssMib }

export const log = (msg) => process.stderr.write(`    [voxelkit] ${msg}\n`)

/**
 * Parses a contender's command line. `modes`: the allowed first positionals (none: no mode);
 * `required`: options without which it cannot run; `options`: more string options. Returns
 * { a (the values), mode, samples, warmup, threads }.
 */
export function contenderArgs(script, { modes, required = ['result'], options = {} } = {}) {
  const { values: a, positionals } = parseArgs({
    allowPositionals: true,
    options: stringOptions({
      data: undefined,
      bval: undefined,
      bvec: undefined,
      method: 'WLS',
      threads: '1',
      samples: '5',
      warmup: '1',
      result: undefined,
      dump: undefined,
      ...options,
    }),
  })
  const mode = positionals[0]
  if (modes && !modes.includes(mode)) throw new Error(`usage: ${script} ${modes.join('|')} --${required.join(' ... --')} ...`)
  const missing = required.filter((k) => !a[k])
  if (missing.length) throw new Error(`${script}: ${missing.map((k) => `--${k}`).join(', ')} required`)
  return { a, mode, samples: Number(a.samples), warmup: Number(a.warmup), threads: Number(a.threads) }
}

// (node --expose-gc gives gc(); without it the collection is left to V8)
const collect = globalThis.gc ?? (() => {})
const tick = () => new Promise((r) => setImmediate(r))
/**
 * Frees the previous sample's outputs: the native (external) buffers are released by
 * finalizers that run only once the event loop turns, so collect, yield, collect.
 */
export async function collectGarbage() {
  collect()
  await tick()
  await tick()
  collect()
}

/**
 * `warmup` untimed then `samples` timed calls of `fn` (sync, or async: awaited inside the clock).
 * Before each call the previous call's outputs are dropped and the garbage collected, outside
 * the clock, so that the peak memory is one call's worth. `describe(t, kind, out)` makes the
 * progress line (kind: `warm-up` or `sample i/n`). Returns { times, out } (out: the last call's).
 */
export async function timeSamples({ warmup, samples }, fn, describe) {
  const times = []
  let out = null
  for (let i = 0; i < warmup + samples; i++) {
    out = null
    await collectGarbage()
    const t0 = now()
    out = fn()
    if (typeof out?.then === 'function') out = await out
    const t = now() - t0
    if (i >= warmup) times.push(t)
    if (describe) log(describe(t, i < warmup ? 'warm-up' : `sample ${i - warmup + 1}/${samples}`, out))
  }
  return { times, out }
}

/** The start of a contender's result JSON. */
export function resultBase(vk, fields) {
  return {
    contender: 'voxelkit',
    ...fields,
    versions: { node: process.versions.node, voxelkit: vk.version },
    rss_after_imports_mib: mib(process.memoryUsage().rss),
  }
}

/** Shape, type and size of the input read (voxelkit Volume), and the RSS with it loaded. */
export function inputFacts(vol) {
  return { shape: vol.shape, dtype: vol.data.constructor.name, input_mib: mib(vol.data.byteLength), rss_after_load_mib: mib(process.memoryUsage().rss) }
}

/**
 * The dMRI input of a contender (--data, --bval, --bvec), read before the clock: the gradient
 * table, the series and its spatial voxel count; its facts (inputFacts) go into `res`.
 */
export function loadDwi(vk, a, res) {
  const { bvals, bvecs } = vk.readBvalsBvecs(a.bval, a.bvec)
  const gtab = vk.gradientTable(bvals, bvecs)
  const dwi = vk.readVolumeSync(a.data)
  Object.assign(res, inputFacts(dwi))
  return { gtab, dwi, nvox: dwi.shape.slice(0, -1).reduce((x, y) => x * y, 1) }
}

/** Writes `data` (a float64 array) to DIR/NAME.f64, little-endian. */
export function dumpF64(dir, name, data) {
  mkdirSync(dir, { recursive: true })
  writeFileSync(join(dir, `${name}.f64`), f64Bytes(data))
}

/**
 * Records `times` and the peak RSS and writes the result JSON to `path`. Call it before dumping
 * the outputs (the dump may compute more): the runner reads both once the process has ended.
 */
export function finish(path, res, times) {
  res.times_s = times
  res.peak_rss_mib = peakRssMib()
  writeFileSync(path, JSON.stringify(res))
}
