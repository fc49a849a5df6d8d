#!/usr/bin/env node
// Differential check of readParams' parser (`paramsFromText`) against another build of it: the
// same values (type-exact: -0, NaN, strings vs numbers, typed arrays, Maps, shared and cyclic
// objects) and the same errors (code and message) on the parameter-file corpus, the
// repository's parameter files, and seeded mutations of both (alias- and sigma-heavy tokens).
// Used to prove that a faster parse path (issue 19) keeps readParams' semantics.
//
//   npm run build                                  # this tree's dist/
//   git worktree add ../voxelkit-base <commit> && (cd ../voxelkit-base && npm ci && npx tsc -p tsconfig.json)
//   node scripts/fuzz-params-diff.mjs --base ../voxelkit-base/dist [--runs 200000] [--seed 1] [--codes-only [--show REGEX]]
//
// --codes-only: errors compared by code alone (another YAML parser words its errors its own
// way), values still type-exactly; every input is run and the disagreements are counted by
// category (value vs value, value vs error, error vs value, error code vs error code), with
// the shortest examples of each; the exit status is 1 when values differ (value vs value).
import { readFileSync, readdirSync, statSync } from 'node:fs'
import { createRequire } from 'node:module'
import { join, dirname, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { paramsFromText } from '../dist/radiomics.js'
import { arg, rng } from './args.mjs'

const ROOT = join(dirname(fileURLToPath(import.meta.url)), '..')
const i = process.argv.indexOf('--base')
if (i < 0) throw new Error('--base DIR (a dist/ built from the commit to compare with) is required')
const base = createRequire(import.meta.url)(join(resolve(process.argv[i + 1]), 'radiomics.js')).paramsFromText
const RUNS = arg('runs', 200000)
const CODES_ONLY = process.argv.includes('--codes-only')
// --show REGEX: print every disagreement whose category and reason match
const SHOW = process.argv.includes('--show') ? new RegExp(process.argv[process.argv.indexOf('--show') + 1]) : null
const r = rng(arg('seed', 1))
const pick = (a) => a[Math.floor(r() * a.length)]
process.emitWarning = () => {}

/** Parameter files: the corpus and every .yaml/.yml/.json under fixtures/ and examples/. */
function files() {
  const out = []
  const dir = join(ROOT, 'fuzz', 'corpus-min', 'params')
  for (const f of readdirSync(dir)) out.push({ name: f.endsWith('.json') ? 'p.json' : 'p.yaml', text: readFileSync(join(dir, f), 'latin1') })
  const walk = (d, depth) => {
    if (depth > 4) return
    let entries = []
    try {
      entries = readdirSync(d)
    } catch {
      return
    }
    for (const e of entries) {
      if (e === 'node_modules' || e.startsWith('.')) continue
      const p = join(d, e)
      if (statSync(p).isDirectory()) walk(p, depth + 1)
      else if (/\.(ya?ml|json)$/i.test(e) && statSync(p).size < 65536) out.push({ name: e, text: readFileSync(p, 'utf8') })
    }
  }
  for (const d of ['fixtures', 'examples', 'benches']) walk(join(ROOT, d), 0)
  return out
}

const TOKENS = ['&a ', '*a', '&b ', '*b', '<<: *a\n', 'sigma: [1.0, 2, 3e0]\n', 'sigma: ', '[', ']', '{', '}', ', ', '\n  ', '\n', '- ', ': ', '1.0', '.5', '2e-1', '!!float ', '!!str ', '!!binary ', '!!omap ', '!!set ', '? ', 'setting:\n  ', 'imageType:\n  LoG:\n    sigma: [1.0, 2.0]\n', '"', "'", '#', '---\n', '...\n', '%YAML 1.1\n', '~', 'null']

function mutate(t, corpus) {
  let s = t
  for (let k = r() < 0.7 ? 1 : 2; k > 0; k--) {
    const pos = Math.floor(r() * (s.length + 1))
    const u = r()
    if (u < 0.45) s = s.slice(0, pos) + pick(TOKENS) + s.slice(pos)
    else if (u < 0.6) s = s.slice(0, pos) + s.slice(pos + 1 + Math.floor(r() * 8))
    else if (u < 0.75) s = s.slice(0, pos) + s.slice(pos, pos + 1 + Math.floor(r() * 24)) + s.slice(pos)
    else if (u < 0.9) s = s.slice(0, pos) + pick(corpus).text.slice(Math.floor(r() * 64))
    else s = s.slice(0, pos) + String.fromCharCode(Math.floor(r() * 128)) + s.slice(pos + 1)
  }
  return s.length > 4096 ? s.slice(0, 4096) : s
}

/** A type-exact, cycle-safe description of a value. */
function canon(x, seen = new Map()) {
  if (x === null) return 'null'
  switch (typeof x) {
    case 'number':
      return Object.is(x, -0) ? 'num:-0' : `num:${x}`
    case 'string':
      return `str:${JSON.stringify(x)}`
    case 'object': {
      if (seen.has(x)) return `ref:${seen.get(x)}`
      seen.set(x, seen.size)
      const kind = Object.prototype.toString.call(x)
      if (ArrayBuffer.isView(x)) return `${kind}[${Array.from(x).join(',')}]`
      if (x instanceof Map) return `Map{${[...x].map(([k, v]) => `${canon(k, seen)}=>${canon(v, seen)}`).join(',')}}`
      if (x instanceof Set) return `Set{${[...x].map((v) => canon(v, seen)).join(',')}}`
      if (Array.isArray(x)) return `[${Array.from({ length: x.length }, (_, j) => (j in x ? canon(x[j], seen) : 'hole')).join(',')}]`
      return `${kind}{${Reflect.ownKeys(x).map((k) => `${String(k)}:${canon(x[k], seen)}`).join(',')}}`
    }
    default:
      return `${typeof x}:${String(x)}`
  }
}

function outcome(f, text, name) {
  try {
    return `ok ${canon(f(text, name))}`
  } catch (e) {
    return CODES_ONLY ? `${e?.code ?? e?.constructor?.name}` : `${e?.code ?? e?.constructor?.name} ${e?.message}`
  }
}

/** The base's and this tree's error messages, for the examples of --codes-only. */
function message(f, text, name) {
  try {
    f(text, name)
    return ''
  } catch (e) {
    return String(e?.message).split('\n')[0].slice(0, 200)
  }
}

const corpus = files()
const t0 = Date.now()
let same = 0
const kinds = new Map()
/** --codes-only: category -> { n, examples: [{ name, text, a, b }] } (the shortest 6 kept) */
const diffs = new Map()
for (let n = 0; n < RUNS + corpus.length; n++) {
  const seed = n < corpus.length ? corpus[n] : pick(corpus)
  const text = n < corpus.length ? seed.text : mutate(seed.text, corpus)
  const name = r() < 0.15 ? 'p.json' : seed.name
  const a = outcome(base, text, name)
  const b = outcome(paramsFromText, text, name)
  if (a !== b) {
    if (!CODES_ONLY) {
      console.error(`fuzz-params-diff: DIFFERENT outcome for ${JSON.stringify(name)} ${JSON.stringify(text)}\n  base: ${a.slice(0, 400)}\n  this: ${b.slice(0, 400)}`)
      process.exit(1)
    }
    const side = (o) => (o.startsWith('ok') ? 'value' : 'error')
    const cat = `${side(a)} vs ${side(b)}${side(a) === 'error' && side(b) === 'error' ? ` (${a} vs ${b})` : ''}`
    const d = diffs.get(cat) ?? { n: 0, examples: [], reasons: new Map() }
    d.n++
    // why: the message of the side that refused (this tree's when both did), without positions
    const why = (side(b) === 'error' ? message(paramsFromText, text, name) : message(base, text, name))
      .replace(/^\S+ is not valid (YAML|JSON): /, '')
      .replace(/ ?\(\d+:\d+\)| at line \d+, column \d+:?|, got .*| '[^']*'/g, '')
      .slice(0, 90)
    d.reasons.set(why, (d.reasons.get(why) ?? 0) + 1)
    if (SHOW && SHOW.test(`${cat} ${why}`)) console.log(`${cat}: ${why}: ${JSON.stringify(text)}\n  base: ${a.slice(0, 300)}\n  this: ${b.slice(0, 300)}`)
    if (d.examples.length < 6 || text.length < d.examples[d.examples.length - 1].text.length) {
      d.examples.push({ name, text, a: side(a) === 'error' ? `${a}: ${message(base, text, name)}` : a, b: side(b) === 'error' ? `${b}: ${message(paramsFromText, text, name)}` : b })
      d.examples.sort((x, y) => x.text.length - y.text.length)
      d.examples.length = Math.min(d.examples.length, 6)
    }
    diffs.set(cat, d)
    continue
  }
  same++
  const k = a.startsWith('ok') ? 'ok' : a.split(' ')[0]
  kinds.set(k, (kinds.get(k) ?? 0) + 1)
}
const total = RUNS + corpus.length
console.log(`fuzz-params-diff: ${total} inputs (${corpus.length} files, the rest mutated) in ${((Date.now() - t0) / 1000).toFixed(1)} s: ${same} the same ${CODES_ONLY ? 'values and error codes' : 'values and errors'}; outcomes: ${[...kinds].map(([k, v]) => `${k} ${v}`).join(', ')}`)
for (const [cat, d] of [...diffs].sort((x, y) => y[1].n - x[1].n)) {
  console.log(`\n${cat}: ${d.n}`)
  for (const [why, k] of [...d.reasons].sort((x, y) => y[1] - x[1]).slice(0, 12)) console.log(`  ${k} x ${why}`)
  for (const e of d.examples) console.log(`  ${JSON.stringify(e.name)} ${JSON.stringify(e.text.length > 300 ? e.text.slice(0, 300) + '…' : e.text)} (${e.text.length} chars)\n    base: ${e.a.slice(0, 300)}\n    this: ${e.b.slice(0, 300)}`)
}
if ([...diffs.keys()].some((c) => c === 'value vs value')) process.exit(1)
