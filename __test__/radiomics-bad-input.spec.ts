// Bad inputs to the radiomics API: each must end in a VoxelkitError with a stable code, quickly,
// and the module must keep working afterwards (same features, bitwise, as before).
import test from 'ava'
import {
  VoxelkitError,
  extractFeatures,
  extractFeaturesSync,
  glcmSync,
  glrlmSync,
  glszmSync,
  gldmSync,
  ngtdmSync,
  type ErrorCode,
  type Volume,
} from '../ts/index'

function phantom(n: number, seed = 1): { image: Volume; mask: Volume } {
  const shape = [n, n, Math.max(2, n >> 1)]
  const len = shape[0] * shape[1] * shape[2]
  const img = new Int16Array(len)
  const msk = new Uint8Array(len)
  let s = seed
  for (let i = 0; i < len; i++) {
    s = (s * 1103515245 + 12345) & 0x7fffffff
    const x = i % shape[0]
    const y = Math.floor(i / shape[0]) % shape[1]
    const z = Math.floor(i / (shape[0] * shape[1]))
    img[i] = Math.round(100 * Math.sin(x / 3) + 80 * Math.cos(y / 4) + 30 * z + (s % 50))
    const c = (x - shape[0] / 2) ** 2 + (y - shape[1] / 2) ** 2 + (z - shape[2] / 2) ** 2
    msk[i] = c < (n / 2.5) ** 2 ? 1 : 0
  }
  return { image: { data: img, shape, spacing: [1, 1, 2] }, mask: { data: msk, shape } }
}

const { image, mask } = phantom(12)
const ref = extractFeaturesSync(image, mask, { binWidth: 10 })

function alive(): boolean {
  const f = extractFeaturesSync(image, mask, { binWidth: 10 })
  return Object.keys(ref).every((k) => Object.is(f[k], ref[k]))
}

function expectCode(t: import('ava').ExecutionContext, f: () => unknown, code: ErrorCode, what: string): void {
  const t0 = performance.now()
  const e = t.throws(f, undefined, what)
  t.true(e instanceof VoxelkitError, `${what}: ${e?.constructor?.name} ${e?.message}`)
  t.is((e as VoxelkitError).code, code, `${what}: ${e?.message}`)
  // speed is not asserted (no timed assertions in tests); slow cases are logged
  const ms = performance.now() - t0
  if (ms > 1000) t.log(`${what}: slow, ${ms.toFixed(0)} ms`)
}

