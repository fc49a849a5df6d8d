// Inputs found by the JavaScript-level fuzzers (scripts/fuzz-params.mjs, scripts/fuzz-options.mjs),
// replayed with the outcome they must now have. The Rust-level findings live in each crate's
// tests/fuzz_regressions.rs.
import test from 'ava'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  VoxelkitError,
  extractFeaturesSync,
  fitDti,
  fitDtiSync,
  glcmSync,
  gradientTable,
  invertFieldSync,
  parseVolumeSync,
  readParams,
  registerSyN,
  registerSyNSync,
  serializeVolumeSync,
  simulateDkiPhantom,
  simulateDtiPhantom,
  warpVolumeSync,
  type Volume,
} from '../ts/index'
import { paramsFromText } from '../ts/radiomics'
import { settingsFromParams } from '../ts/radiomics'
import { csvLines, parseCsv } from '../ts/cliKit'

const shape = [6, 5, 4]
const n = shape[0] * shape[1] * shape[2]
const image: Volume = { data: Int16Array.from({ length: n }, (_, i) => (i * 37) % 200), shape }
const mask = Uint8Array.from({ length: n }, (_, i) => (i % 3 === 0 ? 1 : 0))

function settingError(f: () => unknown, t: { is: (a: unknown, b: unknown) => void; true: (a: boolean, m?: string) => void }) {
  try {
    f()
    t.true(false, 'expected ERR_SETTING')
  } catch (e) {
    t.true(e instanceof VoxelkitError, String(e))
    t.is((e as VoxelkitError).code, 'ERR_SETTING')
  }
}

test('a YAML !!binary value in the settings is ERR_SETTING, not a binding conversion error (fuzz-params crash-1d0885e1d2c6)', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'voxelkit-fuzzreg-'))
  try {
    const p = join(dir, 'p.json')
    // the minimised finding: JSON parsed as YAML (the file is .json, but mutated to .yaml too)
    writeFileSync(join(dir, 'p.yaml'), '{"setting": {"binWidth": 25, "label": !!binary 2, "preCrop": true}}\n')
    writeFileSync(p, '{"setting": {"binWidth": 25}}\n')
    // since issue 19 (js-yaml with the YAML 1.2 core schema) the file itself is refused: an
    // unknown tag is ERR_FORMAT; the settings the `yaml` package made of it (a Buffer) still are
    // ERR_SETTING at the extraction
    t.is(codeOf(() => readParams(join(dir, 'p.yaml'))), 'ERR_FORMAT')
    settingError(() => extractFeaturesSync(image, mask, { binWidth: 25, label: Buffer.from('2', 'base64'), preCrop: true } as never), t)
    t.true(Object.keys(extractFeaturesSync(image, mask, settingsFromParams(readParams(p)))).length > 0)
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})

test('settings values that are not JSON data are ERR_SETTING', (t) => {
  const cycle: Record<string, unknown> = { binWidth: 25 }
  cycle.self = cycle
  for (const bad of [
    { binWidth: new Uint8Array([2]) },
    { distances: new Set([1]) },
    { label: new Map() },
    { binWidth: new Date(0) },
    { binWidth: () => 25 },
    { binWidth: 25n },
    { distances: [1, Symbol('x')] },
    cycle,
  ]) {
    settingError(() => extractFeaturesSync(image, mask, bad as never), t)
  }
  // plain data still works, null-prototype objects included
  const plain = Object.assign(Object.create(null), { binWidth: 25, distances: [1] })
  t.true(Object.keys(extractFeaturesSync(image, mask, plain)).length > 0)
})

test('the CSV of cases: quoted cells keep commas, quotes and line breaks, and csvLines round-trips', (t) => {
  const rows = [
    { Image: 'a,b.nii.gz', Mask: 'm "q".nrrd', Label: '1' },
    { Image: 'multi\nline.nii', Mask: 'crlf\r\nname.nii', Label: '' },
  ]
  const text = csvLines(rows).join('\n') + '\n'
  const back = parseCsv(text, 'cases.csv')
  t.deepEqual(back.columns, ['Image', 'Mask', 'Label'])
  t.deepEqual(back.rows, rows)
  // CRLF records, blank records skipped, missing cells '' and extra cells dropped
  const crlf = parseCsv('Image,Mask\r\n\r\n"x\r\ny",m\r\nonly\r\n1,2,3\r\n', 'c.csv')
  t.deepEqual(crlf.rows, [
    { Image: 'x\r\ny', Mask: 'm' },
    { Image: 'only', Mask: '' },
    { Image: '1', Mask: '2' },
  ])
  // one column named '' or holding blank cells (fuzz-params --target csv crash-1d3581c851ff)
  for (const one of [[{ '': 'Image' }], [{ Image: '' }, { Image: '  ' }, { Image: 'x' }]]) {
    const b = parseCsv(csvLines(one).join('\n') + '\n', 'one.csv')
    t.deepEqual(b.rows, one)
  }
  for (const bad of ['', '\n  \n', 'Image\n"open']) {
    const e = t.throws(() => parseCsv(bad, 'bad.csv'))
    t.is((e as VoxelkitError).code, 'ERR_FORMAT')
  }
})

