import { readFileSync } from 'node:fs'
import { FAILSAFE_SCHEMA, Type, load } from 'js-yaml'
import type { Schema } from 'js-yaml'
import native from './native'
import type { RadiomicsOut, RadiomicsOutput, VolumeIn } from './native'
import { VoxelkitError, call, readUserValue, shown } from './errors'
import { needFileSystem } from './host'
import { ASYNC_OPTIONS, AsyncOptions, SyncOptions, checkOptions, runJob } from './jobs'
import { Volume, VoxelArray, checkVolume, dtypeOf, voxelsIn } from './volume'

/** Feature classes voxelkit computes (PyRadiomics' class names). */
export type FeatureClass = 'firstorder' | 'glcm' | 'gldm' | 'glrlm' | 'glszm' | 'ngtdm' | 'shape' | 'shape2D'

/**
 * The classes voxelkit computes, in PyRadiomics' order (its modules alphabetically). A parameter
 * file without `featureClass` enables all of them, as PyRadiomics does; the `classes` setting's
 * default is all but `shape2D` (PyRadiomics' extractor default).
 */
export const FEATURE_CLASSES: readonly FeatureClass[] = ['firstorder', 'glcm', 'gldm', 'glrlm', 'glszm', 'ngtdm', 'shape', 'shape2D']

/** IBSI's six texture aggregation methods. */
export type Aggregation =
  | '2D_averaged'
  | '2D_slice_merged'
  | '2.5D_direction_merged'
  | '2.5D_merged'
  | '3D_averaged'
  | '3D_merged'

/**
 * Extraction settings: PyRadiomics' names and the defaults of its `RadiomicsFeatureExtractor`
 * (a PyRadiomics settings dictionary or the `setting` block of a params file can be passed
 * unchanged). `null` means the default, as `None` does in PyRadiomics. Every setting name
 * PyRadiomics defines is accepted; the image types come as PyRadiomics' `imageType` block (see
 * {@link RadiomicsSettings.imageType}); the voxel-based settings (`kernelRadius`, `maskedKernel`,
 * `initValue`, `voxelBatch`) are read by {@link extractFeatureMaps} only, names of LBP filters or
 * diagnostics (`additionalInfo`) have no effect; an unknown name is `ERR_SETTING`. Resampling (`resampledPixelSpacing`) follows PyRadiomics'
 * `resampleImage`: the image is normalised first (with `normalize`), then image and mask are
 * resampled onto PyRadiomics' grid as SimpleITK does (see the README); the image types are
 * computed on the resampled image, as PyRadiomics does.
 */
