// Radiomics conformance: PyRadiomics golden fixtures (fixtures/radiomics), PyRadiomics' own
// baseline (../shared/reference/pyradiomics/baseline), the IBSI digital phantom
// (../shared/reference/ibsi1), thread-count invariance, async/sync parity, params files.
//
// Tolerances:
// - own PyRadiomics fixtures: 1e-9 relative for every feature (same formulas in float64 on the
//   same integer counts; only summation order and the eigen-solver of MCC differ, ~1e-14; first
//   order uses numpy's pairwise sums). Flat ROIs (every value equal) are the documented exception:
//   voxelkit's first-order moments are exactly 0 where PyRadiomics has rounding noise (FLAT).
//   GLRLM matrices exactly, GLCM matrices within 1e-15 absolute (the same count over the same
//   sum); with weightingNorm 1e-12 relative (weighted sums in another order).
// - PyRadiomics baseline: 1e-9 relative or half a unit of the last printed digit, whichever is
//   looser; baseline matrices within 1e-15 absolute (exact counts / exact sums).
// - IBSI: half a unit of the last published digit (3 significant digits), or the published
//   tolerance where one is given.
import test from 'ava'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  FEATURE_CLASSES,
  VoxelkitError,
  extractFeatures,
  extractFeaturesSync,
  glcm,
  glcmSync,
  glrlmSync,
  glszmSync,
  gldmSync,
  ngtdmSync,
  readParams,
  readVolumeSync,
  type Aggregation,
  type FeatureClass,
  type TextureMatrices,
  type Volume,
} from '../ts/index'
import {
  IBSI,
  PYRAD,
  caseVolumes,
  close,
  num,
  parseCsv,
  printedHalfUlp,
  pyDict,
  radCases,
  readNpy,
} from './helpers/radiomics'

const cases = radCases()

// fixtures whose ROI holds one float value that numpy's mean does not reproduce (see firstorder.rs)
const FLAT = ['flat_float']
/** The classes of fixtures/radiomics and of this file's baseline checks. */
const NOT_SHAPE = FEATURE_CLASSES.filter((c) => c !== 'shape' && c !== 'shape2D')

const FLAT_ZERO = ['Skewness', 'Kurtosis', 'Variance', 'MeanAbsoluteDeviation', 'RobustMeanAbsoluteDeviation']

test('PyRadiomics fixtures: every feature within 1e-9 relative, errors coded', (t) => {
  let n = 0
  let worst = 0
  for (const c of cases) {
    const { image, mask } = caseVolumes(c)
    if (c.error !== undefined) {
      const e = t.throws(() => extractFeaturesSync(image, mask, c.settings), { instanceOf: VoxelkitError }, c.name)
      t.true(['ERR_SHAPE', 'ERR_SETTING'].includes((e as VoxelkitError).code), `${c.name}: ${e?.message}`)
      continue
    }
    // the fixtures hold the first-order and texture classes (shape has fixtures/radiomics_shape)
    const got = extractFeaturesSync(image, mask, { classes: [...NOT_SHAPE], ...c.settings })
    const want = c.features!
    t.deepEqual(Object.keys(got).sort(), Object.keys(want).sort(), c.name)
    for (const [k, w] of Object.entries(want)) {
      const wv = num(w)
      const fo = k.replace('original_firstorder_', '')
      if (FLAT.includes(c.name) && FLAT_ZERO.includes(fo)) {
        t.is(got[k], 0, `${c.name} ${k}`)
        t.true(Math.abs(wv) <= 1, `${c.name} ${k}: PyRadiomics ${wv}`)
        continue
      }
      t.true(close(got[k], wv, 1e-9), `${c.name} ${k}: ${got[k]} vs PyRadiomics ${wv}`)
      if (Number.isFinite(wv) && wv !== 0) worst = Math.max(worst, Math.abs(got[k] - wv) / Math.abs(wv))
      n++
    }
  }
  t.true(n > 600, `checked ${n} values`)
  t.log(`${n} feature values from ${cases.length} cases, max relative error ${worst.toExponential(2)}`)
})

const MATRIX_FN = { glcm: glcmSync, glrlm: glrlmSync, glszm: glszmSync, gldm: gldmSync, ngtdm: ngtdmSync } as const

