import native from './native'
import type { DkiFitOut, JobHandle } from './native'
import { VoxelkitError, call } from './errors'
import { GradientTable } from './gradients'
import { ASYNC_KEYS, AsyncOptions, SyncOptions, checkKeys, checkThreads, runJob } from './jobs'
import { FitFns, TensorFit, allocOut, prepare } from './dti'
import { OutputType, Volume, VoxelArray, checkVolume, outVolume } from './volume'

/**
 * DKI fit methods (DIPY names; `WLLS`/`UWLLS` are aliases of `WLS`, `ULLS`/`LS`/`LLS`/`OLLS`
 * of `OLS`). `CLS` and `CWLS` are DIPY's constrained OLS and WLS (Dela Haije et al. 2020): the
 * fit is kept where it satisfies DIPY's sufficient conditions for a positive-definite diffusion
 * tensor and non-negative directional kurtosis (a linear matrix inequality), else it is the
 * closest (in the least-squares metric) parameter set that does, found by a semidefinite program
 * solved by Clarabel (DIPY goes through cvxpy, which picks SCS for these programs). Such voxels
 * get {@link FitStatus}.Constrained. Every voxel pays a feasibility check unless its fit passes
 * a Cholesky test; one that needs the constraint costs a few milliseconds (about 5 ms per voxel
 * on average at one thread on the benchmark phantom, where most voxels do), WLS microseconds.
 */
export type DkiMethod = 'WLS' | 'OLS' | 'WLLS' | 'UWLLS' | 'ULLS' | 'LS' | 'LLS' | 'OLLS' | 'CLS' | 'CWLS'

/** Options of {@link fitDkiSync}: DIPY `DiffusionKurtosisModel` names and defaults. */
export interface DkiSyncOptions extends SyncOptions {
  /** Fit method; DIPY's default, weighted least squares with weights from an OLS pre-fit. @defaultValue 'WLS' */
  method?: DkiMethod
  /** Voxels to fit: a Volume (or bare array) on the spatial grid; non-zero (or NaN) = fit. */
  mask?: Volume | VoxelArray
  /** Signals are clipped below at this value before the log. @defaultValue 1e-4 (DIPY's MIN_POSITIVE_SIGNAL) */
  minSignal?: number
  /** Also estimate S0 ({@link KurtosisFit.s0}). @defaultValue false */
  returnS0?: boolean
  /** Element type of the returned maps. @defaultValue 'float64' */
  outputType?: OutputType
}

/** Options of {@link fitDki}. */
export interface DkiOptions extends DkiSyncOptions, AsyncOptions {}

/** Options of the kurtosis maps: DIPY's clipping range and solution. */
export interface KurtosisOptions {
  /** Values below are replaced by it. @defaultValue -3/7 (DIPY: water in spherical pores) */
  minKurtosis?: number
  /** Values above are replaced by it. @defaultValue 10 */
  maxKurtosis?: number
  /**
   * DIPY's analytical solution (Tabesh et al., Carlson's elliptic integrals); `false` selects
   * DIPY's numerical estimators (MK: directional kurtoses averaged over a 45-direction
   * t-design; AK: along the principal eigenvector; RK: 10 directions perpendicular to it).
   * @defaultValue true
   */
  analytical?: boolean
}

/** Options of {@link KurtosisFit.predict}. */
export interface DkiPredictOptions extends AsyncOptions {
  /** S0: one number, or a Volume on the spatial grid (e.g. `fit.s0`). @defaultValue 1 (DIPY's default for DKI) */
  s0?: number | Volume
}

const SYNC_KEYS = ['method', 'mask', 'minSignal', 'returnS0', 'outputType', 'threads'] as const
// DIPY's other DKI methods reach the engine, which answers ERR_UNSUPPORTED (not built yet)
const METHODS: readonly string[] = ['WLS', 'OLS', 'WLLS', 'UWLLS', 'ULLS', 'LS', 'LLS', 'OLLS', 'CLS', 'CWLS', 'NLS', 'NLLS', 'RESTORE', 'IRLS', 'RWLS', 'RNLLS']
const FIT: Partial<Record<string, FitFns>> = {
  uint8: [native.fitDkiUint8, native.fitDkiUint8Sync] as unknown as FitFns,
  int16: [native.fitDkiInt16, native.fitDkiInt16Sync] as unknown as FitFns,
  uint16: [native.fitDkiUint16, native.fitDkiUint16Sync] as unknown as FitFns,
  int32: [native.fitDkiInt32, native.fitDkiInt32Sync] as unknown as FitFns,
  float32: [native.fitDkiFloat32, native.fitDkiFloat32Sync] as unknown as FitFns,
  float64: [native.fitDkiFloat64, native.fitDkiFloat64Sync] as unknown as FitFns,
}

