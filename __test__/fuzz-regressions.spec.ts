// Inputs found by the JavaScript-level fuzzers (scripts/fuzz-params.mjs), replayed with the
// outcome they must now have. The Rust-level findings live in each crate's
// tests/fuzz_regressions.rs.
import test from 'ava'
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { VoxelkitError, extractFeaturesSync, readParams, type Volume } from '../ts/index'
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
    const s = settingsFromParams(readParams(join(dir, 'p.yaml')))
    settingError(() => extractFeaturesSync(image, mask, s), t)
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