test('PyRadiomics fixtures: texture matrices', (t) => {
  for (const c of cases.filter((c) => c.error === undefined)) {
    const { image, mask } = caseVolumes(c)
    for (const [kind, exact] of [
      ['glcm', false],
      ['glrlm', true],
      ['glszm', true],
      ['gldm', true],
      ['ngtdm', false],
    ] as const) {
      const m = MATRIX_FN[kind](image, mask, c.settings)
      const want = c[kind]!
      // one-matrix classes are written [rows, cols] by PyRadiomics
      t.deepEqual(m.shape, want.shape.length === 2 ? [...want.shape, 1] : want.shape, `${c.name} ${kind} shape`)
      // weightingNorm applies to the GLCM and GLRLM only
      const weighted = (kind === 'glcm' || kind === 'glrlm') && c.settings.weightingNorm !== undefined && c.settings.weightingNorm !== null
      let bad = 0
      want.data.forEach((w, i) => {
        const wv = num(w)
        // NGTDM s_i: sums of |i - neighbourhood mean| in another order (exact per neighbour count here)
        const ok =
          kind === 'ngtdm'
            ? close(m.data[i], wv, 1e-12)
            : weighted
              ? close(m.data[i], wv, 1e-12, 1e-15)
              : exact
                ? m.data[i] === wv
                : close(m.data[i], wv, 0, 1e-15)
        if (!ok) bad++
      })
      t.is(bad, 0, `${c.name} ${kind}: ${bad} elements differ`)
    }
  }
})

test('results are bitwise identical with 1, 2 and 4 threads', async (t) => {
  for (const c of cases.filter((c) => c.error === undefined).slice(0, 12)) {
    const { image, mask } = caseVolumes(c)
    const ref = extractFeaturesSync(image, mask, c.settings, { threads: 1 })
    for (const threads of [2, 4]) {
      const got = await extractFeatures(image, mask, c.settings, { threads })
      for (const k of Object.keys(ref)) {
        t.true(Object.is(ref[k], got[k]) || ref[k] === got[k], `${c.name} ${k} at ${threads} threads`)
        const a = new Float64Array([ref[k]])
        const b = new Float64Array([got[k]])
        t.deepEqual(new Uint8Array(a.buffer), new Uint8Array(b.buffer))
      }
    }
  }
})

test('first order on flat ROIs: PyRadiomics\' documented flat-region values, whatever the value', (t) => {
  // PyRadiomics (numpy) gives Skewness 1 and Kurtosis 1 for 0.1 everywhere (its mean is 0.1 - 4e-17)
  // and 0 for an integer value; voxelkit gives 0 for both, the exact mean and zero spread
  const shape = [6, 5, 4]
  const mask = { data: new Uint8Array(120).fill(1), shape }
  for (const v of [0.1, 42, -3.3e7, 1e-300]) {
    const f = extractFeaturesSync({ data: new Float64Array(120).fill(v), shape }, mask, { classes: ['firstorder'] })
    for (const k of FLAT_ZERO) t.is(f[`original_firstorder_${k}`], 0, `${v} ${k}`)
    t.is(f.original_firstorder_Mean, v)
    t.is(f.original_firstorder_Median, v)
    t.is(f.original_firstorder_Range, 0)
    // PyRadiomics' eps inside the log: -log2(1 + 2^-52), not 0
    t.true(Math.abs(f.original_firstorder_Entropy + Math.log2(1 + Number.EPSILON)) < 1e-30)
    t.is(f.original_firstorder_Uniformity, 1)
  }
  // near-flat (one voxel an ulp or two above): not flat, computed as PyRadiomics computes it
  // (numpy's mean and pairwise sums), rounding-dominated like the reference (fixture near_flat_float)
  const d = new Float64Array(120).fill(0.1)
  d[7] = 0.10000000000000003
  const g = extractFeaturesSync({ data: d, shape }, mask, { classes: ['firstorder'] })
  t.true(g.original_firstorder_Variance > 0 && g.original_firstorder_Variance < 1e-30)
  t.true(Number.isFinite(g.original_firstorder_Skewness) && Number.isFinite(g.original_firstorder_Kurtosis))
})

