#!/usr/bin/env node
// Fuzzes the text inputs the TypeScript layer parses:
//  --target params (default): the PyRadiomics parameter-file path a user's file takes,
//    `readParams` (YAML or JSON) -> `settingsFromParams` -> `extractFeaturesSync` on a small
//    image. Invariant: features, or a VoxelkitError with ERR_FORMAT, ERR_SETTING,
//    ERR_UNSUPPORTED or ERR_SHAPE and a message.
//  --target csv: the CSV of cases (`voxelkit radiomics cases.csv`, the cohort commands),
//    `parseCsv`. Invariant: ERR_FORMAT or a table whose every row has the header's columns,
//    and which `csvLines` writes back to text that parses to the same table.
// A JavaScript fuzzer of our own (libFuzzer does not reach the TypeScript layer, and
// jazzer.js' native part downloads from outside the npm registry): seeded mutations (bit
// flips, byte insertions and deletions, duplicated and spliced ranges, tokens from a YAML/JSON
// and PyRadiomics dictionary), with outcome-signature feedback: an input whose outcome (error
// code and message shape, or the feature keys) is new joins the corpus.
//
//   npm run build
//   node scripts/fuzz-params.mjs [--target params|csv] [--runs 100000 | --seconds S] [--seed 1] [--max-len 4096] [--merge]
//
// Speed (issue 19): the params target runs `paramsFromText`, the parser `readParams` itself
// calls on the file's text, in memory (no file per input); an extraction's outcome is cached by
// the settings it got (a type-exact key: the extraction is deterministic, and settings that
// are not plain JSON-like values are never cached), so a mutation that changes only the
// syntax (spacing, quoting, flow or block style, anchors) costs its parse. Like libFuzzer's
// -len_control, inputs start short (at most the longest seed, at least 64 bytes) and the limit
// grows by half (up to --max-len) after 10,000 runs without a new outcome.
//
// Anything outside the invariant (a TypeError, a RangeError, a non-coded error, a hang past
// 10 s, twice) is a finding, written to fuzz/artifacts/<target>/ and the script exits 1. Seeds:
// fuzz/corpus-min/<target>/ (with --merge, the inputs of new outcomes, at most 200, are written
// there too).
import { mkdirSync, readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join, dirname } from 'node:path'
import { fileURLToPath } from 'node:url'
import { createHash } from 'node:crypto'
import * as vk from '../dist/index.mjs'
import { paramsFromText, settingsFromParams } from '../dist/radiomics.js'
import { csvLines, parseCsv } from '../dist/cliKit.js'
import { arg, rng } from './args.mjs'
import { watchdog } from './watchdog.mjs'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const RUNS = arg('runs', 100000)
const SECONDS = arg('seconds', 0)
const SEED = arg('seed', 1)
const MAX_LEN = arg('max-len', 4096)
const MERGE = process.argv.includes('--merge')
const TARGET = process.argv.includes('--target') ? process.argv[process.argv.indexOf('--target') + 1] : 'params'
if (TARGET !== 'params' && TARGET !== 'csv') throw new Error(`unknown --target ${TARGET} (params, csv)`)
const CODES = new Set(['ERR_FORMAT', 'ERR_SETTING', 'ERR_UNSUPPORTED', 'ERR_SHAPE'])

const r = rng(SEED)
const pick = (a) => a[Math.floor(r() * a.length)]

const DICT = [
  'setting:', 'featureClass:', 'imageType:', 'voxelSetting:', '\n  ', '\n', ': ', '- ', '[', ']', '{', '}', ',', '"', "'",
  '&a ', '*a', '<<: ', '!!str ', '!!int ', '!!float ', '!!binary ', '!!set ', '? ', '|', '>', '~', 'null', 'true', 'false',
  '.inf', '-.inf', '.nan', '0x1F', '0o17', '1e309', '-0', '1e-320', '9007199254740993', '-1', '0', '2.5', '"25"',
  'binWidth', 'binCount', 'label', 'distances', 'force2D', 'force2Ddimension', 'symmetricalGLCM', 'weightingNorm',
  'resegmentRange', 'resegmentMode', 'normalize', 'normalizeScale', 'removeOutliers', 'minimumROIDimensions',
  'minimumROISize', 'ibsi', 'aggregation', '3D_merged', '2D_slice_merged', 'resampledPixelSpacing', 'interpolator',
  'padDistance', 'voxelArrayShift', 'gldm_a', 'glcm', 'glrlm', 'glszm', 'gldm', 'ngtdm', 'firstorder', 'shape',
  'shape2D', 'Original', 'LoG', 'Wavelet', 'sigma', 'absolute', 'relative', 'euclidean', 'manhattan', 'infinity',
  'no_weighting', 'Contrast', '__proto__', 'constructor', 'toString', 'hasOwnProperty',
  // CSV
  '""', '","', '\r\n', '\r', '"\n"', 'Image', 'Mask', 'Label', 'Case', '\ufeff', ' , ', '\u2028',
]