export interface RadiomicsSettings {
  /** Label value of the ROI in the mask. @defaultValue 1 */
  label?: number | null
  /** Fixed bin width (PyRadiomics' edges: multiples of the width; IBSI's with `ibsi`). @defaultValue 25 */
  binWidth?: number | null
  /** Fixed bin count (overrides binWidth). */
  binCount?: number | null
  /** Normalise the whole image to mean 0, SD 1 (then `removeOutliers`, then `normalizeScale`). @defaultValue false */
  normalize?: boolean | null
  /** @defaultValue 1 */
  normalizeScale?: number | null
  /** Clip normalised values to ±this many SD. */
  removeOutliers?: number | null
  /**
   * Resample image and mask to this spacing `[x, y, z]` (mm) before everything else; a 0 keeps
   * the image's spacing on that axis, and an axis where the ROI is one voxel thick keeps it too
   * (PyRadiomics' rule). The grid covers the ROI's bounding box plus `padDistance` voxels,
   * corner-aligned with the image; origin and direction come from the image's `affine`.
   */
  resampledPixelSpacing?: number[] | null
  /**
   * Image interpolator for resampling (the mask is always resampled by nearest neighbour):
   * SimpleITK's name or code (`'sitkNearestNeighbor'` / 1, `'sitkLinear'` / 2, `'sitkBSpline'` / 23).
   * `null` turns resampling off, as in PyRadiomics. Other SimpleITK interpolators are `ERR_UNSUPPORTED`.
   * @defaultValue 'sitkBSpline'
   */
  interpolator?: 'sitkNearestNeighbor' | 'sitkLinear' | 'sitkBSpline' | number | null
  /** Voxels of the new grid added around the ROI's bounding box when resampling. @defaultValue 5 */
  padDistance?: number | null
  /** Chebyshev distances of the neighbours. @defaultValue [1] */
  distances?: number[] | null
  /** In-plane directions only. @defaultValue false */
  force2D?: boolean | null
  /** The out-of-plane axis in numpy order (0 = z, 1 = y, 2 = x). @defaultValue 0 */
  force2Ddimension?: number | null
  /** Resegmentation thresholds (1 or 2 numbers). */
  resegmentRange?: number[] | null
  /** @defaultValue 'absolute' */
  resegmentMode?: 'absolute' | 'relative' | 'sigma' | null
  /** @defaultValue 2 */
  minimumROIDimensions?: number | null
  minimumROISize?: number | null
  /** @defaultValue true */
  symmetricalGLCM?: boolean | null
  /** First order: added to the intensities in Energy, TotalEnergy and RootMeanSquared. @defaultValue 0 */
  voxelArrayShift?: number | null
  /** GLDM: a neighbour is dependent when its grey level differs by at most this (an integer >= 0). @defaultValue 0 */
  gldm_a?: number | null
  /** Merge directions weighted by distance. */
  weightingNorm?: 'manhattan' | 'euclidean' | 'infinity' | 'no_weighting' | null
  /**
   * Feature classes: a list of class names, or PyRadiomics' `featureClass` block (a params file's,
   * passable unchanged): class name -> the features to compute, in that order, or `null` / `[]`
   * for the class's default features (every feature but the deprecated ones, in PyRadiomics'
   * order). A deprecated feature named in a list is computed where PyRadiomics computes it (first
   * order `StandardDeviation`, shape `Compactness1`, `Compactness2`, `SphericalDisproportion`,
   * shape2D `SphericalDisproportion`) and yields no key where PyRadiomics' method raises a
   * deprecation warning instead (GLCM `Dissimilarity`, `Homogeneity1`, `Homogeneity2`,
   * `SumVariance`; GLDM `DependencePercentage`, `GrayLevelNonUniformityNormalized`). A name the
   * class does not define is `ERR_SETTING`, as PyRadiomics' parameter validation refuses it.
   * `shape` and `shape2D` read the mask only and come first in the result, as in PyRadiomics;
   * `shape2D` needs `force2D` and a ROI one voxel thick along `force2Ddimension` (PyRadiomics'
   * rule, see the README), and is skipped (no keys) otherwise; the others are keyed in the order
   * given.
   * @defaultValue every class but shape2D ({@link FEATURE_CLASSES}), as PyRadiomics' extractor enables them
   */
  classes?: FeatureClass[] | Partial<Record<FeatureClass, string[] | null>>
  /** IBSI aggregation; default PyRadiomics' (3D averaged, 2.5D direction-merged with force2D). */
  aggregation?: Aggregation | null
  /** Follow the IBSI manual where PyRadiomics differs (discretisation). @defaultValue false */
  ibsi?: boolean | null
  /** The shape classes use the resegmented mask (by default the original one, cropped to the resegmented ROI's bounding box). @defaultValue false */
  resegmentShape?: boolean | null
  /**
   * Image types, as a params file's `imageType` block: type name -> custom settings (any setting
   * above, overriding the general ones for that type's features, as PyRadiomics' `execute` does).
   * Types: `Original`, `LoG` (needs `sigma`), `Wavelet`, `Square`, `SquareRoot`, `Logarithm`,
   * `Exponential`, `Gradient`; `LBP2D`/`LBP3D` are `ERR_UNSUPPORTED` (they need scikit-image's and
   * trimesh's semantics). Shape features are computed once (original mask); the other classes
   * once per derived image, keyed by its PyRadiomics name (`log-sigma-1-0-mm-3D_firstorder_Mean`,
   * `wavelet-LLH_glcm_Contrast`, `square_…`, `squareroot_…`, `logarithm_…`, `exponential_…`,
   * `gradient_…`) in the order the types are given.
   * @defaultValue `{ Original: {} }`
   */
  imageType?: Record<string, Record<string, unknown> | null> | null
  /**
   * LoG: Gaussian widths in mm (each > 0, and `size >= ceil(sigma / spacing) + 1` along every
   * axis; the image needs 4 voxels along every axis). The image name writes the value as Python's
   * `str` does: an integer `1` gives `log-sigma-1-mm-3D`; a float needs its spelling as a string,
   * `'1.0'` -> `log-sigma-1-0-mm-3D` ({@link readParams} does this for a file's `1.0`).
   */
  sigma?: (number | string)[] | null
  /** Wavelet: PyWavelets' name (haar, db1-db20, sym2-sym20, coif1-coif5). @defaultValue 'coif1' */
  wavelet?: string | null
  /** Wavelet: levels that yield images. @defaultValue 1 */
  level?: number | null
  /** Wavelet: first level that yields images (0-based). @defaultValue 0 */
  start_level?: number | null
  /** Gradient: derivatives per mm rather than per voxel. @defaultValue true */
  gradientUseSpacing?: boolean | null
  /**
   * Voxel-based extraction: only {@link extractFeatureMaps} computes it (which implies it);
   * `true` in {@link extractFeatures} is `ERR_SETTING`. @defaultValue false
   */
  voxelBased?: boolean | null
  /** Voxel-based: kernel half-width in voxels (an integer >= 1). @defaultValue 1 */
  kernelRadius?: number | null
  /** Voxel-based: kernels hold ROI voxels only (false: every voxel of the maps' box, discretised over the box). @defaultValue true */
  maskedKernel?: boolean | null
  /** Voxel-based: the maps' value outside the ROI. @defaultValue 0 */
  initValue?: number | null
  /** Voxel-based: ROI voxels per batch (PyRadiomics' batches; only MCC's failure rule depends on them). @defaultValue all ROI voxels */
  voxelBatch?: number | null
  /** Other PyRadiomics setting names (accepted; see above). */
  [pyradiomicsName: string]: unknown
}

/** Feature values keyed like PyRadiomics (`original_glcm_Contrast`, …). */
export type Features = Record<string, number>

/** A stack of texture matrices, first axis fastest: element (i, j, m) at `i + rows * (j + cols * m)`. */
export interface TextureMatrices {
  data: Float64Array
  /** `[rows, cols, matrices]` */
  shape: number[]
  /** Grey level (bin index) of each row (and, for the GLCM, each column). */
  greyLevels: number[]
  /** The value of each column: GLRLM the run length, GLSZM the zone size, GLDM the dependence (dependent neighbours + 1); empty for the GLCM and the NGTDM (columns n_i, s_i, i). */
  runLengths: number[]
  /** Direction `[dz, dy, dx]` of each matrix when each matrix is one direction over the ROI. */
  angles: number[][]
}

function spacingOf(v: Volume): number[] {
  if (v.spacing !== undefined) {
    if (!Array.isArray(v.spacing) || v.spacing.length < 2 || !v.spacing.every((s) => Number.isFinite(s) && s > 0)) {
      throw new VoxelkitError('ERR_SHAPE', `spacing must hold positive finite numbers, got ${shown(v.spacing)}`)
    }
    return [v.spacing[0], v.spacing[1], v.spacing[2] ?? 1]
  }
  if (v.affine !== undefined) {
    const a = v.affine
    return [0, 1, 2].map((c) => Math.hypot(a[c], a[4 + c], a[8 + c]) || 1)
  }
  return [1, 1, 1]
}