test('default classes: every class voxelkit computes, keys in PyRadiomics\' class order', (t) => {
  const c = cases.find((c) => c.error === undefined && Object.keys(c.settings).length <= 1)!
  const { image, mask } = caseVolumes(c)
  const keys = Object.keys(extractFeaturesSync(image, mask, {}))
  const order = keys.map((k) => k.split('_')[1]).filter((x, i, a) => a.indexOf(x) === i)
  // every class but shape2D (PyRadiomics' extractor default), shape first as PyRadiomics computes it
  t.deepEqual(order, ['shape', ...NOT_SHAPE])
  // an explicit list is computed in its own order
  const k2 = Object.keys(extractFeaturesSync(image, mask, { classes: ['glrlm', 'firstorder'] }))
  t.is(k2[0], 'original_glrlm_GrayLevelNonUniformity')
  t.is(k2[k2.length - 1], 'original_firstorder_Variance')
  // first order keys in PyRadiomics' order (MeanAbsoluteDeviation before Mean)
  const fo = keys.filter((k) => k.includes('_firstorder_'))
  t.true(fo.indexOf('original_firstorder_MeanAbsoluteDeviation') < fo.indexOf('original_firstorder_Mean'))
  t.is(fo.length, 18)
})

test('resampling: bitwise identical at 1, 2 and 4 threads; an affine with flipped axes changes nothing', async (t) => {
  const c = cases.find((c) => c.error === undefined && Object.keys(c.settings).length <= 1)!
  const { image, mask } = caseVolumes(c)
  const settings = { resampledPixelSpacing: [0.7, 0.6, 0.9], binWidth: 10 }
  const ref = extractFeaturesSync(image, mask, settings, { threads: 1 })
  t.true(Object.keys(ref).length > 100)
  for (const threads of [2, 4]) {
    const got = await extractFeatures(image, mask, settings, { threads })
    for (const k of Object.keys(ref)) t.true(Object.is(ref[k], got[k]), `${k} at ${threads} threads`)
  }
  // RAS vs LPS: the same grid with x and y axes pointing the other way maps every point to the
  // same continuous index, exactly
  const [sx, sy, sz] = c.spacing
  const flipped = { ...image, spacing: undefined, affine: [-sx, 0, 0, 0, 0, -sy, 0, 0, 0, 0, sz, 0, 0, 0, 0, 1] }
  const f = extractFeaturesSync(flipped, mask, settings)
  for (const k of Object.keys(ref)) t.true(Object.is(ref[k], f[k]), `${k} with a flipped affine`)
  // each interpolator differs from the others; none changes the shape class's voxel count rule
  const lin = extractFeaturesSync(image, mask, { ...settings, interpolator: 'sitkLinear' })
  const nn = extractFeaturesSync(image, mask, { ...settings, interpolator: 1 })
  t.not(lin.original_firstorder_Mean, ref.original_firstorder_Mean)
  t.not(nn.original_firstorder_Mean, lin.original_firstorder_Mean)
  t.is(nn.original_shape_VoxelVolume, ref.original_shape_VoxelVolume)
})

test('async and sync forms agree; progress reaches the total', async (t) => {
  const c = cases.find((c) => c.error === undefined)!
  const { image, mask } = caseVolumes(c)
  let last: [number, number] = [0, 0]
  const a = await extractFeatures(image, mask, c.settings, { onProgress: (d, n) => (last = [d, n]) })
  t.deepEqual(a, extractFeaturesSync(image, mask, c.settings))
  t.true(last[1] > 0 && last[0] === last[1])
  const m = await glcm(image, mask, c.settings)
  t.deepEqual(m, glcmSync(image, mask, c.settings))
})

// ------------------------------------------------------------------------------------------
// PyRadiomics' own baseline
// ------------------------------------------------------------------------------------------

const BASE = join(PYRAD, 'baseline')
const CASES = ['brain1', 'brain2', 'breast1']

function loadCase(name: string): { image: Volume; mask: Volume } | string {
  const ip = join(PYRAD, `${name}_image.nrrd`)
  const mp = join(PYRAD, `${name}_label.nrrd`)
  if (!existsSync(ip) || !existsSync(mp)) return `${name} images are not present (../shared is absent)`
  try {
    return { image: readVolumeSync(ip), mask: readVolumeSync(mp) }
  } catch (e) {
    return `${name}: readVolume cannot read .nrrd here (${(e as Error).message})`
  }
}