function mutate(buf, corpus, maxLen) {
  let b = Buffer.from(buf)
  const n = 1 + Math.floor(r() * 4)
  for (let k = 0; k < n; k++) {
    const pos = Math.floor(r() * (b.length + 1))
    switch (Math.floor(r() * 7)) {
      case 0: // bit flip
        if (b.length) b[Math.min(pos, b.length - 1)] ^= 1 << Math.floor(r() * 8)
        break
      case 1: // random byte
        b = Buffer.concat([b.subarray(0, pos), Buffer.from([Math.floor(r() * 256)]), b.subarray(pos)])
        break
      case 2: {
        // delete a range
        const len = Math.floor(r() * 8) + 1
        b = Buffer.concat([b.subarray(0, pos), b.subarray(pos + len)])
        break
      }
      case 3: {
        // duplicate a range
        const len = Math.floor(r() * 16) + 1
        b = Buffer.concat([b.subarray(0, pos), b.subarray(pos, pos + len), b.subarray(pos)])
        break
      }
      case 4:
      case 5: // dictionary token
        b = Buffer.concat([b.subarray(0, pos), Buffer.from(pick(DICT)), b.subarray(pos)])
        break
      default: {
        // splice with another corpus entry
        const o = pick(corpus).data
        const cut = Math.floor(r() * (o.length + 1))
        b = Buffer.concat([b.subarray(0, pos), o.subarray(cut)])
      }
    }
  }
  return b.length > maxLen ? b.subarray(0, maxLen) : b
}

// a small image and ROI
const shape = [7, 6, 4]
const n = shape[0] * shape[1] * shape[2]
const ir = rng(7)
const image = { data: Int16Array.from({ length: n }, () => Math.floor(ir() * 300)), shape, spacing: [1, 1, 2] }
const mask = new Uint8Array(n)
for (let i = 0; i < n; i++) mask[i] = ((i % 7) - 3) ** 2 + ((Math.floor(i / 7) % 6) - 2.5) ** 2 < 7 ? 1 : 0

// readParams' YAML warnings (js-yaml's: an unknown directive or YAML version) go to process.emitWarning; the outcome is what is checked
process.emitWarning = () => {}

/**
 * A key that tells settings apart exactly (types, -0, NaN, key order), or undefined for values
 * that are not plain JSON-like data (typed arrays, Maps, Sets, class instances, cycles): those
 * are never cached.
 */
function settingsKey(x, depth = 0) {
  if (depth > 64) return undefined
  if (x === null) return 'n'
  switch (typeof x) {
    case 'number':
      return Object.is(x, -0) ? 'd-0' : `d${x}`
    case 'string':
      return `s${JSON.stringify(x)}`
    case 'boolean':
      return x ? 'T' : 'F'
    case 'undefined':
      return 'u'
    case 'bigint':
      return `b${x}`
    case 'object': {
      const proto = Object.getPrototypeOf(x)
      if (Array.isArray(x) && proto === Array.prototype) {
        const parts = []
        for (let i = 0; i < x.length; i++) {
          if (!(i in x)) return undefined
          const k = settingsKey(x[i], depth + 1)
          if (k === undefined) return undefined
          parts.push(k)
        }
        return `[${parts.join(',')}]`
      }
      if (proto !== Object.prototype && proto !== null) return undefined
      if (Object.getOwnPropertySymbols(x).length) return undefined
      const parts = []
      for (const name of Object.getOwnPropertyNames(x)) {
        const d = Object.getOwnPropertyDescriptor(x, name)
        if (!('value' in d) || !d.enumerable) return undefined
        const k = settingsKey(d.value, depth + 1)
        if (k === undefined) return undefined
        parts.push(`${JSON.stringify(name)}:${k}`)
      }
      return `${proto === null ? 'N' : ''}{${parts.join(',')}}`
    }
    default:
      return undefined
  }
}
const extracted = new Map()
let cacheHits = 0
/** Caches an outcome (at most 200,000: the oldest half is dropped beyond). */
function remember(key, sig) {
  if (key === undefined) return
  if (extracted.size >= 200000) {
    let drop = extracted.size / 2
    for (const k of extracted.keys()) {
      if (drop-- <= 0) break
      extracted.delete(k)
    }
  }
  extracted.set(key, sig)
}

