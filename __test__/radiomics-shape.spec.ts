// Shape classes (`shape`, `shape2D`): PyRadiomics golden fixtures (fixtures/radiomics_shape),
// PyRadiomics' own baseline (../shared/reference/pyradiomics/baseline/baseline_shape*.csv),
// thread-count invariance, PyRadiomics' shape2D rules, bad inputs.
//
// Tolerances (see crates/radiomics/tests/shape_fixtures.rs for the reasons):
// - fixtures: mesh values (MeshVolume, SurfaceArea, the diameters, MeshSurface, Perimeter,
//   MaximumDiameter) and VoxelVolume / PixelSurface bitwise; values derived from them with pow /
//   sqrt within 1e-15 relative (bitwise on Linux); eigenvalue features (axis lengths, Elongation,
//   Flatness) within 1e-12 of the major axis length (1 for the ratios), and an axis that is 0
//   here (flat ROI) within 1e-7 of it, PyRadiomics' value being rounding noise.
// - PyRadiomics baseline: 1e-9 relative or half a unit of the last printed digit, whichever is
//   looser, except brain1's shape column (made by an older PyRadiomics: MeshVolume, SurfaceArea,
//   SurfaceVolumeRatio, Sphericity within 1e-3 of it), where those four are checked against
//   PyRadiomics 3.1.4's values (fixtures/radiomics_shape/pyradiomics_cases.json) instead.
import test from 'ava'
import { existsSync, readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { VoxelkitError, extractFeatures, extractFeaturesSync, readParams, readVolumeSync, writeVolumeSync, type Volume } from '../ts/index'
import { cli, scratchDir } from './helpers/cli'
import { ROOT } from './helpers/fixtures'
import { PYRAD, caseVolumes, num, parseCsv, printedHalfUlp, pyDict, type RadCase } from './helpers/radiomics'

const SFIX = join(ROOT, 'fixtures', 'radiomics_shape')

interface ShapeCase extends Omit<RadCase, 'features'> {
  features?: [string, number | string][]
}

const cases: ShapeCase[] = (JSON.parse(readFileSync(join(SFIX, 'index.json'), 'utf8')) as { cases: { name: string }[] }).cases.map(
  (c) => JSON.parse(readFileSync(join(SFIX, `${c.name}.json`), 'utf8')) as ShapeCase,
)
const SHAPES = { classes: ['shape', 'shape2D'] as ('shape' | 'shape2D')[] }

const EXACT = new Set([
  'MeshVolume',
  'SurfaceArea',
  'Maximum3DDiameter',
  'Maximum2DDiameterSlice',
  'Maximum2DDiameterColumn',
  'Maximum2DDiameterRow',
  'VoxelVolume',
  'MeshSurface',
  'Perimeter',
  'MaximumDiameter',
  'PixelSurface',
])
const DERIVED = new Set(['Sphericity', 'SurfaceVolumeRatio', 'PerimeterSurfaceRatio', 'Compactness1', 'Compactness2', 'SphericalDisproportion'])

/** `got` vs PyRadiomics' `want` for feature key `key`; `major`: the ROI's major axis length. */
function agrees(key: string, got: number, want: number, major: number): boolean {
  if (Number.isNaN(got) || Number.isNaN(want)) return Number.isNaN(got) && Number.isNaN(want)
  const name = key.slice(key.lastIndexOf('_') + 1)
  if (EXACT.has(name)) return Object.is(got, want)
  if (DERIVED.has(name)) return Math.abs(got - want) <= 1e-15 * Math.abs(want)
  const scale = name === 'Elongation' || name === 'Flatness' ? 1 : major
  const d = Math.abs(got - want)
  return d <= 1e-12 * scale || (Math.abs(want) <= 1e-7 * scale && d <= 1e-7 * scale)
}

function majorOf(want: [string, number | string][], key: string): number {
  const cls = key.includes('shape2D') ? 'shape2D' : 'shape'
  const m = want.find(([k]) => k === `original_${cls}_MajorAxisLength`)
  return m ? num(m[1]) : 1
}

test('PyRadiomics fixtures: shape and shape2D keys, their order and values; errors coded', (t) => {
  let n = 0
  let errors = 0
  for (const c of cases) {
    const { image, mask } = caseVolumes(c as unknown as RadCase)
    const settings = { ...c.settings, ...SHAPES }
    if (c.error !== undefined) {
      const e = t.throws(() => extractFeaturesSync(image, mask, settings), { instanceOf: VoxelkitError }, c.name)
      t.true(['ERR_SHAPE', 'ERR_SETTING'].includes((e as VoxelkitError).code), `${c.name}: ${e?.message}`)
      errors++
      continue
    }
    const got = extractFeaturesSync(image, mask, settings)
    const want = c.features!
    t.deepEqual(Object.keys(got), want.map(([k]) => k), `${c.name}: keys in PyRadiomics' order`)
    for (const [k, w] of want) {
      const wv = num(w)
      t.true(agrees(k, got[k], wv, majorOf(want, k)), `${c.name} ${k}: ${got[k]} vs PyRadiomics ${wv}`)
      n++
    }
  }
  t.true(n > 800, `checked ${n} values`)
  t.true(errors >= 10)
  t.log(`${n} feature values from ${cases.length} cases (${errors} PyRadiomics errors reproduced)`)
})

test('shape features are bitwise identical with 1, 2 and 4 threads', async (t) => {
  for (const c of cases.filter((c) => c.error === undefined)) {
    const { image, mask } = caseVolumes(c as unknown as RadCase)
    const settings = { ...c.settings, ...SHAPES }
    const ref = extractFeaturesSync(image, mask, settings, { threads: 1 })
    for (const threads of [2, 4]) {
      const got = await extractFeatures(image, mask, settings, { threads })
      t.deepEqual(Object.keys(got), Object.keys(ref))
      for (const k of Object.keys(ref)) t.true(Object.is(ref[k], got[k]), `${c.name} ${k} at ${threads} threads`)
    }
  }
})

test('shape classes come first, then the texture classes; resegmentShape switches the mask', (t) => {
  const c = cases.find((c) => c.name === 'resegment_scattered')!
  const { image, mask } = caseVolumes(c as unknown as RadCase)
  const f = extractFeaturesSync(image, mask, { ...c.settings, classes: ['glcm', 'shape'] })
  const keys = Object.keys(f)
  t.true(keys[0].startsWith('original_shape_'))
  t.true(keys[keys.length - 1].startsWith('original_glcm_'))
  const own = cases.find((c) => c.name === 'resegment_scattered_shape')!
  const g = extractFeaturesSync(image, mask, { ...own.settings, classes: ['shape'] })
  t.not(f.original_shape_VoxelVolume, g.original_shape_VoxelVolume)
  t.is(g.original_shape_VoxelVolume, num(own.features!.find(([k]) => k === 'original_shape_VoxelVolume')![1]))
})

// ------------------------------------------------------------------------------------------
// PyRadiomics' own baseline
// ------------------------------------------------------------------------------------------

const BASE = join(PYRAD, 'baseline')
const CASES = ['brain1', 'brain2', 'breast1']
/** brain1's shape column without resampling was made by an older PyRadiomics. */
const OLD_BRAIN1 = ['original_shape_MeshVolume', 'original_shape_SurfaceArea', 'original_shape_SurfaceVolumeRatio', 'original_shape_Sphericity']

function loadCase(name: string): { image: Volume; mask: Volume } | string {
  const ip = join(PYRAD, `${name}_image.nrrd`)
  const mp = join(PYRAD, `${name}_label.nrrd`)
  if (!existsSync(ip) || !existsSync(mp)) return `${name} images are not present (../shared is absent)`
  return { image: readVolumeSync(ip), mask: readVolumeSync(mp) }
}

/** The label's largest slice (most voxels with label 1) in a mask of zeros: PyRadiomics' `<case>_label_2D`. */
function largestSlice(mask: Volume): Volume {
  const [nx, ny, nz] = mask.shape
  const per = new Array<number>(nz).fill(0)
  for (let i = 0; i < mask.data.length; i++) if (mask.data[i] === 1) per[Math.floor(i / (nx * ny))]++
  const z = per.indexOf(Math.max(...per))
  const data = new Int32Array(mask.data.length)
  for (let i = z * nx * ny; i < (z + 1) * nx * ny; i++) data[i] = mask.data[i] as number
  return { ...mask, data }
}

const pyrCases = existsSync(join(SFIX, 'pyradiomics_cases.json'))
  ? (JSON.parse(readFileSync(join(SFIX, 'pyradiomics_cases.json'), 'utf8')) as Record<string, { shape: [string, number][]; shape2D: [string, number][] }>)
  : {}

for (const cls of ['shape', 'shape2D'] as const) {
  test(`PyRadiomics baseline_${cls}.csv: every column (resampling included), every feature`, (t) => {
    const csv = join(BASE, `baseline_${cls}.csv`)
    if (!existsSync(csv)) {
      t.log(`SKIPPED: ${csv} is not present (../shared is absent)`)
      t.pass()
      return
    }
    const rows = parseCsv(readFileSync(csv, 'utf8'))
    const head = rows[0]
    const row = (k: string) => rows.find((r) => r[0] === k)!
    const settingsRow = row('diagnostics_Configuration_Settings')
    const caseRow = row('diagnostics_Configuration_TestCase')
    const featRows = rows.filter((r) => r[0].startsWith(`original_${cls}_`))
    t.is(featRows.length, cls === 'shape' ? 14 : 9)
    let columns = 0
    let values = 0
    let resampledValues = 0
    let worst = 0
    const loaded = new Map<string, ReturnType<typeof loadCase>>()
    for (let col = 1; col < head.length; col++) {
      const caseName = caseRow[col].replace(/_2D$/, '')
      if (!CASES.includes(caseName)) continue
      if (!loaded.has(caseName)) loaded.set(caseName, loadCase(caseName))
      const v = loaded.get(caseName)!
      if (typeof v === 'string') {
        t.log(`SKIPPED ${head[col]}: ${v}`)
        continue
      }
      const settings = { ...pyDict(settingsRow[col]), classes: [cls] }
      const mask = cls === 'shape2D' ? largestSlice(v.mask) : v.mask
      const resampling = settings.resampledPixelSpacing !== null && settings.resampledPixelSpacing !== undefined
      const got = extractFeaturesSync(v.image, mask, settings)
      t.deepEqual(Object.keys(got).sort(), featRows.map((r) => r[0]).sort(), head[col])
      for (const r of featRows) {
        const text = r[col]
        const want = Number(text)
        const g = got[r[0]]
        if (cls === 'shape' && caseName === 'brain1' && !resampling && OLD_BRAIN1.includes(r[0])) {
          // the baseline's older PyRadiomics: PyRadiomics 3.1.4 is the reference here
          const ref = pyrCases.brain1?.shape.find(([k]) => k === r[0])
          if (ref === undefined) {
            t.log(`SKIPPED ${r[0]} of brain1: fixtures/radiomics_shape/pyradiomics_cases.json has no brain1`)
            continue
          }
          t.true(agrees(r[0], g, ref[1], 1), `brain1 ${r[0]}: ${g} vs PyRadiomics 3.1.4 ${ref[1]}`)
          const off = Math.abs(g - want) / Math.abs(want)
          t.true(off > 1e-5 && off < 1e-3, `brain1 ${r[0]}: the old baseline ${text} is ${off} away`)
          values++
          continue
        }
        const tol = Math.max(1e-9 * Math.abs(want), printedHalfUlp(text))
        t.true(Math.abs(g - want) <= tol, `${head[col]} ${r[0]}: ${g} vs baseline ${text} (tol ${tol})`)
        if (want !== 0) worst = Math.max(worst, Math.abs(g - want) / Math.abs(want))
        values++
        if (resampling) resampledValues++
      }
      columns++
    }
    if (columns === 0) {
      t.log('SKIPPED: no baseline column could be run (images absent or unreadable)')
      t.pass()
      return
    }
    // (baseline_shape2D.csv has no resampling column)
    if (cls === 'shape') t.true(resampledValues > 0, 'the resampling columns were compared')
    t.log(`${columns} columns, ${values} values (${resampledValues} resampled), max relative difference ${worst.toExponential(2)}`)
  })
}

test('PyRadiomics 3.1.4 on its test cases (pyradiomics_cases.json): shape and largest-slice shape2D', (t) => {
  let n = 0
  for (const [name, ref] of Object.entries(pyrCases)) {
    const v = loadCase(name)
    if (typeof v === 'string') {
      t.log(`SKIPPED ${name}: ${v}`)
      continue
    }
    const got3 = extractFeaturesSync(v.image, v.mask, { minimumROIDimensions: 1, classes: ['shape'] })
    const got2 = extractFeaturesSync(v.image, largestSlice(v.mask), { force2D: true, classes: ['shape2D'] })
    for (const [want, got] of [
      [ref.shape, got3],
      [ref.shape2D, got2],
    ] as const) {
      t.deepEqual(Object.keys(got), want.map(([k]) => k), name)
      for (const [k, w] of want) {
        t.true(agrees(k, got[k], w, majorOf(want, k)), `${name} ${k}: ${got[k]} vs PyRadiomics 3.1.4 ${w}`)
        n++
      }
    }
  }
  if (n === 0) t.pass()
  else t.log(`${n} values`)
})

// ------------------------------------------------------------------------------------------
// PyRadiomics' shape2D rules and bad inputs
// ------------------------------------------------------------------------------------------

function blobVolumes(shape: number[]): { image: Volume; mask: Volume } {
  const n = shape[0] * shape[1] * shape[2]
  const img = new Int16Array(n)
  const msk = new Uint8Array(n)
  for (let i = 0; i < n; i++) {
    const x = i % shape[0]
    const y = Math.floor(i / shape[0]) % shape[1]
    const z = Math.floor(i / (shape[0] * shape[1]))
    img[i] = (x * 7 + y * 3 + z) % 50
    const r = Math.min(shape[0], shape[1]) / 2.2
    msk[i] = (x - shape[0] / 2) ** 2 + (y - shape[1] / 2) ** 2 + (((z - (shape[2] - 1) / 2) * r) / shape[2]) ** 2 < r * r ? 1 : 0
  }
  return { image: { data: img, shape, spacing: [0.8, 0.9, 2] }, mask: { data: msk, shape } }
}

test('shape2D: skipped without force2D or on a ROI one voxel wide along the checked axis; ERR_SHAPE on a thick ROI', (t) => {
  const flat = blobVolumes([12, 10, 1])
  t.deepEqual(extractFeaturesSync(flat.image, flat.mask, { classes: ['shape2D'] }), {})
  t.is(Object.keys(extractFeaturesSync(flat.image, flat.mask, { classes: ['shape2D'], force2D: true })).length, 9)
  // force2Ddimension 2: PyRadiomics checks the z size, then drops numpy axis 2 (x)
  t.deepEqual(extractFeaturesSync(flat.image, flat.mask, { classes: ['shape2D'], force2D: true, force2Ddimension: 2 }), {})
  const thick = blobVolumes([10, 10, 6])
  const e = t.throws(() => extractFeaturesSync(thick.image, thick.mask, { classes: ['shape', 'shape2D'], force2D: true }), { instanceOf: VoxelkitError })
  t.is(e!.code, 'ERR_SHAPE')
  t.regex(e!.message, /shape2D/)
})

test('bad inputs: coded errors, and the module keeps working', (t) => {
  const { image, mask } = blobVolumes([10, 9, 5])
  const ref = extractFeaturesSync(image, mask, SHAPES)
  const code = (f: () => unknown) => (t.throws(f, { instanceOf: VoxelkitError }) as VoxelkitError).code
  t.is(code(() => extractFeaturesSync(image, mask, { classes: ['shape', 'shap' as 'shape'] })), 'ERR_SETTING')
  t.is(code(() => extractFeaturesSync(image, mask, { classes: ['shape'], resegmentShape: 'yes' })), 'ERR_SETTING')
  const one = new Uint8Array(mask.data.length)
  one[123] = 1
  t.is(code(() => extractFeaturesSync(image, one, SHAPES)), 'ERR_SHAPE')
  t.is(code(() => extractFeaturesSync(image, new Uint8Array(mask.data.length), SHAPES)), 'ERR_SHAPE')
  t.is(code(() => extractFeaturesSync(image, mask, { ...SHAPES, label: 3 })), 'ERR_SETTING')
  t.is(code(() => extractFeaturesSync(image, mask, { ...SHAPES, minimumROISize: 1e6 })), 'ERR_SHAPE')
  t.is(code(() => extractFeaturesSync(image, { data: mask.data, shape: [10, 9, 4] }, SHAPES)), 'ERR_SHAPE')
  t.is(code(() => extractFeaturesSync({ ...image, spacing: [1, 0, 1] }, mask, SHAPES)), 'ERR_SHAPE')
  const again = extractFeaturesSync(image, mask, SHAPES)
  t.true(Object.keys(ref).every((k) => Object.is(again[k], ref[k])))
})

const dir = scratchDir('rad-shape')

test('params files: featureClass shape/shape2D through readParams and `voxelkit radiomics`', async (t) => {
  const c = cases.find((c) => c.name === 'slice_image_force2D')!
  const { image, mask } = caseVolumes(c as unknown as RadCase)
  writeVolumeSync(join(dir, 'img.nii.gz'), image)
  writeVolumeSync(join(dir, 'msk.nii.gz'), mask)
  writeFileSync(join(dir, 'p.yaml'), 'setting:\n  force2D: true\nfeatureClass:\n  shape:\n  shape2D: []\n')
  const r = await cli('radiomics', join(dir, 'img.nii.gz'), join(dir, 'msk.nii.gz'), '--params', join(dir, 'p.yaml'), '--out', join(dir, 'f.json'))
  t.is(r.code, 0, r.stderr)
  const got = JSON.parse(readFileSync(join(dir, 'f.json'), 'utf8')) as Record<string, number | string>
  // NIfTI stores the spacing in float32: compare with the API on the files as written
  const want = extractFeaturesSync(readVolumeSync(join(dir, 'img.nii.gz')), readVolumeSync(join(dir, 'msk.nii.gz')), { force2D: true, ...SHAPES })
  t.deepEqual(Object.keys(want), c.features!.map(([k]) => k))
  for (const [k, w] of Object.entries(want)) t.is(got[k], w, k)
  t.false(Object.keys(got).some((k) => k.includes('glcm')))
  // no featureClass: every class (shape2D included, as PyRadiomics' params files do)
  writeFileSync(join(dir, 'all.yaml'), 'setting:\n  binWidth: 25\n')
  t.deepEqual(Object.keys(readParams(join(dir, 'all.yaml')).featureClass), ['firstorder', 'glcm', 'gldm', 'glrlm', 'glszm', 'ngtdm', 'shape', 'shape2D'])
})