const FEATURES_PER_CLASS: Record<string, number> = { firstorder: 18, glcm: 24, glrlm: 16, glszm: 16, gldm: 14, ngtdm: 5 }

// (baseline_shape.csv and baseline_shape2D.csv: __test__/radiomics-shape.spec.ts)
for (const cls of NOT_SHAPE) {
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
    t.is(featRows.length, FEATURES_PER_CLASS[cls])
    let columns = 0
    let values = 0
    let resampledValues = 0
    let worst = 0
    const loaded = new Map<string, ReturnType<typeof loadCase>>()
    for (let col = 1; col < head.length; col++) {
      const caseName = caseRow[col]
      if (!CASES.includes(caseName)) continue
      const settings = pyDict(settingsRow[col])
      const resampling = settings.resampledPixelSpacing !== null && settings.resampledPixelSpacing !== undefined
      if (!loaded.has(caseName)) loaded.set(caseName, loadCase(caseName))
      const v = loaded.get(caseName)!
      if (typeof v === 'string') {
        t.log(`SKIPPED ${head[col]}: ${v}`)
        continue
      }
      const got = extractFeaturesSync(v.image, v.mask, { ...settings, classes: [cls] })
      for (const r of featRows) {
        const text = r[col]
        const want = Number(text)
        const tol = Math.max(1e-9 * Math.abs(want), printedHalfUlp(text))
        const g = got[r[0]]
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
    t.true(resampledValues > 0, 'the resampling columns were compared')
    t.log(`${columns} columns, ${values} values (${resampledValues} resampled), max relative difference ${worst.toExponential(2)}`)
  })

}

// matrices: counts exactly, GLCM probabilities within 1e-15 absolute (the same count over the
// same integer sum), NGTDM's s_i (a sum of |i - neighbourhood mean|, accumulated in another order)
// within 1e-12 relative
const NPY_TOL: Record<string, [number, number]> = { glcm: [0, 1e-15], glrlm: [0, 0], glszm: [0, 0], gldm: [0, 0], ngtdm: [1e-12, 0] }

for (const cls of Object.keys(MATRIX_FN) as (keyof typeof MATRIX_FN)[]) {
  test(`PyRadiomics baseline matrices <case>_${cls}.npy reproduced`, (t) => {
    let done = 0
    for (const name of CASES) {
      const npy = join(BASE, `${name}_${cls}.npy`)
      const v = loadCase(name)
      if (!existsSync(npy) || typeof v === 'string') {
        t.log(`SKIPPED ${name}: ${typeof v === 'string' ? v : `${npy} absent`}`)
        continue
      }
      // the baseline's default column settings (binWidth 25, minimumROIDimensions 1)
      const rows = parseCsv(readFileSync(join(BASE, `baseline_${cls}.csv`), 'utf8'))
      const col = rows[0].indexOf(name)
      const settings = pyDict(rows.find((r) => r[0] === 'diagnostics_Configuration_Settings')![col])
      const want = readNpy(npy) // C order [rows, cols, angles], or [rows, cols] for one matrix
      if (want.shape.length === 2) want.shape.push(1)
      const m = MATRIX_FN[cls](v.image, v.mask, settings)
      t.deepEqual(m.shape, want.shape, `${name} ${cls} shape`)
      const [r, c, a] = want.shape
      const [rtol, atol] = NPY_TOL[cls]
      let maxd = 0
      let bad = 0
      for (let i = 0; i < r; i++)
        for (let j = 0; j < c; j++)
          for (let k = 0; k < a; k++) {
            const w = want.data[(i * c + j) * a + k]
            const g = m.data[i + r * (j + c * k)]
            maxd = Math.max(maxd, Math.abs(g - w))
            if (!close(g, w, rtol, atol)) bad++
          }
      t.is(bad, 0, `${name} ${cls}: max difference ${maxd}`)
      t.log(`${name} ${cls}: [${want.shape}] max difference ${maxd}`)
      done++
    }
    if (done === 0) t.pass()
  })
}