function finding(msg, cause) {
  const err = new Error(`finding: ${msg}`)
  err.finding = true
  err.cause = cause
  return err
}

/** The CSV target: parse, check the table, write it back with csvLines and parse again. */
function runCsv(data) {
  const text = data.toString('utf8')
  let t
  try {
    t = parseCsv(text, 'cases.csv')
  } catch (e) {
    if (!(e instanceof vk.VoxelkitError) || e.code !== 'ERR_FORMAT' || !e.message) throw finding(`${e?.constructor?.name} ${e?.code ?? ''} ${e?.message ?? e}`, e)
    return `${e.code}:${e.message.slice(0, 40)}`
  }
  const unique = new Set(t.columns).size === t.columns.length
  for (const row of t.rows) {
    const keys = Object.keys(row)
    if (unique && (keys.length !== t.columns.length || !t.columns.every((c) => Object.hasOwn(row, c)))) throw finding(`a row lacks columns: ${JSON.stringify(row)}`)
    if (Object.values(row).some((v) => typeof v !== 'string')) throw finding('a cell is not a string')
  }
  if (unique && t.rows.length > 0) {
    const expected = t.rows
    {
      const back = parseCsv(csvLines(expected).join('\n') + '\n', 'written.csv')
      const same =
        back.columns.length === t.columns.length &&
        (() => {
          const have = new Set(back.columns) // (includes() per column was quadratic in wide tables)
          return t.columns.every((c) => have.has(c))
        })() &&
        back.rows.length === expected.length &&
        expected.every((r, i) => t.columns.every((c) => back.rows[i][c] === r[c]))
      if (!same) throw finding(`csvLines does not round-trip: ${JSON.stringify(expected).slice(0, 200)} -> ${JSON.stringify(back).slice(0, 200)}`)
    }
  }
  // columns counted up to 16 (every count was an outcome of its own, which drove the corpus
  // towards ever wider tables: slower inputs, no new code)
  return `ok:${Math.min(t.columns.length, 16)}:${Math.min(t.rows.length, 5)}`
}

/** Runs one input; returns its outcome signature, or throws the finding. */
function runOne(data, json) {
  if (TARGET === 'csv') return runCsv(data)
  let key
  try {
    const p = paramsFromText(data.toString('utf8'), json ? 'p.json' : 'p.yaml')
    const s = settingsFromParams(p)
    key = settingsKey(s)
    if (key !== undefined && extracted.has(key)) {
      cacheHits++
      return extracted.get(key)
    }
    const f = vk.extractFeaturesSync(image, mask, s, { threads: 1 })
    const sig = `ok:${Object.keys(f).length}`
    remember(key, sig)
    return sig
  } catch (e) {
    if (!(e instanceof vk.VoxelkitError) || !CODES.has(e.code) || !e.message) {
      throw finding(`${e?.constructor?.name} ${e?.code ?? ''} ${e?.message ?? e}`, e)
    }
    // the message's shape: without the input's name, the leading words (the parsers' messages
    // go on with excerpts of the input, which would make every input an outcome of its own)
    const m = e.message.replace(/^p\.(yaml|json)\b:? ?/, '').replace(/^is not valid (JSON|YAML): /, '$1 ')
    const sig = `${e.code}:${/^[A-Za-z ,()_-]*/.exec(m)[0].slice(0, 60)}`
    remember(key, sig)
    return sig
  }
}