/** The code a call throws (a VoxelkitError's), or the name of what else it threw. */
function codeOf(f: () => unknown): string {
  try {
    f()
    return 'no error'
  } catch (e) {
    return e instanceof VoxelkitError ? e.code : `${(e as Error)?.constructor?.name}: ${(e as Error)?.message}`
  }
}

const throwing = (key: string) =>
  Object.defineProperty({}, key, {
    enumerable: true,
    get() {
      throw new Error('getter threw')
    },
  })
const hostile = () =>
  new Proxy(
    {},
    {
      get: () => {
        throw new Error('trap')
      },
      ownKeys: () => {
        throw new Error('trap')
      },
      getPrototypeOf: () => {
        throw new Error('trap')
      },
    },
  )

test('fuzz-options: weights and sigma refuse strings and BigInts instead of coercing them (README: [\'1\'] was read as 1)', (t) => {
  const p = simulateDtiPhantom({ shape: [4, 4, 1], seed: 1 })
  const g = gradientTable(p.bvals, p.bvecs)
  const n = p.bvals.length
  t.is(codeOf(() => fitDtiSync(p.dwi, g, { method: 'NLLS', weights: Array.from({ length: n }, () => '1') as never })), 'ERR_SETTING')
  t.is(codeOf(() => fitDtiSync(p.dwi, g, { method: 'NLLS', weights: new BigInt64Array(n) as never })), 'ERR_SETTING')
  t.is(codeOf(() => fitDtiSync(p.dwi, g, { method: 'RESTORE', sigma: ['5'] as never })), 'ERR_SETTING')
  // numbers in any non-BigInt typed array still work, and give the same fit as an Array
  const a = fitDtiSync(p.dwi, g, { method: 'NLLS', weights: new Array(n).fill(1) }).evals.data
  const b = fitDtiSync(p.dwi, g, { method: 'NLLS', weights: new Uint8Array(n).fill(1) }).evals.data
  t.deepEqual(Array.from(a), Array.from(b))
})

test('fuzz-options: getters and Proxy traps that throw are coded errors, never the user\'s exception', (t) => {
  const p = simulateDtiPhantom({ shape: [4, 4, 1], seed: 1 })
  const g = gradientTable(p.bvals, p.bvecs)
  t.is(codeOf(() => fitDtiSync(p.dwi, g, throwing('method') as never)), 'ERR_SETTING')
  t.is(codeOf(() => fitDtiSync(p.dwi, g, hostile() as never)), 'ERR_SETTING')
  t.is(codeOf(() => fitDtiSync(hostile() as never, g)), 'ERR_SHAPE')
  // fuzz-options seed 21, run 64068: a Proxy as weights threw its getPrototypeOf trap's error out
  // of the façade's `instanceof` test
  t.is(codeOf(() => fitDtiSync(p.dwi, g, { method: 'NLLS', weights: hostile() as never })), 'ERR_SETTING')
  t.is(codeOf(() => fitDtiSync(p.dwi, g, { method: 'RESTORE', sigma: hostile() as never })), 'ERR_SETTING')
  t.is(codeOf(() => gradientTable(p.bvals, p.bvecs, throwing('atol') as never)), 'ERR_GRADIENTS')
  t.is(codeOf(() => gradientTable(hostile() as never, p.bvecs)), 'ERR_GRADIENTS')
  t.is(codeOf(() => parseVolumeSync(hostile() as never, 'v.nii')), 'ERR_SETTING')
  t.is(codeOf(() => serializeVolumeSync({ data: new Int16Array(8), shape: [2, 2, 2] }, 'v.nii', throwing('encoding') as never)), 'ERR_SETTING')
  const image: Volume = { data: new Int16Array(27).fill(5), shape: [3, 3, 3] }
  const m = new Uint8Array(27).fill(1)
  t.is(codeOf(() => extractFeaturesSync(image, m, Object.assign(throwing('binWidth'), { classes: ['firstorder'] }))), 'ERR_SETTING')
})