// ------------------------------------------------------------------------------------------
// IBSI digital phantom
// ------------------------------------------------------------------------------------------

const IBSI_NAMES: Record<string, string> = {
  'Joint maximum': 'glcm_MaximumProbability',
  'Joint average': 'glcm_JointAverage',
  'Joint variance': 'glcm_SumSquares',
  'Joint entropy': 'glcm_JointEntropy',
  'Difference average': 'glcm_DifferenceAverage',
  'Difference variance': 'glcm_DifferenceVariance',
  'Difference entropy': 'glcm_DifferenceEntropy',
  'Sum average': 'glcm_SumAverage',
  'Sum variance': 'glcm_ClusterTendency',
  'Sum entropy': 'glcm_SumEntropy',
  'Angular second moment': 'glcm_JointEnergy',
  Contrast: 'glcm_Contrast',
  Dissimilarity: 'glcm_DifferenceAverage',
  'Inverse difference': 'glcm_Id',
  'Normalised inverse difference': 'glcm_Idn',
  'Inverse difference moment': 'glcm_Idm',
  'Normalised inverse difference moment': 'glcm_Idmn',
  'Inverse variance': 'glcm_InverseVariance',
  Correlation: 'glcm_Correlation',
  Autocorrelation: 'glcm_Autocorrelation',
  'Cluster tendency': 'glcm_ClusterTendency',
  'Cluster shade': 'glcm_ClusterShade',
  'Cluster prominence': 'glcm_ClusterProminence',
  'Information correlation 1': 'glcm_Imc1',
  'Information correlation 2': 'glcm_Imc2',
  'Short runs emphasis': 'glrlm_ShortRunEmphasis',
  'Long runs emphasis': 'glrlm_LongRunEmphasis',
  'Low grey level run emphasis': 'glrlm_LowGrayLevelRunEmphasis',
  'High grey level run emphasis': 'glrlm_HighGrayLevelRunEmphasis',
  'Short run low grey level emphasis': 'glrlm_ShortRunLowGrayLevelEmphasis',
  'Short run high grey level emphasis': 'glrlm_ShortRunHighGrayLevelEmphasis',
  'Long run low grey level emphasis': 'glrlm_LongRunLowGrayLevelEmphasis',
  'Long run high grey level emphasis': 'glrlm_LongRunHighGrayLevelEmphasis',
  'Grey level non-uniformity': 'glrlm_GrayLevelNonUniformity',
  'Normalised grey level non-uniformity': 'glrlm_GrayLevelNonUniformityNormalized',
  'Run length non-uniformity': 'glrlm_RunLengthNonUniformity',
  'Normalised run length non-uniformity': 'glrlm_RunLengthNonUniformityNormalized',
  'Run percentage': 'glrlm_RunPercentage',
  'Grey level variance': 'glrlm_GrayLevelVariance',
  'Run length variance': 'glrlm_RunVariance',
  'Run entropy': 'glrlm_RunEntropy',
}

const AGG: Record<string, string> = {
  '2D, averaged': '2D_averaged',
  '2D, slice-merged': '2D_slice_merged',
  '2.5D, direction-merged': '2.5D_direction_merged',
  '2.5D, merged': '2.5D_merged',
  '3D, averaged': '3D_averaged',
  '3D, merged': '3D_merged',
}