const sync: [string, () => unknown, ErrorCode][] = [
  ['mask of the wrong shape', () => extractFeaturesSync(image, { data: new Uint8Array(10), shape: [10] }), 'ERR_SHAPE'],
  ['mask of another 3D shape', () => extractFeaturesSync(image, { data: new Uint8Array(12 * 12 * 5), shape: [12, 12, 5] }), 'ERR_SHAPE'],
  ['bare mask array of the wrong length', () => extractFeaturesSync(image, new Uint8Array(7)), 'ERR_SHAPE'],
  ['empty mask', () => extractFeaturesSync(image, { data: new Uint8Array(mask.data.length), shape: mask.shape }), 'ERR_SHAPE'],
  ['label not present', () => extractFeaturesSync(image, mask, { label: 2 }), 'ERR_SETTING'],
  ['label 0', () => extractFeaturesSync(image, mask, { label: 0 }), 'ERR_SETTING'],
  ['label not an integer', () => extractFeaturesSync(image, mask, { label: 1.5 }), 'ERR_SETTING'],
  ['binWidth zero', () => extractFeaturesSync(image, mask, { binWidth: 0 }), 'ERR_SETTING'],
  ['binWidth negative', () => extractFeaturesSync(image, mask, { binWidth: -5 }), 'ERR_SETTING'],
  ['binWidth NaN', () => extractFeaturesSync(image, mask, { binWidth: NaN }), 'ERR_SETTING'],
  ['binWidth a string', () => extractFeaturesSync(image, mask, { binWidth: '25' as unknown as number }), 'ERR_SETTING'],
  ['binCount zero', () => extractFeaturesSync(image, mask, { binCount: 0 }), 'ERR_SETTING'],
  ['negative distance', () => extractFeaturesSync(image, mask, { distances: [-1] }), 'ERR_SETTING'],
  ['zero distance', () => extractFeaturesSync(image, mask, { distances: [0] }), 'ERR_SETTING'],
  ['empty distances', () => extractFeaturesSync(image, mask, { distances: [] }), 'ERR_SETTING'],
  ['distance beyond the ROI box', () => extractFeaturesSync(image, mask, { distances: [40] }), 'ERR_SETTING'],
  ['unknown setting', () => extractFeaturesSync(image, mask, { binwidth: 25 }), 'ERR_SETTING'],
  ['unknown weightingNorm', () => extractFeaturesSync(image, mask, { weightingNorm: 'l2' as 'manhattan' }), 'ERR_SETTING'],
  ['unknown aggregation', () => extractFeaturesSync(image, mask, { aggregation: '4D' as '3D_merged' }), 'ERR_SETTING'],
  ['force2Ddimension 3', () => extractFeaturesSync(image, mask, { force2D: true, force2Ddimension: 3 }), 'ERR_SETTING'],
  ['3D aggregation with force2D', () => extractFeaturesSync(image, mask, { force2D: true, aggregation: '3D_merged' }), 'ERR_SETTING'],
  ['resegmentRange of 3 values', () => extractFeaturesSync(image, mask, { resegmentRange: [1, 2, 3] }), 'ERR_SETTING'],
  ['resegmentation excluding everything', () => extractFeaturesSync(image, mask, { resegmentRange: [1e6] }), 'ERR_SHAPE'],
  ['unknown resegmentMode', () => extractFeaturesSync(image, mask, { resegmentMode: 'median' as 'sigma', resegmentRange: [0] }), 'ERR_SETTING'],
  ['minimumROISize above the ROI', () => extractFeaturesSync(image, mask, { minimumROISize: 1e6 }), 'ERR_SHAPE'],
  ['resampling with a negative spacing', () => extractFeaturesSync(image, mask, { resampledPixelSpacing: [1, -1, 1] }), 'ERR_SETTING'],
  ['resampling with a NaN spacing', () => extractFeaturesSync(image, mask, { resampledPixelSpacing: [1, NaN, 1] }), 'ERR_SETTING'],
  ['resampling with 2 spacings', () => extractFeaturesSync(image, mask, { resampledPixelSpacing: [1, 1] }), 'ERR_SETTING'],
  ['resampling with 4 spacings', () => extractFeaturesSync(image, mask, { resampledPixelSpacing: [1, 1, 1, 1] }), 'ERR_SETTING'],
  ['resampling spacing not a list', () => extractFeaturesSync(image, mask, { resampledPixelSpacing: 2 as unknown as number[] }), 'ERR_SETTING'],
  ['resampling to a grid too fine', () => extractFeaturesSync(image, mask, { resampledPixelSpacing: [1e-3, 1e-3, 1e-3] }), 'ERR_SETTING'],
  ['unknown interpolator', () => extractFeaturesSync(image, mask, { resampledPixelSpacing: [2, 2, 2], interpolator: 'cubic' as 'sitkLinear' }), 'ERR_SETTING'],
  ['interpolator code 3 (none in SimpleITK 2.5)', () => extractFeaturesSync(image, mask, { resampledPixelSpacing: [2, 2, 2], interpolator: 3 }), 'ERR_SETTING'],
  ['interpolator not built (sitkGaussian)', () => extractFeaturesSync(image, mask, { resampledPixelSpacing: [2, 2, 2], interpolator: 'sitkGaussian' as 'sitkLinear' }), 'ERR_UNSUPPORTED'],
  ['padDistance negative', () => extractFeaturesSync(image, mask, { resampledPixelSpacing: [2, 2, 2], padDistance: -1 }), 'ERR_SETTING'],
  ['resampling with a singular affine', () => extractFeaturesSync({ ...image, affine: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 2, 0, 0, 0, 0, 1] }, mask, { resampledPixelSpacing: [2, 2, 2] }), 'ERR_SHAPE'],
  ['voxelArrayShift a string', () => extractFeaturesSync(image, mask, { voxelArrayShift: '2000' as unknown as number }), 'ERR_SETTING'],
  ['voxelArrayShift infinite', () => extractFeaturesSync(image, mask, { voxelArrayShift: Infinity }), 'ERR_SETTING'],
  ['unknown feature class', () => extractFeaturesSync(image, mask, { classes: ['texture' as 'glcm'] }), 'ERR_SETTING'],
  ['LoG without sigma', () => extractFeaturesSync(image, mask, { imageType: { LoG: {} } }), 'ERR_SETTING'],
  ['LoG sigma 0', () => extractFeaturesSync(image, mask, { imageType: { LoG: { sigma: [0] } } }), 'ERR_SETTING'],
  ['LoG sigma negative', () => extractFeaturesSync(image, mask, { imageType: { LoG: { sigma: [-1] } } }), 'ERR_SETTING'],
  ['LoG sigma too large for the image', () => extractFeaturesSync(image, mask, { imageType: { LoG: { sigma: [100] } } }), 'ERR_SETTING'],
  ['LoG sigma not a number', () => extractFeaturesSync(image, mask, { imageType: { LoG: { sigma: ['one'] } } }), 'ERR_SETTING'],
  ['unknown wavelet', () => extractFeaturesSync(image, mask, { imageType: { Wavelet: { wavelet: 'coif99' } } }), 'ERR_SETTING'],
  ['biorthogonal wavelet', () => extractFeaturesSync(image, mask, { imageType: { Wavelet: { wavelet: 'bior2.2' } } }), 'ERR_UNSUPPORTED'],
  ['wavelet level 0', () => extractFeaturesSync(image, mask, { imageType: { Wavelet: { level: 0 } } }), 'ERR_SETTING'],
  ['wavelet start_level negative', () => extractFeaturesSync(image, mask, { imageType: { Wavelet: { start_level: -1 } } }), 'ERR_SETTING'],
  ['unknown image type', () => extractFeaturesSync(image, mask, { imageType: { Sobel: {} } }), 'ERR_SETTING'],
  ['imageType a list', () => extractFeaturesSync(image, mask, { imageType: ['LoG'] as unknown as Record<string, null> }), 'ERR_SETTING'],
  ['LBP2D', () => extractFeaturesSync(image, mask, { imageType: { LBP2D: {} } }), 'ERR_UNSUPPORTED'],
  ['LBP3D', () => extractFeaturesSync(image, mask, { imageType: { LBP3D: {} } }), 'ERR_UNSUPPORTED'],
  ['vector label channel', () => extractFeaturesSync(image, mask, { label_channel: 1 }), 'ERR_UNSUPPORTED'],
  ['settings not an object', () => extractFeaturesSync(image, mask, 5 as unknown as object), 'ERR_SETTING'],
  ['settings an array', () => extractFeaturesSync(image, mask, [] as unknown as object), 'ERR_SETTING'],
  ['threads 0', () => extractFeaturesSync(image, mask, {}, { threads: 0 }), 'ERR_SETTING'],
  ['threads absurd', () => extractFeaturesSync(image, mask, {}, { threads: 1e9 }), 'ERR_SETTING'],
  ['threads fractional', () => extractFeaturesSync(image, mask, {}, { threads: 1.5 }), 'ERR_SETTING'],
  ['unknown option', () => extractFeaturesSync(image, mask, {}, { thread: 2 } as object), 'ERR_SETTING'],
  ['image not a volume', () => extractFeaturesSync(null as unknown as Volume, mask), 'ERR_SHAPE'],
  ['image data not typed', () => extractFeaturesSync({ data: [1, 2] as unknown as Int16Array, shape: [2] }, mask), 'ERR_DTYPE'],
  ['image of int64', () => extractFeaturesSync({ data: new BigInt64Array(8), shape: [2, 2, 2] }, new Uint8Array(8)), 'ERR_DTYPE'],
  ['4D image', () => extractFeaturesSync({ data: new Int16Array(16), shape: [2, 2, 2, 2] }, new Uint8Array(16)), 'ERR_SHAPE'],
  ['shape not matching data', () => extractFeaturesSync({ data: new Int16Array(8), shape: [3, 3] }, new Uint8Array(8)), 'ERR_SHAPE'],
  ['single-voxel ROI', () => {
    const m = new Uint8Array(mask.data.length)
    m[200] = 1
    return extractFeaturesSync(image, { data: m, shape: mask.shape })
  }, 'ERR_SHAPE'],
  ['NaN inside the ROI', () => {
    const d = Float32Array.from(image.data as Int16Array)
    d[6 + 12 * 6 + 144 * 3] = NaN // the ROI's centre
    return extractFeaturesSync({ data: d, shape: image.shape }, mask)
  }, 'ERR_SETTING'],
  ['negative spacing', () => extractFeaturesSync({ ...image, spacing: [1, -1, 1] }, mask), 'ERR_SHAPE'],
  ['glcm with a bad setting', () => glcmSync(image, mask, { binWidth: -1 }), 'ERR_SETTING'],
  ['glrlm with an empty mask', () => glrlmSync(image, new Uint8Array(mask.data.length)), 'ERR_SHAPE'],
  ['gldm_a negative', () => extractFeaturesSync(image, mask, { gldm_a: -1 }), 'ERR_SETTING'],
  ['gldm_a fractional', () => extractFeaturesSync(image, mask, { gldm_a: 0.5 }), 'ERR_SETTING'],
  ['gldm distance beyond the ROI box', () => gldmSync(image, mask, { distances: [40] }), 'ERR_SETTING'],
  ['ngtdm distance beyond the ROI box', () => extractFeaturesSync(image, mask, { distances: [40], classes: ['ngtdm'] }), 'ERR_SETTING'],
  ['ngtdm with an empty mask', () => ngtdmSync(image, new Uint8Array(mask.data.length)), 'ERR_SHAPE'],
  ['glszm with a bad aggregation', () => glszmSync(image, mask, { aggregation: '1D' as '3D_merged' }), 'ERR_SETTING'],
  ['glszm with a single-voxel ROI', () => {
    const m = new Uint8Array(mask.data.length)
    m[200] = 1
    return glszmSync(image, m)
  }, 'ERR_SHAPE'],
]