interface Prepared {
  image: VolumeIn
  mask: VolumeIn
  settings: RadiomicsSettings
}

function prepare(image: Volume, mask: Volume | VoxelArray, settings: RadiomicsSettings): Prepared {
  const v = checkVolume(image, 'image')
  let shape = v.shape
  while (shape.length > 3 && shape[shape.length - 1] === 1) shape = shape.slice(0, -1)
  if (shape.length < 2 || shape.length > 3) {
    throw new VoxelkitError('ERR_SHAPE', `image must be 2D or 3D, got shape [${v.shape.join(', ')}]`)
  }
  const shape3 = [shape[0], shape[1], shape[2] ?? 1]
  let m: VoxelArray
  if (dtypeOf(mask) !== undefined) {
    m = mask as VoxelArray
  } else {
    const mv = checkVolume(mask, 'mask')
    const ms = mv.shape.concat([1, 1, 1]).slice(0, Math.max(mv.shape.length, 3))
    const is = v.shape.concat([1, 1, 1]).slice(0, Math.max(v.shape.length, 3))
    if (ms.length !== is.length || ms.some((s, i) => s !== is[i])) {
      throw new VoxelkitError('ERR_SHAPE', `mask shape [${mv.shape.join(', ')}] must equal the image shape [${v.shape.join(', ')}]`)
    }
    m = mv.data
  }
  if (m.length !== v.data.length) {
    throw new VoxelkitError('ERR_SHAPE', `mask has ${m.length} voxels, the image ${v.data.length}`)
  }
  if (settings === null || typeof settings !== 'object' || Array.isArray(settings)) {
    throw new VoxelkitError('ERR_SETTING', `settings must be an object, got ${shown(settings)}`)
  }
  const plain = checkJsonData(settings, 'settings') as RadiomicsSettings
  return {
    image: { data: voxelsIn(v.data), shape: shape3, spacing: spacingOf(v), ...(v.affine !== undefined ? { affine: v.affine } : {}) },
    mask: { data: voxelsIn(m), shape: shape3 },
    settings: plain,
  }
}

/**
 * The settings cross to the kernel as JSON values: numbers (finite: JSON has no NaN or
 * infinity), strings, booleans, null, arrays and plain objects, at most 32 levels deep and
 * {@link MAX_SETTING_VALUES} values in all (a sparse array's holes count: they cross as nulls).
 * Anything else (a typed array from YAML's `!!binary`, a Map or Set from `!!omap`/`!!set`, a
 * Date, a function, a bigint, a cycle, a getter or Proxy trap that throws) is `ERR_SETTING` here
 * rather than an obscure conversion error in the binding (found by scripts/fuzz-params.mjs and
 * scripts/fuzz-options.mjs). Returns a copy made of plain arrays and objects, each value read
 * once (what the binding converts: a Proxy of an array is not an array to it).
 */
function checkJsonData(x: unknown, where: string): unknown {
  const left = { values: MAX_SETTING_VALUES }
  return readUserValue(() => jsonCopy(x, where, 0, left), 'ERR_SETTING', where)
}

/** The most values (numbers, strings, …, arrays and objects included) settings may hold. @internal */
const MAX_SETTING_VALUES = 100_000

function jsonCopy(x: unknown, where: string, depth: number, left: { values: number }): unknown {
  if (depth > 32) throw new VoxelkitError('ERR_SETTING', `settings nest more than 32 levels deep (at ${where}; a cycle?)`)
  if (--left.values < 0) throw new VoxelkitError('ERR_SETTING', `settings hold more than ${MAX_SETTING_VALUES} values (at ${where})`)
  if (x === null || x === undefined || typeof x === 'string' || typeof x === 'boolean') return x
  if (typeof x === 'number') {
    if (!Number.isFinite(x)) throw new VoxelkitError('ERR_SETTING', `settings hold a non-finite number (${x}) at ${where}`)
    return x
  }
  if (Array.isArray(x)) {
    // every index: holes cross to the kernel as nulls
    const out: unknown[] = []
    for (let i = 0; i < x.length; i++) out.push(jsonCopy(x[i], `${where}[${i}]`, depth + 1, left))
    return out
  }
  const proto = typeof x === 'object' ? Object.getPrototypeOf(x) : undefined
  if (typeof x === 'object' && (proto === Object.prototype || proto === null)) {
    // fromEntries: a '__proto__' key stays a key
    return Object.fromEntries(Object.entries(x as object).map(([k, v]) => [k, jsonCopy(v, `${where}.${k}`, depth + 1, left)]))
  }
  const kind = typeof x === 'object' ? ((x as object).constructor?.name ?? 'object') : typeof x
  throw new VoxelkitError('ERR_SETTING', `settings hold a ${kind} at ${where}: only numbers, strings, booleans, null, arrays and plain objects`)
}

function toFeatures(o: RadiomicsOut): Features {
  const out: Features = {}
  o.names.forEach((n, i) => (out[n] = o.values[i]))
  return out
}

function toMatrices(o: RadiomicsOut): TextureMatrices {
  const angles: number[][] = []
  for (let k = 0; k < o.angles.length; k += 3) angles.push(o.angles.slice(k, k + 3))
  return { data: o.values, shape: o.shape, greyLevels: o.greyLevels, runLengths: o.runLengths, angles }
}