test('IBSI digital phantom: every GLCM and GLRLM value, all six aggregation methods', (t) => {
  const csv = join(IBSI, 'reference_values.csv')
  const ip = join(IBSI, 'digital_phantom', 'image.nii.gz')
  const mp = join(IBSI, 'digital_phantom', 'mask.nii.gz')
  if (![csv, ip, mp].every(existsSync)) {
    t.log('SKIPPED: ../shared/reference/ibsi1 is not present')
    t.pass()
    return
  }
  const image = readVolumeSync(ip)
  const mask = readVolumeSync(mp)
  const rows = parseCsv(readFileSync(csv, 'utf8'))
  const head = rows[0]
  const col = (k: string) => head.indexOf(k)
  const refs = rows
    .slice(1)
    .filter((r) => r[col('data')] === 'dig. phantom' && /co-occurrence|run length/.test(r[col('family')]))
  const byAgg = new Map<string, Record<string, number>>()
  let n = 0
  for (const r of refs) {
    const agg = AGG[r[col('aggregation')]]
    t.truthy(agg, `aggregation ${r[col('aggregation')]}`)
    const key = IBSI_NAMES[r[col('feature')]]
    t.truthy(key, `IBSI feature ${r[col('feature')]}`)
    if (!byAgg.has(agg)) byAgg.set(agg, extractFeaturesSync(image, mask, { binWidth: 1, ibsi: true, aggregation: agg }))
    const got = byAgg.get(agg)![`original_${key}`]
    const text = r[col('value')]
    const want = Number(text)
    const tol = r[col('tolerance')] ? Number(r[col('tolerance')]) : printedHalfUlp(text)
    t.true(Math.abs(got - want) <= tol + 1e-12, `${r[col('feature')]} (${r[col('aggregation')]}): ${got} vs IBSI ${text} ± ${tol}`)
    n++
  }
  t.true(n >= 200, `checked ${n} IBSI values`)
  t.log(`${n} IBSI reference values checked`)
})

// GLSZM, NGLDM (PyRadiomics' GLDM) and NGTDM: IBSI's 2D, 2.5D and 3D aggregations
const IBSI_ZONE: Record<string, [string, Record<string, string>]> = {
  'Grey level size zone based features': [
    'glszm',
    {
      'Small zone emphasis': 'SmallAreaEmphasis',
      'Large zone emphasis': 'LargeAreaEmphasis',
      'Low grey level zone emphasis': 'LowGrayLevelZoneEmphasis',
      'High grey level zone emphasis': 'HighGrayLevelZoneEmphasis',
      'Small zone low grey level emphasis': 'SmallAreaLowGrayLevelEmphasis',
      'Small zone high grey level emphasis': 'SmallAreaHighGrayLevelEmphasis',
      'Large zone low grey level emphasis': 'LargeAreaLowGrayLevelEmphasis',
      'Large zone high grey level emphasis': 'LargeAreaHighGrayLevelEmphasis',
      'Grey level non-uniformity': 'GrayLevelNonUniformity',
      'Normalised grey level non-uniformity': 'GrayLevelNonUniformityNormalized',
      'Zone size non-uniformity': 'SizeZoneNonUniformity',
      'Normalised zone size non-uniformity': 'SizeZoneNonUniformityNormalized',
      'Zone percentage': 'ZonePercentage',
      'Grey level variance': 'GrayLevelVariance',
      'Zone size variance': 'ZoneVariance',
      'Zone size entropy': 'ZoneEntropy',
    },
  ],
  'Neighbouring grey level dependence based features': [
    'gldm',
    {
      'Low dependence emphasis': 'SmallDependenceEmphasis',
      'High dependence emphasis': 'LargeDependenceEmphasis',
      'Low grey level count emphasis': 'LowGrayLevelEmphasis',
      'High grey level count emphasis': 'HighGrayLevelEmphasis',
      'Low dependence low grey level emphasis': 'SmallDependenceLowGrayLevelEmphasis',
      'Low dependence high grey level emphasis': 'SmallDependenceHighGrayLevelEmphasis',
      'High dependence low grey level emphasis': 'LargeDependenceLowGrayLevelEmphasis',
      'High dependence high grey level emphasis': 'LargeDependenceHighGrayLevelEmphasis',
      'Grey level non-uniformity': 'GrayLevelNonUniformity',
      // deprecated in PyRadiomics (never returned): computed here from the GLDM matrices
      'Normalised grey level non-uniformity': '(GrayLevelNonUniformityNormalized)',
      'Dependence count non-uniformity': 'DependenceNonUniformity',
      'Normalised dependence count non-uniformity': 'DependenceNonUniformityNormalized',
      'Dependence count percentage': '(DependencePercentage)',
      'Grey level variance': 'GrayLevelVariance',
      'Dependence count variance': 'DependenceVariance',
      'Dependence count entropy': 'DependenceEntropy',
      // 'Dependence count energy' is not a PyRadiomics feature
    },
  ],
  'Neighbourhood grey tone difference based features': [
    'ngtdm',
    { Coarseness: 'Coarseness', Contrast: 'Contrast', Busyness: 'Busyness', Complexity: 'Complexity', Strength: 'Strength' },
  ],
}
const AGG3: Record<string, Aggregation> = { '2D': '2D_averaged', '2.5D': '2.5D_merged', '3D': '3D_averaged' }