test('fuzz-options: sparse, string and non-positive spacing is ERR_SHAPE (a hole reached the binding as undefined)', (t) => {
  const data = new Int16Array(27).fill(5)
  const m = new Uint8Array(27).fill(1)
  // eslint-disable-next-line no-sparse-arrays
  for (const spacing of [[, 2, ,], ['1', 1, 1], [0, 1, 1], [NaN, 1, 1]]) {
    t.is(codeOf(() => extractFeaturesSync({ data, shape: [3, 3, 3], spacing: spacing as number[] }, m, { classes: ['firstorder'] })), 'ERR_SHAPE', String(spacing))
  }
  const field = { data: new Float32Array(4 * 4 * 3 * 3), shape: [4, 4, 3, 3], spacing: [1, -1, 1] }
  t.is(codeOf(() => invertFieldSync(field)), 'ERR_SHAPE')
  const f2 = { data: new Float32Array(4 * 4 * 3 * 3), shape: [4, 4, 3, 3] }
  t.is(codeOf(() => warpVolumeSync({ data: new Float32Array(48), shape: [4, 4, 3] }, f2, { reference: { shape: [4, 4, 3], spacing: ['1', 1, 1] as never } })), 'ERR_SHAPE')
})

test('fuzz-options: a Proxy of an array as a shape, and phantom options of the wrong type, are handled', (t) => {
  const v = { data: new Float32Array(48), shape: new Proxy([4, 4, 3], {}) }
  const f = { data: new Float32Array(4 * 4 * 3 * 3), shape: [4, 4, 3, 3] }
  t.deepEqual(warpVolumeSync(v, f).shape, [4, 4, 3])
  t.is(codeOf(() => simulateDkiPhantom({ snr: [1, 2, 3] as never })), 'ERR_SETTING')
  t.is(simulateDtiPhantom({ shape: new Proxy([4, 4, 1], {}) as never }).dwi.shape.length, 4)
  // the campaign's finding: a Proxy of an affine reached the binding from the radiomics entry points
  const image: Volume = { data: new Int16Array(27).fill(5), shape: [3, 3, 3], affine: new Proxy([1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1], {}) }
  t.true(Object.keys(extractFeaturesSync(image, new Uint8Array(27).fill(1), { classes: ['firstorder'] })).length > 0)
})

test('fuzz-options: a sparse phantom shape, a hostile gtab and a BigInt s0 are coded errors', (t) => {
  // eslint-disable-next-line no-sparse-arrays
  t.is(codeOf(() => simulateDkiPhantom({ shape: [, 4, ,] as never })), 'ERR_SETTING')
  const p = simulateDtiPhantom({ shape: [4, 4, 1], seed: 1 })
  const g = gradientTable(p.bvals, p.bvecs)
  const fit = fitDtiSync(p.dwi, g)
  t.is(codeOf(() => fit.predictSync(hostile() as never)), 'ERR_GRADIENTS')
  t.is(codeOf(() => fit.predictSync(g, { s0: { data: new BigInt64Array(16), shape: [4, 4, 1] } as never })), 'ERR_DTYPE')
  t.is(codeOf(() => fit.predictSync(g, { s0: hostile() as never })), 'ERR_SHAPE')
})

test('fuzz-options: settings with more than 100,000 values (a sparse array of 2^20) are ERR_SETTING, not a binding error', (t) => {
  const image: Volume = { data: new Int16Array(27).fill(5), shape: [3, 3, 3] }
  const m = new Uint8Array(27).fill(1)
  t.is(codeOf(() => glcmSync(image, m, { aggregation: new Array(2 ** 20) as never })), 'ERR_SETTING')
})

test('fuzz-options: binWidth beyond float64\'s range is ERR_SETTING, not a capacity-overflow panic', (t) => {
  const image: Volume = { data: Int16Array.from({ length: 27 }, (_, i) => i), shape: [3, 3, 3] }
  const m = new Uint8Array(27).fill(1)
  t.is(codeOf(() => glcmSync(image, m, { binWidth: 1e308 })), 'ERR_SETTING')
  t.is(codeOf(() => extractFeaturesSync(image, m, { binWidth: 1e308, classes: ['firstorder'] })), 'ERR_SETTING')
  t.true(Object.keys(extractFeaturesSync(image, m, { binWidth: 1e300, classes: ['firstorder'] })).length > 0)
})

