/**
 * voxelkit: quantitative medical imaging for Node.js with Rust kernels.
 *
 * Diffusion tensor and kurtosis fitting with DIPY 1.12 semantics, radiomics texture features
 * (GLCM, GLRLM) with PyRadiomics 3.1 semantics, registration fields (SyN inversion,
 * composition, warping), NIfTI and NRRD I/O, gradient tables.
 * Every long call has an async form (off the event loop, with `signal`, `onProgress`,
 * `threads`) and a `…Sync` twin. Errors are {@link VoxelkitError} with a stable `code`.
 *
 * @packageDocumentation
 */
export { VoxelkitError } from './errors'
export type { ErrorCode } from './errors'
export type { Volume, VoxelArray, Dtype, OutputType } from './volume'
export { readVolume, readVolumeSync, writeVolume, writeVolumeSync, readBvalsBvecs, parseVolume, parseVolumeSync, serializeVolume, serializeVolumeSync } from './io'
export type { BvalsBvecs, ReadOptions } from './io'
export type { WriteOptions } from './io'
export { gradientTable, GradientTable } from './gradients'
export type { GradientTableOptions } from './gradients'
export { FitStatus, ModelFit } from './fit'
export type { FitSyncOptions, FitAsyncOptions, PredictOptions, PredictSyncOptions } from './fit'
export { fitDti, fitDtiSync, TensorFit } from './dti'
export type { DtiMethod, DtiOptions, DtiSyncOptions, NonLinearOptions } from './dti'
export { fitDki, fitDkiSync, KurtosisFit } from './dki'
export type { DkiMethod, DkiOptions, DkiSyncOptions, DkiPredictOptions, KurtosisOptions } from './dki'
export type {
  FitOptionsIn,
  KurtosisOptionsIn,
  InvertOptionsIn,
  ComposeOptionsIn,
  WarpOptionsIn,
  ReadOptionsIn,
  Interpolation,
  VolumeIn,
  ReferenceIn,
  SynOptionsIn,
  SynMetric,
  SynInterpolation,
  SynStepType,
} from './native'
export { invertField, invertFieldSync, composeFields, composeFieldsSync, warpVolume, warpVolumeSync } from './fields'
export type {
  DisplacementField,
  InvertedField,
  ComposedField,
  InvertStats,
  ComposeStats,
  InvertFieldOptions,
  InvertFieldSyncOptions,
  ComposeFieldsOptions,
  ComposeFieldsSyncOptions,
  WarpVolumeOptions,
  WarpVolumeSyncOptions,
  WarpInterpolation,
  GridLike,
} from './fields'
export { registerSyN, registerSyNSync, SyNMapping } from './syn'
export type { RegisterSyNOptions, RegisterSyNSyncOptions, SyNMetric, SyNStepType, SyNIteration, SyNInterpolation, SyNTransformOptions, SyNTransformSyncOptions, SyNGrid } from './syn'
export { setThreads, getThreads } from './jobs'
export type { AsyncOptions, SyncOptions } from './jobs'
export { simulateDtiPhantom, simulateDkiPhantom } from './phantom'
export {
  FEATURE_CLASSES,
  extractFeatureMaps,
  extractFeatureMapsSync,
  extractFeatures,
  extractFeaturesSync,
  glcm,
  glcmSync,
  gldm,
  gldmSync,
  glrlm,
  glrlmSync,
  glszm,
  glszmSync,
  ngtdm,
  ngtdmSync,
  readParams,
} from './radiomics'
export type { Aggregation, FeatureClass, FeatureMaps, Features, RadiomicsParams, RadiomicsSettings, TextureMatrices } from './radiomics'
export type { Phantom, PhantomOptions } from './phantom'

const pkg = require('../package.json') as { version: string }
/** The package version. */
export const version: string = pkg.version