/**
 * Features of the ROI `mask == label` (first order, shape, shape2D and the texture classes, see
 * {@link FEATURE_CLASSES}), with PyRadiomics 3.1 semantics (its `RadiomicsFeatureExtractor`,
 * with the image types of `settings.imageType`: original, LoG, wavelet, square, square root,
 * logarithm, exponential, gradient), off the event loop.
 *
 * The arrays are read in place while the call runs: do not modify them until it settles.
 *
 * @param image 2D or 3D Volume (any integer or float type); spacing from `spacing` or the affine
 *   (the affine also gives origin and direction, which resampling uses)
 * @param mask label map on the same grid (Volume or bare typed array)
 * @param settings PyRadiomics settings (see {@link RadiomicsSettings})
 * @example
 * ```ts
 * const f = await extractFeatures(await readVolume('ct.nrrd'), await readVolume('seg.nrrd'), { binWidth: 25 })
 * f.original_glcm_Contrast
 * ```
 */
export async function extractFeatures(
  image: Volume,
  mask: Volume | VoxelArray,
  settings: RadiomicsSettings = {},
  options: AsyncOptions = {},
): Promise<Features> {
  return toFeatures(await computeAsync('features', image, mask, settings, options))
}

/** The synchronous twin of {@link extractFeatures} (blocks the event loop). */
export function extractFeaturesSync(
  image: Volume,
  mask: Volume | VoxelArray,
  settings: RadiomicsSettings = {},
  options: SyncOptions = {},
): Features {
  return toFeatures(computeSync('features', image, mask, settings, options))
}

const FN: Record<RadiomicsOutput, string> = {
  features: 'extractFeatures',
  glcm: 'glcm',
  glrlm: 'glrlm',
  glszm: 'glszm',
  gldm: 'gldm',
  ngtdm: 'ngtdm',
  maps: 'extractFeatureMaps',
}

/** Voxel-based feature maps keyed like PyRadiomics' voxel-based result (`original_glcm_Contrast`, …). */
export type FeatureMaps = Record<string, Volume<Float64Array>>

/** The image's voxel-to-world matrix: its `affine`, else `spacing` with origin 0. */
function imageAffine(image: Volume): number[] {
  const sp = spacingOf(image)
  return image.affine !== undefined ? image.affine.slice() : [sp[0], 0, 0, 0, 0, sp[1], 0, 0, 0, 0, sp[2], 0, 0, 0, 0, 1]
}

/** A voxel-to-world matrix `base` moved to start at voxel `o`. */
function boxAffine(base: number[], o: number[]): number[] {
  const a = base.slice()
  for (let r = 0; r < 3; r++) a[4 * r + 3] += a[4 * r] * o[0] + a[4 * r + 1] * o[1] + a[4 * r + 2] * o[2]
  return a
}

function toMaps(o: RadiomicsOut, image: Volume): FeatureMaps {
  const len = o.shape[0] * o.shape[1] * o.shape[2]
  // with resampledPixelSpacing the maps lie on the resampled grid (as PyRadiomics' do)
  const resampled = o.gridAffine.length === 16
  const affine = boxAffine(resampled ? o.gridAffine : imageAffine(image), o.origin)
  const spacing = resampled ? o.gridSpacing.slice() : spacingOf(image)
  const out: FeatureMaps = {}
  o.names.forEach((n, k) => {
    out[n] = { data: o.values.subarray(k * len, (k + 1) * len), shape: o.shape.slice(), affine: affine.slice(), spacing: spacing.slice() }
  })
  return out
}

/**
 * Voxel-based extraction (PyRadiomics' `execute(image, mask, voxelBased=True)`): for every ROI
 * voxel, the enabled first-order, GLCM, GLRLM, GLSZM, GLDM and NGTDM features of a kernel around it, as one map per feature
 * (keys as PyRadiomics', in its order; every image type of `settings.imageType`).
 *
 * Settings as {@link extractFeatures}, plus PyRadiomics' voxel settings: `kernelRadius` (kernel
 * half-width in voxels, default 1), `maskedKernel` (kernels hold ROI voxels only, default true;
 * false: every voxel, discretised over the maps' box), `initValue` (the maps' value outside the
 * ROI, default 0) and `voxelBatch` (voxels per batch; it only decides where PyRadiomics' MCC
 * fails, see the README). The maps cover the ROI's bounding box grown by `kernelRadius` voxels
 * and clipped to the image, as PyRadiomics' SimpleITK maps do: each is a Volume of that box
 * (`affine` = the image's, moved to the box's first voxel). A kernel with no voxel pair in any
 * direction has NaN GLCM features, and one with no run of two ROI voxels in any direction NaN
 * GLRLM features, as in PyRadiomics. Shape classes are not voxel-based (no maps, as in
 * PyRadiomics). With `resampledPixelSpacing`, image and mask are resampled first (as
 * {@link extractFeatures} does) and the maps lie on the resampled grid: their `affine` and
 * `spacing` are that grid's, moved to the box's first voxel.
 *
 * The maps share one Float64Array buffer (each map's `data` is a view of it).
 *
 * @example
 * ```ts
 * const maps = await extractFeatureMaps(image, mask, { classes: { glcm: ['Contrast'] }, kernelRadius: 1 })
 * await writeVolume('contrast.nii.gz', maps.original_glcm_Contrast)
 * ```
 */
export async function extractFeatureMaps(
  image: Volume,
  mask: Volume | VoxelArray,
  settings: RadiomicsSettings = {},
  options: AsyncOptions = {},
): Promise<FeatureMaps> {
  return toMaps(await computeAsync('maps', image, mask, settings, options), image)
}

