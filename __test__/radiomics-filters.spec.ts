// Image types (filters) end to end: extractFeatures with PyRadiomics' imageType block against
// RadiomicsFeatureExtractor.execute (fixtures/radiomics_filters, written by its generate.py with
// pyradiomics-bhklab 3.1.4), readParams keeping the float spelling of sigma, thread invariance.
// Tolerance 1e-9 relative (see crates/radiomics/tests/filter_fixtures.rs: the float32 LoG and
// gradient images are SimpleITK's bit for bit, so the features need no looser tolerance).
import test from 'ava'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { extractFeaturesSync, extractFeatures, readParams, readVolumeSync, type Volume } from '../ts/index'
import { settingsFromParams } from '../ts/radiomics'
import { scratchDir } from './helpers/cli'

const DIR = join(__dirname, '..', 'fixtures', 'radiomics_filters')
const scratch = scratchDir('rad-filters')

interface Case {
  shape: number[]
  spacing: number[]
  image: { dtype: string; data: (number | string)[] }
  mask: { dtype: string; data: number[] }
  params: { setting: Record<string, unknown>; imageType: Record<string, Record<string, unknown>>; featureClass: Record<string, unknown> }
  keys: string[]
  values: (number | string)[]
}

const num = (v: number | string) => (typeof v === 'number' ? v : v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : -Infinity)

function load(name: string) {
  const c = JSON.parse(readFileSync(join(DIR, `features_${name}.json`), 'utf8')) as Case
  const data = c.image.dtype === 'int16' ? Int16Array.from(c.image.data.map(num)) : Float64Array.from(c.image.data.map(num))
  const image: Volume = { data, shape: c.shape, spacing: c.spacing }
  const mask: Volume = { data: Uint8Array.from(c.mask.data), shape: c.shape, spacing: c.spacing }
  // the params dictionary as a PyRadiomics user writes it; floats such as 1.0 spelled as strings
  const imageType = JSON.parse(JSON.stringify(c.params.imageType, (k, v) => (k === 'sigma' ? (v as number[]).map((x) => (Number.isInteger(x) ? `${x}.0` : x)) : v)))
  const settings = { ...c.params.setting, imageType, classes: Object.keys(c.params.featureClass) as never }
  return { c, image, mask, settings }
}

function compare(t: import('ava').ExecutionContext, got: Record<string, number>, c: Case) {
  t.deepEqual(Object.keys(got), c.keys)
  let worst = 0
  c.keys.forEach((k, i) => {
    const w = num(c.values[i])
    const g = got[k]
    if (Number.isNaN(w)) return t.true(Number.isNaN(g), k)
    const d = g === w || Math.abs(g - w) <= 1e-12 ? 0 : Math.abs(g - w) / Math.abs(w)
    worst = Math.max(worst, d)
    if (d > 1e-9) t.fail(`${k}: ${g} vs PyRadiomics ${w}`)
  })
  t.log(`${c.keys.length} features, largest relative deviation ${worst.toExponential(1)}`)
}

for (const name of ['all_types', 'custom', 'force2d']) {
  test(`${name}: extractFeatures equals RadiomicsFeatureExtractor.execute`, async (t) => {
    const { c, image, mask, settings } = load(name)
    compare(t, await extractFeatures(image, mask, settings), c)
  })
}

// brain1 of ../shared/reference/pyradiomics with LoG (1, 3 mm) and Wavelet, on the original grid and
// resampled to 2 mm (B-spline): the image types are computed on the resampled grid, as PyRadiomics'
// execute does (expected values: PyRadiomics via generate.py, brain1.json / brain1_resampled.json)
const SHARED = join(__dirname, '..', '..', 'shared', 'reference', 'pyradiomics')
for (const name of ['brain1', 'brain1_resampled']) {
  test(`${name} with LoG and Wavelet: extractFeatures equals RadiomicsFeatureExtractor.execute`, async (t) => {
    const ip = join(SHARED, 'brain1_image.nrrd')
    const mp = join(SHARED, 'brain1_label.nrrd')
    if (!existsSync(ip) || !existsSync(mp)) {
      t.log(`SKIPPED: ${SHARED} is absent (../shared)`)
      return t.pass()
    }
    const c = JSON.parse(readFileSync(join(DIR, `${name}.json`), 'utf8')) as Case
    const imageType = JSON.parse(JSON.stringify(c.params.imageType, (k, v) => (k === 'sigma' ? (v as number[]).map((x) => (Number.isInteger(x) ? `${x}.0` : x)) : v)))
    const settings = { ...c.params.setting, imageType, classes: Object.keys(c.params.featureClass) as never }
    compare(t, await extractFeatures(readVolumeSync(ip), readVolumeSync(mp), settings), c)
  })
}

test('all image types: bitwise identical at 1, 2 and 3 threads', (t) => {
  const { image, mask, settings } = load('all_types')
  const one = extractFeaturesSync(image, mask, settings, { threads: 1 })
  for (const threads of [2, 3]) {
    const many = extractFeaturesSync(image, mask, settings, { threads })
    for (const [k, v] of Object.entries(one)) t.true(Object.is(v, many[k]), `${k} at ${threads} threads`)
  }
})

test('readParams keeps the float spelling of sigma (YAML and JSON): PyRadiomics\' image names', (t) => {
  const dir = scratch
  const y = join(dir, 'p.yaml')
  writeFileSync(y, 'imageType:\n  LoG:\n    sigma: [1.0, 2, 2.5, 3.]\nsetting:\n  sigma: [4.0]\n')
  const p = readParams(y)
  t.deepEqual(p.imageType.LoG.sigma, ['1.0', 2, '2.5', '3.'])
  t.deepEqual(p.setting.sigma, ['4.0'])
  const j = join(dir, 'p.json')
  writeFileSync(j, JSON.stringify({ imageType: { LoG: { sigma: [1, 2] } } }).replace('[1,2]', '[1.0, 2]'))
  t.deepEqual(readParams(j).imageType.LoG.sigma, ['1.0', 2])
  const { image, mask } = load('all_types')
  const f = extractFeaturesSync(image, mask, { ...settingsFromParams(p), classes: ['firstorder'] })
  const names = [...new Set(Object.keys(f).map((k) => k.split('_')[0]))]
  t.deepEqual(names, ['log-sigma-1-0-mm-3D', 'log-sigma-2-mm-3D', 'log-sigma-2-5-mm-3D', 'log-sigma-3-0-mm-3D'])
})