test('readParams: sigma spellings survive aliases, and a cyclic alias is ERR_FORMAT (the one-parse path)', (t) => {
  const p = paramsFromText('setting:\n  sigma: [1.0, 2, 3e0]\n  x: &a {b: [1, 2]}\n  y: *a\n', 'p.yaml')
  t.deepEqual(p.setting.sigma, ['1.0', 2, '3e0'])
  // an alias that repeats a sigma list: the lists and the syntax tree's sigma pairs differ in
  // number, and the spellings are left alone (as before the one-parse path)
  const q = paramsFromText('setting:\n  sigma: [1.0]\n  x: &a {sigma: [2.50]}\n  y: *a\n', 'p.yaml')
  t.deepEqual(q.setting.sigma, [1])
  t.is(codeOf(() => paramsFromText('setting: &x [*x]\n', 'p.yaml')), 'ERR_FORMAT')
  t.is(codeOf(() => paramsFromText('setting: {a: 1, a: 2}\n', 'p.yaml')), 'ERR_FORMAT')
})

test('readParams: YAML 1.2 core schema values as the yaml package resolved them (js-yaml since issue 19)', (t) => {
  const v = (y: string): unknown => paramsFromText(`setting:\n  x: ${y}\n`, 'p.yaml').setting.x
  const cases: [string, unknown][] = [
    ['~', null], ['Null', null], ['NULL', null], ['', null], ['nUll', 'nUll'],
    ['True', true], ['FALSE', false], ['yes', 'yes'], ['on', 'on'], ['tRue', 'tRue'],
    ['0o17', 15], ['0x1F', 31], ['0b11', '0b11'], ['1_000', '1_000'], ['+12', 12], ['-0', -0], ['017', 17], ['0X1F', '0X1F'],
    ['.inf', Infinity], ['-.Inf', -Infinity], ['+.INF', Infinity], ['.NaN', NaN], ['-.nan', '-.nan'], ['.Nan', '.Nan'],
    ['1e3', 1000], ['1.', 1], ['.5', 0.5], ['1.5E-2', 0.015], ['1e', '1e'], ['1:30', '1:30'], ['2001-12-14', '2001-12-14'],
    ['!', ''], ['!!float 1.0', 1], ['!!int "0x10"', 16], ['!!str 1.0', '1.0'], ['!!null', null], ['"1.0"', '1.0'], ["'~'", '~'],
  ]
  for (const [y, want] of cases) t.is(v(y), want, y)
  for (const bad of ['!!float 1', '!!int 1.0', '!!bool yes', '!!binary AAAA', '!!set {a}', '!!omap [a: 1]', '!!timestamp 2001-12-14', '!foo 1']) {
    t.is(codeOf(() => v(bad)), 'ERR_FORMAT', bad)
  }
  // keys: a null key is '' (as the yaml package made it); a collection key is refused (PyYAML:
  // unhashable), so is a YAML 1.1 document (the yaml package switched schema) and a control character
  t.deepEqual(paramsFromText('setting:\n  ? \n  : 2\n  b: 3\n', 'p.yaml').setting, { '': 2, b: 3 } as never)
  t.is(codeOf(() => paramsFromText('setting:\n  ~: 1\n  ? \n  : 2\n', 'p.yaml')), 'ERR_FORMAT')
  t.deepEqual(paramsFromText('setting: {~: 1}\n', 'p.yaml').setting, { '': 1 } as never)
  t.deepEqual(paramsFromText('setting:\n  1: a\n  .inf: b\n  true: c\n', 'p.yaml').setting, { 1: 'a', Infinity: 'b', true: 'c' } as never)
  for (const bad of ['setting:\n  [a, b]: 1\n', 'setting:\n  ? {a: 1}\n  : 2\n', 'setting: {[a]: 1}\n', 'setting: [[a]: 1]\n', '%YAML 1.1\n---\nsetting: {a: yes}\n', 'setting: {a: \x01}\n']) {
    t.is(codeOf(() => paramsFromText(bad, 'p.yaml')), 'ERR_FORMAT', bad)
  }
})