/** The synchronous twin of {@link extractFeatureMaps} (blocks the event loop). */
export function extractFeatureMapsSync(
  image: Volume,
  mask: Volume | VoxelArray,
  settings: RadiomicsSettings = {},
  options: SyncOptions = {},
): FeatureMaps {
  return toMaps(computeSync('maps', image, mask, settings, options), image)
}

async function computeAsync(what: RadiomicsOutput, image: Volume, mask: Volume | VoxelArray, settings: RadiomicsSettings, options: AsyncOptions) {
  checkOptions(options, ASYNC_OPTIONS, FN[what])
  const p = prepare(image, mask, settings)
  return runJob(options, (job) => native.radiomics(what, p.image, p.mask, p.settings, options.threads, job))
}

function computeSync(what: RadiomicsOutput, image: Volume, mask: Volume | VoxelArray, settings: RadiomicsSettings, options: SyncOptions) {
  checkOptions(options, { threads: 'number' }, `${FN[what]}Sync`)
  const p = prepare(image, mask, settings)
  return call(() => native.radiomicsSync(what, p.image, p.mask, p.settings, options.threads))
}

/**
 * The GLCM matrices as PyRadiomics' `P_glcm` holds them after its processing: grey levels absent
 * from the ROI removed, symmetrised (`symmetricalGLCM`), weighted (`weightingNorm`), empty
 * directions removed, each matrix normalised to sum 1. One matrix per direction by default, per
 * aggregation group otherwise.
 */
export function glcm(image: Volume, mask: Volume | VoxelArray, settings: RadiomicsSettings = {}, options: AsyncOptions = {}): Promise<TextureMatrices> {
  return computeAsync('glcm', image, mask, settings, options).then(toMatrices)
}

/** The synchronous twin of {@link glcm}. */
export function glcmSync(image: Volume, mask: Volume | VoxelArray, settings: RadiomicsSettings = {}, options: SyncOptions = {}): TextureMatrices {
  return toMatrices(computeSync('glcm', image, mask, settings, options))
}

/**
 * The GLRLM matrices as PyRadiomics' `P_glrlm` holds them: run counts (not normalised), grey
 * levels absent from the ROI and run lengths that never occur removed, weighted, empty directions
 * removed.
 */
export function glrlm(image: Volume, mask: Volume | VoxelArray, settings: RadiomicsSettings = {}, options: AsyncOptions = {}): Promise<TextureMatrices> {
  return computeAsync('glrlm', image, mask, settings, options).then(toMatrices)
}

/** The synchronous twin of {@link glrlm}. */
export function glrlmSync(image: Volume, mask: Volume | VoxelArray, settings: RadiomicsSettings = {}, options: SyncOptions = {}): TextureMatrices {
  return toMatrices(computeSync('glrlm', image, mask, settings, options))
}

/**
 * The GLSZM matrices as PyRadiomics' `P_glszm` holds them: zone counts, rows the grey levels of
 * the ROI, columns the zone sizes that occur (`runLengths`). One matrix (3D zones, or the
 * in-plane zones of every slice with `force2D`/`2.5D_*`), one per slice with `2D_*`.
 */
export function glszm(image: Volume, mask: Volume | VoxelArray, settings: RadiomicsSettings = {}, options: AsyncOptions = {}): Promise<TextureMatrices> {
  return computeAsync('glszm', image, mask, settings, options).then(toMatrices)
}

/** The synchronous twin of {@link glszm}. */
export function glszmSync(image: Volume, mask: Volume | VoxelArray, settings: RadiomicsSettings = {}, options: SyncOptions = {}): TextureMatrices {
  return toMatrices(computeSync('glszm', image, mask, settings, options))
}

/**
 * The GLDM matrices as PyRadiomics' `P_gldm` holds them: voxel counts, rows the grey levels of
 * the ROI, columns the dependences that occur (`runLengths`: the number of neighbours within
 * `gldm_a` grey levels, plus one). One matrix unless a `2D_*` aggregation (one per slice).
 */
export function gldm(image: Volume, mask: Volume | VoxelArray, settings: RadiomicsSettings = {}, options: AsyncOptions = {}): Promise<TextureMatrices> {
  return computeAsync('gldm', image, mask, settings, options).then(toMatrices)
}

/** The synchronous twin of {@link gldm}. */
export function gldmSync(image: Volume, mask: Volume | VoxelArray, settings: RadiomicsSettings = {}, options: SyncOptions = {}): TextureMatrices {
  return toMatrices(computeSync('gldm', image, mask, settings, options))
}

/**
 * The NGTDM matrices as PyRadiomics' `P_ngtdm` holds them: rows the grey levels, columns `n_i`
 * (voxels of the level), `s_i` (sum of |i - mean grey level of the neighbours in the ROI|) and
 * `i`. One matrix unless a `2D_*` aggregation (one per slice, rows the ROI's grey levels).
 */
export function ngtdm(image: Volume, mask: Volume | VoxelArray, settings: RadiomicsSettings = {}, options: AsyncOptions = {}): Promise<TextureMatrices> {
  return computeAsync('ngtdm', image, mask, settings, options).then(toMatrices)
}

/** The synchronous twin of {@link ngtdm}. */
export function ngtdmSync(image: Volume, mask: Volume | VoxelArray, settings: RadiomicsSettings = {}, options: SyncOptions = {}): TextureMatrices {
  return toMatrices(computeSync('ngtdm', image, mask, settings, options))
}

/** A PyRadiomics parameter file. */
export interface RadiomicsParams {
  /** Settings, passable to {@link extractFeatures} unchanged. */
  setting: RadiomicsSettings
  /** Enabled feature classes: name -> feature names (null or [] = all). */
  featureClass: Record<string, string[] | null>
  /** Enabled image types: name -> custom settings. */
  imageType: Record<string, Record<string, unknown>>
  /** Voxel-based settings. */
  voxelSetting: Record<string, unknown>
}

