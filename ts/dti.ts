import native from './native'
import type { DtiMethod } from './native'
import { call } from './errors'
import type { GradientTable } from './gradients'
import { FitAsyncOptions, FitSyncOptions, ModelFit, ModelWiring, fitModel, fitModelSync } from './fit'
import type { Volume } from './volume'

export type { DtiMethod }

/** Options of {@link fitDtiSync}: DIPY `TensorModel` names and defaults. */
export type DtiSyncOptions = FitSyncOptions<DtiMethod>

/** Options of {@link fitDti}. */
export type DtiOptions = FitAsyncOptions<DtiMethod>

const DTI: ModelWiring<DtiMethod, TensorFit> = {
  name: 'Dti',
  fit: native.fitDti,
  fitSync: native.fitDtiSync,
  make: (out, grid) => new TensorFit(out, grid),
}

/**
 * Fits the diffusion tensor model (DIPY 1.12 `TensorModel` semantics and defaults) off the
 * event loop.
 *
 * The data are read in place while the call runs (no copy): do not modify `dwi.data` until
 * the promise settles, or the result mixes old and new values.
 *
 * @param dwi a 4D series `[nx, ny, nz, nvol]` (or any `[..., nvol]`), any integer or float type
 * @example
 * ```ts
 * const dwi = await readVolume('dwi.nii.gz')
 * const { bvals, bvecs } = readBvalsBvecs('dwi.bval', 'dwi.bvec')
 * const fit = await fitDti(dwi, gradientTable(bvals, bvecs), { mask })
 * await writeVolume('fa.nii.gz', fit.fa())
 * ```
 */
export function fitDti(dwi: Volume, gtab: GradientTable, opts: DtiOptions = {}): Promise<TensorFit> {
  return fitModel(DTI, dwi, gtab, opts)
}

/** The synchronous twin of {@link fitDti} (blocks the event loop). */
export function fitDtiSync(dwi: Volume, gtab: GradientTable, opts: DtiSyncOptions = {}): TensorFit {
  return fitModelSync(DTI, dwi, gtab, opts)
}

/**
 * A fitted tensor volume. Maps are computed on demand; every map is a Volume on the input grid
 * (affine and spacing copied) with zeros where no tensor was fitted (outside the mask).
 */
export class TensorFit extends ModelFit {
  #scalar(name: string) {
    return this.volume(call(() => native.dtiScalarMap(name, this.out.evals)))
  }

  /** Fractional anisotropy. */
  fa() {
    return this.#scalar('fa')
  }
  /** Mean diffusivity (mm²/s). */
  md() {
    return this.#scalar('md')
  }
  /** Axial diffusivity: the largest eigenvalue. */
  ad() {
    return this.#scalar('ad')
  }
  /** Radial diffusivity: mean of the two smaller eigenvalues. */
  rd() {
    return this.#scalar('rd')
  }
  /** Trace: sum of the eigenvalues. */
  trace() {
    return this.#scalar('trace')
  }
  /** Tensor mode (Ennis & Kindlmann), -1 planar to +1 linear; 0 where undefined. */
  mode() {
    return this.#scalar('mode')
  }
  /** Geodesic anisotropy. */
  ga() {
    return this.#scalar('ga')
  }
  /** Westin's linearity (λ1 - λ2) / Σλ. */
  linearity() {
    return this.#scalar('linearity')
  }
  /** Westin's planarity 2(λ2 - λ3) / Σλ. */
  planarity() {
    return this.#scalar('planarity')
  }
  /** Westin's sphericity 3λ3 / Σλ. */
  sphericity() {
    return this.#scalar('sphericity')
  }
  /** Colour FA: |principal eigenvector| x FA, `[..., 3]` (RGB = x, y, z). */
  colorFa() {
    const { evals, evecs } = this.out
    return this.volume(call(() => native.dtiColorFa(evals, evecs)), [...this.status.shape, 3])
  }
  /** The tensor's lower triangle `[Dxx, Dxy, Dyy, Dxz, Dyz, Dzz]`, `[..., 6]`. */
  lowerTriangular() {
    const { evals, evecs } = this.out
    return this.volume(call(() => native.dtiLowerTriangular(evals, evecs)), [...this.status.shape, 6])
  }

  /** DIPY `TensorFit.predict`: S0 defaults to the fit's S0 when it was estimated, else 1. @internal */
  protected defaultS0(): Float64Array | number {
    return this.out.s0 ?? 1
  }
}