for (const [what, f, code] of sync) {
  test(`bad input: ${what} -> ${code}`, (t) => {
    expectCode(t, f, code, what)
    t.true(alive())
  })
}

test('bad input: an already aborted signal -> ERR_ABORTED', async (t) => {
  const ac = new AbortController()
  ac.abort()
  const e = await t.throwsAsync(extractFeatures(image, mask, {}, { signal: ac.signal }))
  t.is((e as VoxelkitError).code, 'ERR_ABORTED')
  t.true(alive())
})

test('bad input: abort while running -> ERR_ABORTED', async (t) => {
  const big = phantom(128, 3)
  const ac = new AbortController()
  const p = extractFeatures(big.image, big.mask, { binWidth: 5 }, { signal: ac.signal })
  ac.abort()
  const e = await t.throwsAsync(p)
  t.is((e as VoxelkitError).code, 'ERR_ABORTED')
  t.true(alive())
})

test('bad input: async errors reject with the same codes', async (t) => {
  for (const [settings, code] of [
    [{ binWidth: 0 }, 'ERR_SETTING'],
    [{ label: 9 }, 'ERR_SETTING'],
    [{ resampledPixelSpacing: [2, 2, 2], interpolator: 'sitkLanczosWindowedSinc' }, 'ERR_UNSUPPORTED'],
    [{ resampledPixelSpacing: [2, 2, -2], interpolator: 'sitkLinear' }, 'ERR_SETTING'],
  ] as const) {
    const e = await t.throwsAsync(extractFeatures(image, mask, settings as object))
    t.is((e as VoxelkitError).code, code)
  }
  const e = await t.throwsAsync(extractFeatures(image, mask, {}, { threads: 0 }))
  t.is((e as VoxelkitError).code, 'ERR_SETTING')
})