const PARAM_KEYS = ['setting', 'featureClass', 'imageType', 'voxelSetting']

/**
 * PyRadiomics names LoG images after Python's `str(sigma)`: `1.0` gives `log-sigma-1-0-mm-3D`,
 * `1` gives `log-sigma-1-mm-3D`. JavaScript numbers lose that distinction, so the float
 * spellings of a file's `sigma` lists (a point or an exponent) are kept as strings, which the
 * kernel reads as Python floats. JSON is YAML, so the YAML parse's source spellings serve both
 * (`spellings`: those of the document's parse when the caller has them, else the text is
 * parsed here for them; null: the parse could not tell them).
 */
function keepSigmaSpelling(doc: unknown, text: string, spellings?: string[][] | null): void {
  if (doc === null || typeof doc !== 'object') return
  // How many sigma lists each object holds, as the walk below meets them (an alias repeats its
  // lists): counted once per object, so that a document of nested aliases costs its size, not
  // the number of paths through it (the walk alone took 9 % of scripts/fuzz-params.mjs).
  const counts = new Map<object, number>()
  const active = new Set<object>()
  const count = (x: unknown): number => {
    if (x === null || typeof x !== 'object') return 0
    const known = counts.get(x)
    if (known !== undefined) return known
    if (active.has(x)) throw CYCLE
    active.add(x)
    let n = 0
    if (Array.isArray(x)) x.forEach((v) => (n += count(v)))
    else for (const [k, v] of Object.entries(x)) n += k === 'sigma' && Array.isArray(v) ? 1 : count(v)
    active.delete(x)
    counts.set(x, n)
    return n
  }
  // the sigma lists of the parsed document, in document order (subtrees without one skipped)
  const lists: unknown[][] = []
  const walk = (x: unknown): void => {
    if (x !== null && typeof x === 'object' && counts.get(x) === 0) return
    if (Array.isArray(x)) x.forEach(walk)
    else if (x !== null && typeof x === 'object') {
      for (const [k, v] of Object.entries(x as Record<string, unknown>)) {
        if (k === 'sigma' && Array.isArray(v)) lists.push(v)
        else walk(v)
      }
    }
  }
  let total: number
  try {
    total = count(doc)
  } catch (e) {
    if (e !== CYCLE) throw e
    // a cyclic document (a recursive alias): the walk of every path never ends; it used to run
    // until the stack overflowed (most of this function's cost in the fuzzer), with this error
    throw new RangeError('Maximum call stack size exceeded')
  }
  // no list to respell: the spellings (a second parse for JSON) are not needed
  if (total === 0) return
  if (spellings === undefined) {
    try {
      spellings = parseYaml(text, true).spellings
    } catch {
      return
    }
  }
  // one spelling list per `sigma: [...]` pair of the source; an alias repeats a list in the
  // value but not in the source, and then the lists cannot be matched: kept as parsed
  if (!spellings || total !== spellings.length) return
  walk(doc)
  lists.forEach((l, i) => {
    l.forEach((v, j) => {
      const sp = spellings[i][j]?.trim()
      if (typeof v === 'number' && sp !== undefined && /^[-+]?(\d+\.\d*|\.\d+|\d+(\.\d*)?[eE][-+]?\d+)$/.test(sp)) {
        l[j] = sp
      }
    })
  })
}

/** Thrown by keepSigmaSpelling's count on a cycle. */
const CYCLE = new Error('cycle')

/**
 * A js-yaml scalar type resolving as the YAML 1.2 core schema does in the `yaml` package (v2,
 * readParams' parser until issue 19; its `schema/core` sources): a plain scalar, or one with
 * the explicit tag, is of the type when one of the regular expressions matches it, converted
 * as there. js-yaml's own CORE_SCHEMA differs (underscores in numbers, `0b`, octal `0o` only
 * from 4.x, `.inf` spellings), and the values of existing files must not change.
 */
function coreType(tag: string, forms: [RegExp, (s: string) => unknown][], empty?: unknown): Type {
  return new Type(`tag:yaml.org,2002:${tag}`, {
    kind: 'scalar',
    // null: an empty node with the explicit tag (`!!null` alone); the `yaml` package tests ''
    resolve: (s: unknown) => (s === null ? empty !== undefined : typeof s === 'string' && forms.some(([re]) => re.test(s))),
    construct: (s: string | null) => {
      if (s === null) return empty
      for (const [re, f] of forms) if (re.test(s)) return f(s)
    },
  })
}

/** The schema of {@link coreType}s, built on the first parse (the browser bundle stubs js-yaml). */
let yamlCore: Schema | undefined
const yamlCoreSchema = (): Schema =>
  (yamlCore ??= FAILSAFE_SCHEMA.extend({
    implicit: [
      coreType('null', [[/^(?:~|[Nn]ull|NULL)?$/, () => null]], null),
      coreType('bool', [[/^(?:[Tt]rue|TRUE|[Ff]alse|FALSE)$/, (s) => s[0] === 't' || s[0] === 'T']]),
      coreType('int', [
        [/^0o[0-7]+$/, (s) => parseInt(s.substring(2), 8)],
        [/^[-+]?[0-9]+$/, (s) => parseInt(s, 10)],
        [/^0x[0-9a-fA-F]+$/, (s) => parseInt(s.substring(2), 16)],
      ]),
      coreType('float', [
        [/^(?:[-+]?\.(?:inf|Inf|INF)|\.nan|\.NaN|\.NAN)$/, (s) => (s.slice(-3).toLowerCase() === 'nan' ? NaN : s[0] === '-' ? -Infinity : Infinity)],
        [/^[-+]?(?:\.[0-9]+|[0-9]+(?:\.[0-9]*)?)[eE][-+]?[0-9]+$/, (s) => parseFloat(s)],
        [/^[-+]?(?:\.[0-9]+|[0-9]+\.[0-9]*)$/, (s) => parseFloat(s)],
      ]),
    ],
  }))