/** PyRadiomics' deprecated GLDM features from the matrices, averaged over the matrices (slices). */
function deprecatedGldm(m: TextureMatrices, name: string): number {
  const [r, c, a] = m.shape
  let sum = 0
  for (let k = 0; k < a; k++) {
    let nz = 0
    const pg = new Array<number>(r).fill(0)
    for (let j = 0; j < c; j++)
      for (let i = 0; i < r; i++) {
        const v = m.data[i + r * (j + c * k)]
        pg[i] += v
        nz += v
      }
    // GLNN: sum_i pg_i^2 / Nz^2; DependencePercentage: Nz / Np (every ROI voxel is counted once)
    sum += name === '(GrayLevelNonUniformityNormalized)' ? pg.reduce((s, v) => s + v * v, 0) / (nz * nz) : nz / nz
  }
  return sum / a
}

for (const [family, [cls, names]] of Object.entries(IBSI_ZONE)) {
  test(`IBSI digital phantom: every ${cls.toUpperCase()} value PyRadiomics defines, 2D, 2.5D and 3D`, (t) => {
    if (!(FEATURE_CLASSES as readonly string[]).includes(cls)) {
      t.log(`SKIPPED: ${cls} is not built`)
      t.pass()
      return
    }
    const csv = join(IBSI, 'reference_values.csv')
    const ip = join(IBSI, 'digital_phantom', 'image.nii.gz')
    const mp = join(IBSI, 'digital_phantom', 'mask.nii.gz')
    if (![csv, ip, mp].every(existsSync)) {
      t.log('SKIPPED: ../shared/reference/ibsi1 is not present')
      t.pass()
      return
    }
    const image = readVolumeSync(ip)
    const mask = readVolumeSync(mp)
    const rows = parseCsv(readFileSync(csv, 'utf8'))
    const head = rows[0]
    const col = (k: string) => head.indexOf(k)
    const refs = rows.slice(1).filter((r) => r[col('data')] === 'dig. phantom' && r[col('family')] === family)
    let n = 0
    let skipped = 0
    for (const r of refs) {
      const name = names[r[col('feature')]]
      if (name === undefined) {
        skipped++
        continue
      }
      const settings = { binWidth: 1, ibsi: true, aggregation: AGG3[r[col('aggregation')]], classes: [cls as FeatureClass] }
      t.truthy(settings.aggregation, r[col('aggregation')])
      const got = name.startsWith('(')
        ? deprecatedGldm(gldmSync(image, mask, settings), name)
        : extractFeaturesSync(image, mask, settings)[`original_${cls}_${name}`]
      const text = r[col('value')]
      const want = Number(text)
      const tol = r[col('tolerance')] ? Number(r[col('tolerance')]) : printedHalfUlp(text)
      t.true(Math.abs(got - want) <= tol + 1e-12, `${r[col('feature')]} (${r[col('aggregation')]}): ${got} vs IBSI ${text} ± ${tol}`)
      n++
    }
    t.is(n, cls === 'ngtdm' ? 15 : 48, `checked ${n}`)
    t.log(`${n} IBSI reference values checked${skipped ? `, ${skipped} not defined by PyRadiomics` : ''}`)
  })
}