test('edge cases that are values, not errors (as PyRadiomics)', (t) => {
  // flat region: one grey level
  const f = extractFeaturesSync(image, mask, { binWidth: 1e6 })
  t.is(f.original_glcm_MCC, 1)
  t.is(f.original_glcm_Contrast, 0)
  t.is(f.original_glcm_Imc2, 0)
  // two voxels in a line with minimumROIDimensions 1
  const m = new Uint8Array(mask.data.length)
  m[200] = 1
  m[201] = 1
  const g = extractFeaturesSync(image, { data: m, shape: mask.shape }, { minimumROIDimensions: 1, classes: ['glcm', 'glrlm'] })
  t.is(Object.keys(g).length, 40)
  // PyRadiomics: the robust MAD of two voxels averages an empty set (both lie outside [P10, P90])
  const fo = extractFeaturesSync(image, { data: m, shape: mask.shape }, { minimumROIDimensions: 1, classes: ['firstorder'] })
  t.is(Object.keys(fo).length, 18)
  t.true(Number.isNaN(fo.original_firstorder_RobustMeanAbsoluteDeviation))
  // first order with a distance beyond the box: no neighbourhood needed, values
  t.is(Object.keys(extractFeaturesSync(image, mask, { distances: [40], classes: ['firstorder', 'glszm'] })).length, 34)
  // flat region: NGTDM coarseness 1e6 (sum p_i s_i = 0), contrast, busyness, strength 0
  const n = extractFeaturesSync(image, mask, { binWidth: 1e6, classes: ['ngtdm'] })
  t.deepEqual(n, { original_ngtdm_Busyness: 0, original_ngtdm_Coarseness: 1e6, original_ngtdm_Complexity: 0, original_ngtdm_Contrast: 0, original_ngtdm_Strength: 0 })
  // PyRadiomics' settings that do not change these features are accepted
  t.notThrows(() => extractFeaturesSync(image, mask, { binWidth: 10, additionalInfo: true, voxelArrayShift: 2000, gldm_a: 0, interpolator: 'sitkBSpline', resampledPixelSpacing: null, padDistance: 5, preCrop: true }))
  t.true(alive())
})