/** One node being composed, for {@link parseYaml}'s listener. */
interface Frame {
  /** where the node's parse began (before its separation space and properties) */
  at: number
  /** after a `?`: an explicit mapping key */
  explicitKey: boolean
  /** the key the node's last closed child was, when it was a scalar key; else NO_KEY */
  key: unknown
  /** where that key ended (a flow sequence's single-pair mapping has no node of its own) */
  keyEnd: number
  /** a pair's value inside a flow sequence: part of the pair's item, not an item */
  pairValue: boolean
  /** the value of a `sigma` key: its index in the spellings, its children's spellings */
  slot: number
  items: string[] | null
  /** a child key node was the string 'null' (else a key 'null' is js-yaml's name of a missing key) */
  nullKey: boolean
}
const NO_KEY = Symbol('no key')

/** `s[i]` is a space, a tab or a line break. */
const blank = (c: number): boolean => c === 0x20 || c === 0x09 || c === 0x0a || c === 0x0d

/** The position after separation space (blanks, line breaks, comments) from `i`. */
function skipSeparation(s: string, i: number): number {
  for (;;) {
    const c = s.charCodeAt(i)
    if (blank(c)) i++
    else if (c === 0x23 && (i === 0 || blank(s.charCodeAt(i - 1)))) {
      while (i < s.length && s.charCodeAt(i) !== 0x0a && s.charCodeAt(i) !== 0x0d) i++
    } else return i
  }
}

/** Where the content of a node parsed from `at` begins: after its separation space, tag and anchor. */
function contentStart(s: string, at: number, end = s.length): number {
  let i = skipSeparation(s, at)
  while (i < end && (s[i] === '!' || s[i] === '&')) {
    while (i < end && !blank(s.charCodeAt(i))) i++
    i = skipSeparation(s, i)
  }
  return i
}

/** The source of a scalar node parsed from `at` to `end`: its first token after its tag and anchor. */
function scalarSource(s: string, at: number, end: number): string {
  const i = contentStart(s, at, end)
  let j = i
  while (j < end && !blank(s.charCodeAt(j))) j++
  return s.slice(i, j)
}

/**
 * readParams' YAML parse: js-yaml with the `yaml` package's YAML 1.2 core schema (the values of
 * the `yaml` package's `parse`, readParams' parser until issue 19, ten times slower), mapping
 * keys as there (a null key is `''`), and, from js-yaml's parse events, the source spellings of
 * the document's `sigma` lists for {@link keepSigmaSpelling} (one list of item spellings per
 * `sigma` key whose value is a sequence, in document order; '' for an item that is not a
 * scalar). Refused: a collection as a mapping key (PyYAML: "found unhashable key"; the `yaml`
 * package stringified it as YAML, which no parameter names) and a `%YAML 1.1` document (the
 * `yaml` package read it with YAML 1.1's schema: `yes`, `0b1`, `1_000`, `<<` merges).
 * `json`: the text is JSON (for its spellings only; JSON allows repeated keys).
 */
function parseYaml(text: string, json: boolean): { doc: unknown; spellings: string[][] | null } {
  const stack: Frame[] = []
  const slots: (string[] | null)[] = []
  let first = true
  const listener = (
    event: 'open' | 'close',
    state: { input: string; position: number; result: unknown; kind: string | null; version: unknown; tag: string | null; anchor: string | null; anchorMap: Record<string, unknown> },
  ): void => {
    const s = state.input
    const pos = state.position
    const parent = stack.length > 0 ? stack[stack.length - 1] : undefined
    if (event === 'open') {
      if (first) {
        first = false
        if (state.version !== null && String(state.version) === '1.1') {
          throw new Error(`%YAML 1.1: YAML 1.1 documents are not read (their schema differs: yes/no, 0b1, 1_000, << merges); a parameter file needs no directive`)
        }
      }
      let q = pos - 1
      while (q >= 0 && (s[q] === ' ' || s[q] === '\t')) q--
      const explicitKey = q >= 0 && s[q] === '?' && (q === 0 || blank(s.charCodeAt(q - 1)) || '[{,'.includes(s[q - 1]))
      let pairValue = false
      if (parent) {
        if (parent.items && parent.keyEnd >= 0) pairValue = s[skipSeparation(s, parent.keyEnd)] === ':'
        parent.keyEnd = -1
      }
      const slot = parent && parent.key === 'sigma' ? slots.push(null) - 1 : -1
      stack.push({ at: pos, explicitKey, key: NO_KEY, keyEnd: -1, pairValue, slot, items: slot >= 0 ? [] : null, nullKey: false })
      return
    }
    const f = stack.pop() as Frame
    // an empty node with the non-specific tag `!`: js-yaml leaves it null, YAML 1.2 (and the
    // `yaml` package) makes it the empty string
    if (state.tag === '!' && state.result === null) {
      state.result = ''
      if (state.anchor !== null) state.anchorMap[state.anchor] = ''
    }
    const up = stack.length > 0 ? stack[stack.length - 1] : undefined
    let isKey = f.explicitKey
    if (!isKey) {
      let k = pos
      while (s[k] === ' ' || s[k] === '\t') k++
      isKey = s[k] === ':' && !s.slice(f.at, pos).includes('\n')
      // YAML and PyYAML limit an implicit key to 1024 characters; the `yaml` package did in block
      // mappings and flow sequences' pairs, not in flow mappings ({...}); JSON has no limit (its
      // values come from JSON.parse, and the `yaml` package's tree had the spellings)
      if (isKey && !json && k - skipSeparation(s, f.at) > 1024 && !(up && s[contentStart(s, up.at)] === '{')) {
        throw new Error('an implicit mapping key is longer than 1024 characters')
      }
    }
    if (isKey) {
      const r = state.result
      if (r !== null && typeof r === 'object') throw new Error('a mapping key is a collection (PyYAML: found unhashable key)')
      if (r === null) state.result = ''
    }
    if (f.slot >= 0) slots[f.slot] = state.kind === 'sequence' ? f.items : null
    // an explicit key without a node (`? ` then `: 2`): js-yaml stores it as 'null', the `yaml`
    // package as '' (a null key, as `~: 2`), in place (aliases share the object)
    if (state.kind === 'mapping' && !f.nullKey && Object.prototype.hasOwnProperty.call(state.result, 'null')) {
      const m = state.result as Record<string, unknown>
      if (Object.prototype.hasOwnProperty.call(m, '')) throw new Error('duplicated mapping key (two null keys)')
      const entries = Object.entries(m)
      for (const [k] of entries) delete m[k]
      for (const [k, v] of entries) Object.defineProperty(m, k === 'null' ? '' : k, { value: v, writable: true, enumerable: true, configurable: true })
    }
    if (up) {
      if (up.items) {
        if (isKey) up.items.push('')
        else if (!f.pairValue) up.items.push(state.kind === 'scalar' ? scalarSource(s, f.at, pos) : '')
      }
      if (isKey && state.result === 'null') up.nullKey = true
      up.key = isKey && state.kind === 'scalar' ? state.result : NO_KEY
      up.keyEnd = isKey ? pos : -1
    }
  }
  const doc = load(text, {
    schema: yamlCoreSchema(),
    json,
    listener: listener as never,
    onWarning: (w) => {
      const emit = (globalThis as { process?: { emitWarning?: (w: Error) => void } }).process?.emitWarning
      if (typeof emit === 'function') emit.call(globalThis.process, w)
      else console.warn(w)
    },
  })
  return { doc, spellings: slots.filter((x): x is string[] => x !== null) }
}