test('readParams: sigma spellings from the parse events (js-yaml listener) as from the yaml syntax tree', (t) => {
  const sigma = (y: string): unknown => (paramsFromText(y, 'p.yaml').imageType.LoG as { sigma: unknown }).sigma
  t.deepEqual(sigma('imageType:\n  LoG:\n    sigma: [1.0, 2, 3e0, .5, !!float 4.0, &a 5.0, *a, "6.0", !!int 7]\n'), ['1.0', 2, '3e0', '.5', '4.0', '5.0', 5, '6.0', 7])
  t.deepEqual(sigma('imageType:\n  LoG:\n    sigma:\n    - 1.0 # one\n    -   2.50\n    - [3.0]\n    - 4.0\n'), ['1.0', '2.50', [3], '4.0'])
  // a flow sequence's single-pair mapping is one item
  t.deepEqual(sigma('imageType:\n  LoG:\n    sigma: [a: 1.0, 2.0]\n'), [{ a: 1 }, '2.0'])
  // a sigma list inside a sigma list is not counted in the value's lists: left alone, as before
  t.deepEqual(sigma('imageType: {LoG: {sigma: [1.0, {sigma: [2.0]}]}}\n'), [1, { sigma: [2] }])
  t.deepEqual(paramsFromText('{"imageType": {"LoG": {"sigma": [1.0, 2, 3E0]}}, "setting": {"a": 1, "a": 2}}', 'p.json').imageType.LoG, { sigma: ['1.0', 2, '3E0'] })
  // JSON has no 1024-character limit on keys; YAML's implicit keys have one, which the yaml
  // package applied in block mappings and flow sequences, not in flow mappings
  const k = 'k'.repeat(1100)
  const long = `{"imageType": {"LoG": {"sigma": [1.0]}}, "setting": {"${k}": 1}}`
  t.deepEqual(paramsFromText(long, 'p.json').imageType.LoG, { sigma: ['1.0'] })
  t.deepEqual(paramsFromText(long, 'p.yaml').imageType.LoG, { sigma: ['1.0'] })
  t.is(codeOf(() => paramsFromText(`setting:\n  ${k}: 1\n`, 'p.yaml')), 'ERR_FORMAT')
  t.is(codeOf(() => paramsFromText(`setting: [${k}: 1]\n`, 'p.yaml')), 'ERR_FORMAT')
})


/** A Proxy of an array whose `length` read throws (Array.isArray still says true). */
const throwingArray = (a: number[]) =>
  new Proxy(a, {
    get(t, k) {
      if (k === 'length') throw new Error('array trap')
      return t[k as unknown as number]
    },
  })

test('fuzz-options seed 21 and after: Proxy traps in signal, spacing, shape, affine, prealign, levelIters and phantom shapes are coded errors', async (t) => {
  const p = simulateDtiPhantom({ shape: [4, 4, 1], seed: 1 })
  const g = gradientTable(p.bvals, p.bvecs)
  // `signal instanceof AbortSignal` ran the getPrototypeOf trap
  const e = await t.throwsAsync(fitDti(p.dwi, g, { signal: hostile() as never }))
  t.is((e as VoxelkitError).code, 'ERR_SETTING')
  t.is(codeOf(() => fitDtiSync({ ...p.dwi, spacing: hostile() as never }, g)), 'ERR_SHAPE')
  t.is(codeOf(() => fitDtiSync({ ...p.dwi, shape: throwingArray(p.dwi.shape) }, g)), 'ERR_SHAPE')
  t.is(codeOf(() => fitDtiSync({ ...p.dwi, affine: throwingArray(new Array(16).fill(0)) }, g)), 'ERR_SHAPE')
  const img: Volume = { data: Float32Array.from({ length: 64 }, (_, i) => (i * 7) % 13), shape: [8, 8], spacing: [1, 1] }
  t.is(codeOf(() => registerSyNSync(img, img, { prealign: hostile() as never, levelIters: [1] })), 'ERR_SETTING')
  t.is(codeOf(() => registerSyNSync(img, img, { levelIters: throwingArray([1]) })), 'ERR_SETTING')
  const e2 = await t.throwsAsync(registerSyN(img, img, { signal: hostile() as never, levelIters: [1] }))
  t.is((e2 as VoxelkitError).code, 'ERR_SETTING')
  t.is(codeOf(() => simulateDtiPhantom({ shape: throwingArray([4, 4, 1]) as never })), 'ERR_SETTING')
  // plain arrays behind a transparent Proxy still work
  t.is(registerSyNSync(img, img, { metric: 'SSD', levelIters: new Proxy([1], {}) }).forward.shape.length, 3)
})
