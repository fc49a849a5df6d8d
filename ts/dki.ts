import native from './native'
import type { DkiMethod, KurtosisOptionsIn } from './native'
import { call } from './errors'
import type { GradientTable } from './gradients'
import { FitAsyncOptions, FitSyncOptions, ModelWiring, PredictOptions, fitModel, fitModelSync } from './fit'
import { TensorFit } from './dti'
import { checkOptions } from './jobs'
import type { Volume } from './volume'

export type { DkiMethod }

/** Options of {@link fitDkiSync}: DIPY `DiffusionKurtosisModel` names and defaults. */
export type DkiSyncOptions = FitSyncOptions<DkiMethod>

/** Options of {@link fitDki}. */
export type DkiOptions = FitAsyncOptions<DkiMethod>

/** Options of {@link KurtosisFit.predict} (S0 defaults to 1, DIPY's default for DKI). */
export type DkiPredictOptions = PredictOptions

/** Options of the kurtosis maps: DIPY's clipping range and solution (defaults are the kernel's). */
export type KurtosisOptions = KurtosisOptionsIn

const DKI: ModelWiring<DkiMethod, KurtosisFit> = {
  name: 'Dki',
  fit: native.fitDki,
  fitSync: native.fitDkiSync,
  make: (out, grid) => new KurtosisFit(out, grid),
}

/**
 * Fits the diffusion kurtosis model (DIPY 1.12 `DiffusionKurtosisModel` semantics and
 * defaults) off the event loop: `WLS` (default), `OLS`, and the constrained `CLS` and `CWLS`
 * (see {@link DkiMethod}). The scheme needs at least three distinct b-values (b=0 counts)
 * and enough directions to determine the 22 unknowns (`ERR_GRADIENTS` otherwise).
 *
 * The data are read in place while the call runs (no copy): do not modify `dwi.data` until
 * the promise settles.
 *
 * @example
 * ```ts
 * const fit = await fitDki(dwi, gradientTable(bvals, bvecs), { mask, method: 'CWLS' })
 * await writeVolume('mk.nii.gz', fit.mk())
 * ```
 */
export function fitDki(dwi: Volume, gtab: GradientTable, opts: DkiOptions = {}): Promise<KurtosisFit> {
  return fitModel(DKI, dwi, gtab, opts)
}

/** The synchronous twin of {@link fitDki} (blocks the event loop). */
export function fitDkiSync(dwi: Volume, gtab: GradientTable, opts: DkiSyncOptions = {}): KurtosisFit {
  return fitModelSync(DKI, dwi, gtab, opts)
}

const MAP_OPTIONS = { minKurtosis: 'number', maxKurtosis: 'number', analytical: 'boolean' } as const
const CLIP_OPTIONS = { minKurtosis: 'number', maxKurtosis: 'number' } as const

/**
 * A fitted kurtosis volume: every {@link TensorFit} map of the diffusion tensor (FA, MD, AD,
 * RD, mode, colour FA, …) plus the kurtosis tensor and its maps. Maps are computed on demand and
 * are Volumes on the input grid with zeros where nothing was fitted.
 */
export class KurtosisFit extends TensorFit {
  /** The 15 kurtosis-tensor elements `[..., 15]` in DIPY's order (W1111, W2222, W3333, W1112, W1113, W1222, W2223, W1333, W2333, W1122, W1133, W2233, W1123, W1223, W1233). */
  readonly kt: Volume<Float64Array | Float32Array>

  /** @internal */
  constructor(...args: ConstructorParameters<typeof TensorFit>) {
    super(...args)
    this.kt = this.volume(this.out.kt!, [...this.status.shape, 15])
  }

  #map(name: string, opts: KurtosisOptions, known: Record<string, 'number' | 'boolean'>) {
    checkOptions(opts, known, name)
    const { evals, evecs, kt } = this.out
    return this.volume(call(() => native.dkiKurtosisMap(name, { evals, evecs, kt }, opts)))
  }

  /** Mean kurtosis (DIPY `mk()`). */
  mk(opts: KurtosisOptions = {}) {
    return this.#map('mk', opts, MAP_OPTIONS)
  }
  /** Axial kurtosis (DIPY `ak()`). */
  ak(opts: KurtosisOptions = {}) {
    return this.#map('ak', opts, MAP_OPTIONS)
  }
  /** Radial kurtosis (DIPY `rk()`). */
  rk(opts: KurtosisOptions = {}) {
    return this.#map('rk', opts, MAP_OPTIONS)
  }
  /** Mean of the kurtosis tensor (DIPY `mkt()`). */
  mkt(opts: Omit<KurtosisOptions, 'analytical'> = {}) {
    return this.#map('mkt', opts, CLIP_OPTIONS)
  }
  /** Rescaled radial tensor kurtosis (DIPY `rtk()`). */
  rtk(opts: Omit<KurtosisOptions, 'analytical'> = {}) {
    return this.#map('rtk', opts, CLIP_OPTIONS)
  }
  /** Kurtosis fractional anisotropy (DIPY `kfa`), never clipped. */
  kfa() {
    return this.#map('kfa', {}, {})
  }

  /** DIPY `DiffusionKurtosisFit.predict`: S0 defaults to 1. @internal */
  protected override defaultS0(): Float64Array | number {
    return 1
  }
}