/**
 * Reads a PyRadiomics parameter file (YAML or JSON). Defaults as PyRadiomics: no `imageType`
 * means `{ Original: {} }`; no `featureClass` means every class.
 */
export function readParams(path: string): RadiomicsParams {
  needFileSystem('readParams')
  if (typeof path !== 'string') throw new VoxelkitError('ERR_SETTING', `readParams: path must be a string, got ${typeof path}`)
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    throw new VoxelkitError('ERR_IO', `cannot read ${path}: ${(e as Error).message}`)
  }
  return paramsFromText(text, path)
}

/**
 * {@link readParams} on a file's text: `path` names it in errors and picks the syntax (JSON for
 * `.json`, YAML otherwise). readParams' only parser; the parameter-file fuzzer calls it in
 * memory. @internal
 */
export function paramsFromText(text: string, path: string): RadiomicsParams {
  let doc: unknown
  try {
    if (/\.json$/i.test(path)) {
      doc = JSON.parse(text)
      keepSigmaSpelling(doc, text)
    } else {
      const y = parseYaml(text, false)
      doc = y.doc
      keepSigmaSpelling(doc, text, y.spellings)
    }
  } catch (e) {
    throw new VoxelkitError('ERR_FORMAT', `${path} is not valid ${/\.json$/i.test(path) ? 'JSON' : 'YAML'}: ${(e as Error).message}`)
  }
  if (doc === null || doc === undefined) doc = {}
  if (typeof doc !== 'object' || Array.isArray(doc)) {
    throw new VoxelkitError('ERR_FORMAT', `${path}: a parameter file must be a mapping (setting, featureClass, imageType, voxelSetting)`)
  }
  for (const k of Object.keys(doc as object)) {
    if (!PARAM_KEYS.includes(k)) {
      throw new VoxelkitError('ERR_SETTING', `${path}: unknown top-level key '${k}' (${PARAM_KEYS.join(', ')})`)
    }
  }
  const d = doc as Record<string, unknown>
  const obj = (k: string): Record<string, unknown> => {
    const v = d[k]
    if (v === undefined || v === null) return {}
    if (typeof v !== 'object' || Array.isArray(v)) throw new VoxelkitError('ERR_FORMAT', `${path}: '${k}' must be a mapping`)
    return v as Record<string, unknown>
  }
  const setting = obj('setting') as RadiomicsSettings
  const featureClass = obj('featureClass') as Record<string, string[] | null>
  const imageType = obj('imageType') as Record<string, Record<string, unknown>>
  return {
    setting,
    featureClass: Object.keys(featureClass).length ? featureClass : Object.fromEntries(FEATURE_CLASSES.map((c) => [c, null])),
    imageType: Object.keys(imageType).length ? Object.fromEntries(Object.entries(imageType).map(([k, v]) => [k, v ?? {}])) : { Original: {} },
    voxelSetting: obj('voxelSetting'),
  }
}

/**
 * Settings for {@link extractFeatures} from a parameter file: its `setting` block and its
 * `voxelSetting` block (PyRadiomics merges both), `classes` = its `featureClass` block (per-class
 * feature lists included) and its `imageType` block. Unknown classes, feature names and image
 * types are refused by the extraction (never silently skipped). @internal
 */
export function settingsFromParams(p: RadiomicsParams): RadiomicsSettings {
  return { ...p.setting, ...p.voxelSetting, classes: p.featureClass as RadiomicsSettings['classes'], imageType: p.imageType }
}