/**
 * Fits the diffusion kurtosis model (DIPY 1.12 `DiffusionKurtosisModel` semantics and
 * defaults) off the event loop. The scheme needs at least three distinct b-values (b=0 counts)
 * and enough directions to determine the 22 unknowns (`ERR_GRADIENTS` otherwise).
 *
 * The data are read in place while the call runs (no copy): do not modify `dwi.data` until
 * the promise settles.
 *
 * @example
 * ```ts
 * const fit = await fitDki(dwi, gradientTable(bvals, bvecs), { mask })
 * await writeVolume('mk.nii.gz', fit.mk())
 * ```
 */
export async function fitDki(dwi: Volume, gtab: GradientTable, opts: DkiOptions = {}): Promise<KurtosisFit> {
  const p = prepare(dwi, gtab, opts, [...SYNC_KEYS, ...ASYNC_KEYS], 'fitDki', FIT, METHODS)
  const out = await runJob(opts, (job: JobHandle) =>
    p.fns[0](p.dwi.data as Float64Array, p.nvox, gtab.native(), p.mask, p.o, job) as Promise<DkiFitOut>,
  )
  return new KurtosisFit(out, p.dwi, p.spatial, p.outputType)
}

/** The synchronous twin of {@link fitDki} (blocks the event loop). */
export function fitDkiSync(dwi: Volume, gtab: GradientTable, opts: DkiSyncOptions = {}): KurtosisFit {
  const p = prepare(dwi, gtab, opts, SYNC_KEYS, 'fitDkiSync', FIT, METHODS)
  const out = call(() => p.fns[1](p.dwi.data as Float64Array, p.nvox, gtab.native(), p.mask, p.o) as unknown as DkiFitOut)
  return new KurtosisFit(out, p.dwi, p.spatial, p.outputType)
}

function kurtosisRange(opts: KurtosisOptions, fn: string): [number, number, boolean] {
  checkKeys(opts, ['minKurtosis', 'maxKurtosis', 'analytical'], fn)
  const lo = opts.minKurtosis ?? -3 / 7
  const hi = opts.maxKurtosis ?? 10
  for (const [k, v] of [['minKurtosis', lo], ['maxKurtosis', hi]] as const) {
    if (typeof v !== 'number' || Number.isNaN(v)) throw new VoxelkitError('ERR_SETTING', `${k} must be a number, got ${String(v)}`)
  }
  if (lo > hi) throw new VoxelkitError('ERR_SETTING', `minKurtosis (${lo}) must be <= maxKurtosis (${hi})`)
  if (opts.analytical !== undefined && typeof opts.analytical !== 'boolean') {
    throw new VoxelkitError('ERR_SETTING', `analytical must be a boolean, got ${String(opts.analytical)}`)
  }
  return [lo, hi, opts.analytical ?? true]
}

/**
 * A fitted kurtosis volume: every {@link TensorFit} map of the diffusion tensor (FA, MD, AD,
 * RD, mode, colour FA, …) plus the kurtosis tensor and its maps. Maps are computed on demand and
 * are Volumes on the input grid with zeros where nothing was fitted.
 */
export class KurtosisFit extends TensorFit {
  /** The 15 kurtosis-tensor elements `[..., 15]` in DIPY's order (W1111, W2222, W3333, W1112, W1113, W1222, W2223, W1333, W2333, W1122, W1133, W2233, W1123, W1223, W1233). */
  readonly kt: Volume<Float64Array | Float32Array>
  readonly #out: DkiFitOut
  readonly #like: Volume
  readonly #spatial: number[]
  readonly #outputType: OutputType

  /** @internal */
  constructor(out: DkiFitOut, like: Volume, spatial: number[], outputType: OutputType) {
    super(out, like, spatial, outputType)
    this.#out = out
    this.#like = like
    this.#spatial = spatial
    this.#outputType = outputType
    this.kt = outVolume(out.kt, [...spatial, 15], like, outputType)
  }