const seedDir = join(ROOT, 'fuzz', 'corpus-min', TARGET)
const corpus = readdirSync(seedDir).map((f) => ({ data: readFileSync(join(seedDir, f)), json: f.endsWith('.json') }))
const seen = new Set()
for (const c of corpus) seen.add(runOne(c.data, c.json))
const fresh = []
// len control: start short, grow by half after 10,000 runs without a new outcome
let maxLen = Math.min(MAX_LEN, Math.max(64, ...corpus.map((c) => c.data.length)))
let sinceNew = 0
Error.stackTraceLimit = 0
const t0 = performance.now()
const cpu0 = process.cpuUsage()
let runs = 0
let slowest = 0
// a call that never returns (no timing below could see it): reported with its input written to
// fuzz/artifacts/<target>/hang-<sha1> (scripts/watchdog.mjs; --hang S, default 60)
const dog = watchdog({ seconds: arg('hang', 60), label: `fuzz-params (${TARGET})`, artifactDir: join(ROOT, 'fuzz', 'artifacts', TARGET) })
try {
  while (SECONDS > 0 ? performance.now() - t0 < SECONDS * 1000 : runs < RUNS) {
    if (++sinceNew > 10000 && maxLen < MAX_LEN) {
      maxLen = Math.min(MAX_LEN, Math.ceil(maxLen * 1.5))
      sinceNew = 0
    }
    const base = pick(corpus)
    const data = mutate(base.data, corpus, maxLen)
    const json = r() < 0.25 ? !base.json : base.json
    const t = performance.now()
    let sig
    dog.start(`run ${runs + 1} seed ${SEED}`, data, TARGET === 'csv' ? '.csv' : json ? '.json' : '.yaml')
    try {
      sig = runOne(data, json)
    } catch (e) {
      if (!e.finding) throw e
      const dir = join(ROOT, 'fuzz', 'artifacts', TARGET)
      mkdirSync(dir, { recursive: true })
      const file = join(dir, `crash-${createHash('sha1').update(data).digest('hex').slice(0, 12)}.${TARGET === 'csv' ? 'csv' : json ? 'json' : 'yaml'}`)
      writeFileSync(file, data)
      // the loop runs without stack traces (capturing them was a sixth of the time: the YAML
      // parser builds an error object per complaint); the finding's input again, with them
      Error.stackTraceLimit = 50
      let stack = ''
      try {
        runOne(data, json)
      } catch (again) {
        stack = again.cause?.stack ?? ''
      }
      console.log(`${e.message}\n${stack}\ninput written to ${file}`)
      process.exit(1)
    }
    let dt = performance.now() - t
    if (dt > 10000) {
      // wall time: a fuzzer at nice 19 beside a build can wait seconds for the CPU; a slow input
      // must be slow again
      const again = performance.now()
      try {
        runOne(data, json)
      } catch {}
      dt = Math.min(dt, performance.now() - again)
    }
    dog.stop()
    slowest = Math.max(slowest, dt)
    if (dt > 10000) {
      const dir = join(ROOT, 'fuzz', 'artifacts', TARGET)
      mkdirSync(dir, { recursive: true })
      const file = join(dir, `slow-${createHash('sha1').update(data).digest('hex').slice(0, 12)}.${TARGET === 'csv' ? 'csv' : json ? 'json' : 'yaml'}`)
      writeFileSync(file, data)
      console.log(`finding: an input took ${dt.toFixed(0)} ms\ninput written to ${file}`)
      process.exit(1)
    }
    runs++
    if (runs % 100000 === 0) {
      const c = process.cpuUsage(cpu0)
      console.error(`#${runs} ${Math.round(runs / ((performance.now() - t0) / 1000))} exec/s, ${Math.round(runs / ((c.user + c.system) / 1e6))} per CPU-s, ${seen.size} signatures, max_len ${maxLen}` + (TARGET === 'params' ? `, cached outcomes ${extracted.size}, hits ${cacheHits}` : ''))
    }
    if (!seen.has(sig)) {
      sinceNew = 0
      seen.add(sig)
      const entry = { data, json }
      corpus.push(entry)
      fresh.push(entry)
    }
  }
} finally {
  const secs = (performance.now() - t0) / 1000
  const c = process.cpuUsage(cpu0)
  const cpuSecs = (c.user + c.system) / 1e6
  console.log(
    `| \`${TARGET}\` (${TARGET === 'csv' ? 'parseCsv, csvLines round trip' : 'readParams -> settingsFromParams -> extractFeaturesSync'}) | ${runs} | ${secs.toFixed(0)} | ${Math.round(runs / secs)} | ${Math.round(runs / cpuSecs)} per CPU-s | ` +
      `${seen.size} outcome signatures | corpus ${corpus.length} | max_len ${maxLen} | slowest ${slowest.toFixed(1)} ms | findings 0 |`,
  )
}
if (MERGE) {
  for (const [i, e] of fresh.slice(0, 200).entries()) {
    const h = createHash('sha1').update(e.data).digest('hex').slice(0, 12)
    writeFileSync(join(seedDir, `found-${h}.${TARGET === 'csv' ? 'csv' : e.json ? 'json' : 'yaml'}`), e.data)
    if (i >= 199) break
  }
}