test('IBSI CT phantom, configuration A (no interpolation): every texture value PyRadiomics defines', (t) => {
  // configuration A: no interpolation, re-segmentation [-500, 400] HU, fixed bin size 25 HU from
  // the lower bound (ibsi: true), 2D and 2.5D aggregation; IBSI's published tolerances
  const csv = join(IBSI, 'reference_values.csv')
  const ip = join(IBSI, 'ct_phantom', 'image.nii.gz')
  const mp = join(IBSI, 'ct_phantom', 'mask.nii.gz')
  if (![csv, ip, mp].every(existsSync)) {
    t.log('SKIPPED: ../shared/reference/ibsi1 is not present')
    t.pass()
    return
  }
  const image = readVolumeSync(ip)
  const mask = readVolumeSync(mp)
  const rows = parseCsv(readFileSync(csv, 'utf8'))
  const head = rows[0]
  const col = (k: string) => head.indexOf(k)
  const cache = new Map<string, Record<string, number> | TextureMatrices>()
  const per: Record<string, number> = {}
  const skipped = new Set<string>()
  for (const r of rows.slice(1).filter((r) => r[col('data')] === 'config. A')) {
    const family = r[col('family')]
    const feature = r[col('feature')]
    let cls: string
    let name: string | undefined
    let agg: Aggregation
    if (/co-occurrence|run length/.test(family)) {
      const key = IBSI_NAMES[feature]
      ;[cls, name] = [key.split('_')[0], key.split('_')[1]]
      agg = AGG[r[col('aggregation')]] as Aggregation
    } else if (IBSI_ZONE[family]) {
      ;[cls, name] = [IBSI_ZONE[family][0], IBSI_ZONE[family][1][feature]]
      agg = AGG3[r[col('aggregation')]]
    } else {
      skipped.add(family) // GLDZM: not a PyRadiomics class
      continue
    }
    if (name === undefined) {
      skipped.add(`${family}: ${feature}`)
      continue
    }
    t.truthy(agg, `${family} ${r[col('aggregation')]}`)
    const settings = { binWidth: 25, ibsi: true, resegmentRange: [-500, 400], aggregation: agg, classes: [cls as FeatureClass] }
    const deprecated = name.startsWith('(')
    const ck = `${cls} ${agg} ${deprecated}`
    if (!cache.has(ck)) cache.set(ck, deprecated ? gldmSync(image, mask, settings) : extractFeaturesSync(image, mask, settings))
    const got = deprecated ? deprecatedGldm(cache.get(ck) as TextureMatrices, name) : (cache.get(ck) as Record<string, number>)[`original_${cls}_${name}`]
    const want = Number(r[col('value')])
    const tol = Number(r[col('tolerance')])
    t.true(Math.abs(got - want) <= tol, `${family} ${feature} (${r[col('aggregation')]}): ${got} vs IBSI ${want} ± ${tol}`)
    per[cls] = (per[cls] ?? 0) + 1
  }
  t.deepEqual(per, { glcm: 100, glrlm: 64, glszm: 32, gldm: 32, ngtdm: 10 })
  t.log(`checked ${JSON.stringify(per)}; not PyRadiomics features: ${[...skipped].join('; ')}`)
})

// ------------------------------------------------------------------------------------------
// Parameter files
// ------------------------------------------------------------------------------------------

test('readParams: YAML and JSON PyRadiomics parameter files load unchanged', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'voxelkit-params-'))
  try {
    const y = join(dir, 'params.yaml')
    writeFileSync(
      y,
      [
        'imageType:',
        '  Original: {}',
        'featureClass:',
        '  glcm:',
        '  glrlm: []',
        'setting:',
        '  binWidth: 25',
        '  label: 1',
        '  interpolator: sitkBSpline',
        '  resampledPixelSpacing:',
        '  weightingNorm:',
        '  voxelArrayShift: 1000',
        '  additionalInfo: true',
        '',
      ].join('\n'),
    )
    const p = readParams(y)
    t.deepEqual(p.imageType, { Original: {} })
    t.is(p.setting.binWidth, 25)
    const c = cases.find((c) => c.error === undefined && Object.keys(c.settings).length <= 2)!
    const { image, mask } = caseVolumes(c)
    t.notThrows(() => extractFeaturesSync(image, mask, p.setting))
    const j = join(dir, 'params.json')
    writeFileSync(j, JSON.stringify({ setting: { binCount: 16 } }))
    t.deepEqual(readParams(j).setting, { binCount: 16 })
    writeFileSync(j, '{ not json')
    t.is(t.throws(() => readParams(j), { instanceOf: VoxelkitError })!.code, 'ERR_FORMAT')
    writeFileSync(j, JSON.stringify({ settings: {} }))
    t.is(t.throws(() => readParams(j), { instanceOf: VoxelkitError })!.code, 'ERR_SETTING')
    t.is(t.throws(() => readParams(join(dir, 'missing.yaml')), { instanceOf: VoxelkitError })!.code, 'ERR_IO')
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