  #map(name: string, lo: number, hi: number, analytical = true): Volume<Float64Array | Float32Array> {
    const o = this.#out
    return outVolume(call(() => native.dkiKurtosisMap(name, o.evals, o.evecs, o.kt, lo, hi, analytical)), [...this.#spatial], this.#like, this.#outputType)
  }

  /** Mean kurtosis (DIPY `mk()`). */
  mk(opts: KurtosisOptions = {}) {
    return this.#map('mk', ...kurtosisRange(opts, 'mk'))
  }
  /** Axial kurtosis (DIPY `ak()`). */
  ak(opts: KurtosisOptions = {}) {
    return this.#map('ak', ...kurtosisRange(opts, 'ak'))
  }
  /** Radial kurtosis (DIPY `rk()`). */
  rk(opts: KurtosisOptions = {}) {
    return this.#map('rk', ...kurtosisRange(opts, 'rk'))
  }
  /** Mean of the kurtosis tensor (DIPY `mkt()`). */
  mkt(opts: Omit<KurtosisOptions, 'analytical'> = {}) {
    checkKeys(opts, ['minKurtosis', 'maxKurtosis'], 'mkt')
    return this.#map('mkt', ...kurtosisRange(opts, 'mkt'))
  }
  /** Rescaled radial tensor kurtosis (DIPY `rtk()`). */
  rtk(opts: Omit<KurtosisOptions, 'analytical'> = {}) {
    checkKeys(opts, ['minKurtosis', 'maxKurtosis'], 'rtk')
    return this.#map('rtk', ...kurtosisRange(opts, 'rtk'))
  }
  /** Kurtosis fractional anisotropy (DIPY `kfa`), never clipped. */
  kfa() {
    return this.#map('kfa', -Infinity, Infinity)
  }

  #s0Args(s0: number | Volume | undefined): [number, Float64Array | undefined] {
    if (s0 === undefined) return [1, undefined]
    if (typeof s0 === 'number') {
      if (!Number.isFinite(s0) || s0 < 0) throw new VoxelkitError('ERR_SETTING', `s0 must be a finite number >= 0, got ${s0}`)
      return [s0, undefined]
    }
    const v = checkVolume(s0, 's0')
    const nvox = this.#out.evals.length / 3
    if (v.data.length !== nvox) throw new VoxelkitError('ERR_SHAPE', `s0 has ${v.data.length} voxels, the fit has ${nvox}`)
    return [1, v.data instanceof Float64Array ? v.data : Float64Array.from(v.data as ArrayLike<number>)]
  }

  #shape(gtab: GradientTable): number[] {
    if (!(gtab instanceof GradientTable)) throw new VoxelkitError('ERR_GRADIENTS', 'gtab must be a GradientTable')
    return [...this.#spatial, gtab.length]
  }

  /** Predicts the signal for a gradient table (DIPY `DiffusionKurtosisFit.predict`), `[..., nvol]`. */
  override async predict(gtab: GradientTable, opts: DkiPredictOptions = {}): Promise<Volume<Float64Array | Float32Array>> {
    checkKeys(opts, ['s0', ...ASYNC_KEYS], 'predict')
    const shape = this.#shape(gtab)
    const [s, vol] = this.#s0Args(opts.s0)
    const threads = checkThreads(opts.threads)
    const o = this.#out
    const out = allocOut(shape) // engine-owned, filled by the kernel
    await runJob(opts, (job) => native.dkiPredict(o.evals, o.evecs, o.kt, gtab.native(), s, vol, threads, out, job) as Promise<void>)
    return outVolume(out, shape, this.#like, this.#outputType)
  }

  /** The synchronous twin of {@link KurtosisFit.predict}. */
  override predictSync(gtab: GradientTable, opts: { s0?: number | Volume; threads?: number } = {}): Volume<Float64Array | Float32Array> {
    checkKeys(opts, ['s0', 'threads'], 'predictSync')
    const shape = this.#shape(gtab)
    const [s, vol] = this.#s0Args(opts.s0)
    const threads = checkThreads(opts.threads)
    const o = this.#out
    const out = allocOut(shape)
    call(() => native.dkiPredictSync(o.evals, o.evecs, o.kt, gtab.native(), s, vol, threads, out))
    return outVolume(out, shape, this.#like, this.#outputType)
  }
}