test('32 concurrent feature extractions equal the sequential ones bitwise; aborting one leaves the others intact', async (t) => {
  const cases = [1, 2, 3, 4].map((seed) => phantom(10 + 2 * seed, seed))
  const settings = [{ binWidth: 10 }, { binCount: 16 }, { binWidth: 5, force2D: true }, { binWidth: 20, weightingNorm: 'euclidean' }]
  const refs = cases.map((c, i) => extractFeaturesSync(c.image, c.mask, settings[i] as never))
  const ac = new AbortController()
  const jobs = Array.from({ length: 32 }, (_, j) => {
    const i = j % 4
    return extractFeatures(cases[i].image, cases[i].mask, settings[i] as never, { threads: 1 + (j % 3), ...(j === 7 ? { signal: ac.signal } : {}) })
  })
  ac.abort()
  const settled = await Promise.allSettled(jobs)
  settled.forEach((s, j) => {
    if (s.status === 'rejected') {
      t.is((s.reason as VoxelkitError).code, 'ERR_ABORTED')
      t.is(j, 7, 'only the aborted call may reject')
      return
    }
    const r = refs[j % 4]
    t.true(Object.keys(r).length > 0 && Object.keys(r).every((k) => Object.is(s.value[k], r[k])), `job ${j}`)
  })
})
