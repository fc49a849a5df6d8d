import native from './native'
import type { DtiMethod, FitOptionsIn } from './native'
import { VoxelkitError, call, readUserValue, shown } from './errors'
import type { GradientTable } from './gradients'
import { FitAsyncOptions, FitSyncOptions, ModelFit, ModelWiring, fitModel, fitModelSync } from './fit'
import { checkVolume, dtypeOf } from './volume'
import type { Volume } from './volume'

export type { DtiMethod }

/** The options of the non-linear fits (`NLLS`, `RESTORE`): DIPY's names and defaults. */
export interface NonLinearOptions {
  /**
   * `NLLS` only: one weight per volume on the squared residuals (DIPY's `weights`, the same for every voxel):
   * finite, >= 0, and the volumes with a positive weight must determine the tensor. @defaultValue unweighted
   */
  weights?: ArrayLike<number>
  /**
   * `RESTORE` only: the noise standard deviation, one number or one per volume (DIPY's `sigma`; Chang et al. suggest
   * 1.5267 x the standard deviation of the background noise). It sets the first outlier test only; the reweighted
   * rounds use 1.4826 x the MAD of the residuals, as DIPY. @defaultValue estimated per voxel (1.4826 x MAD)
   */
  sigma?: number | ArrayLike<number>
  /** Where DIPY falls back to the start parameters, return NaN instead (DIPY's `fail_is_nan`). @defaultValue false */
  failIsNan?: boolean
  /**
   * `NLLS` only: where the optimisation starts in each voxel, instead of the OLS fit (DIPY's `init_params` of
   * `nlls_fit_tensor`). A float32 or float64 Volume of shape `[...spatial, 7]` holding DIPY's parameters
   * `[Dxx, Dxy, Dyy, Dxz, Dyz, Dzz, -log S0]` per voxel (finite everywhere, masked voxels included). Where the
   * optimiser fails, DIPY falls back to this start (NaN outputs with `failIsNan`). @defaultValue the OLS fit
   */
  initParams?: Volume
}

/** Options of {@link fitDtiSync}: DIPY `TensorModel` names and defaults. */
export type DtiSyncOptions = FitSyncOptions<DtiMethod> & NonLinearOptions

/** Options of {@link fitDti}. */
export type DtiOptions = FitAsyncOptions<DtiMethod> & NonLinearOptions

/**
 * `weights` / `sigma` as float64: an Array of numbers or a typed array of a number type (not
 * BigInt64Array). Strings are refused, not coerced (`['1']` was read as 1, `['a']` as NaN; found
 * by scripts/fuzz-options.mjs); the values' ranges are the kernel's to check.
 */
function numbers(v: unknown, name: string): Float64Array | undefined {
  // a Proxy's traps run on the type tests and reads below: what they throw is a setting error
  // (fuzz-options, seed 21: a getPrototypeOf trap threw out of `instanceof`)
  return readUserValue(() => numbersOf(v, name), 'ERR_SETTING', name)
}

function numbersOf(v: unknown, name: string): Float64Array | undefined {
  if (v === undefined) return undefined
  if (typeof v === 'number') return Float64Array.of(v)
  const what = `${name} must be ${name === 'sigma' ? 'a number or ' : ''}an array of numbers`
  if (v instanceof Float64Array) return v
  if (ArrayBuffer.isView(v) && dtypeOf(v) !== undefined && !(v instanceof BigInt64Array || v instanceof BigUint64Array)) {
    return Float64Array.from(v as unknown as ArrayLike<number>)
  }
  if (!Array.isArray(v)) throw new VoxelkitError('ERR_SETTING', `${what}, got ${shown(v)}`)
  const out = new Float64Array(v.length)
  for (let i = 0; i < v.length; i++) {
    const x: unknown = v[i]
    if (typeof x !== 'number') throw new VoxelkitError('ERR_SETTING', `${what}; [${i}] is ${typeof x === 'string' ? `the string '${x}'` : shown(x)}`)
    out[i] = x
  }
  return out
}

/** `initParams` for the kernel: a float Volume `[...spatial, 7]`, as float64 (its values are checked there). */
function startParams(v: unknown, spatial: number[]): Float64Array | undefined {
  if (v === undefined) return undefined
  const vol = checkVolume(v, 'initParams')
  if (!(vol.data instanceof Float64Array || vol.data instanceof Float32Array)) {
    throw new VoxelkitError('ERR_DTYPE', `initParams must hold float32 or float64 values, got ${vol.data.constructor.name}`)
  }
  const want = [...spatial, 7]
  if (vol.shape.length !== want.length || vol.shape.some((s, i) => s !== want[i])) {
    throw new VoxelkitError(
      'ERR_SHAPE',
      `initParams shape [${vol.shape.join(', ')}] must be the data's spatial shape and 7 parameters: [${want.join(', ')}]`,
    )
  }
  return vol.data instanceof Float64Array ? vol.data : Float64Array.from(vol.data)
}

const DTI: ModelWiring<DtiMethod, TensorFit> = {
  name: 'Dti',
  options: { weights: 'object', sigma: ['number', 'object'], failIsNan: 'boolean', initParams: 'object' },
  extra: (o, spatial): Partial<FitOptionsIn> => ({
    weights: numbers(o.weights, 'weights'),
    sigma: numbers(o.sigma, 'sigma'),
    failIsNan: o.failIsNan as boolean | undefined,
    initParams: startParams(o.initParams, spatial),
  }),
  fit: native.fitDti,
  fitSync: native.fitDtiSync,
  make: (out, grid) => new TensorFit(out, grid),
}

/**
 * Fits the diffusion tensor model (DIPY 1.12 `TensorModel` semantics and defaults) off the
 * event loop: `WLS` (default), `OLS`, `NLLS` (least squares on the signal itself, from the OLS
 * start; `weights`) or `RESTORE` (NLLS with per-voxel outlier rejection; `sigma`, and
 * {@link TensorFit.rejectedVolumes} / {@link TensorFit.rejectedCount} / {@link TensorFit.robust}
 * to see what each voxel rejected).
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

  #rejectedBits(fn: string): Uint8Array {
    const bits = this.out.rejected
    if (!bits) throw new VoxelkitError('ERR_SETTING', `${fn}: only a RESTORE fit has rejected volumes`)
    return bits
  }

  /**
   * `RESTORE`: how many volumes each voxel rejected as outliers (0 outside the mask, and where the
   * first 3-sigma test found none).
   */
  rejectedCount(): Volume<Uint16Array> {
    const bits = this.#rejectedBits('rejectedCount')
    const nvox = this.status.data.length
    const nb = nvox ? bits.length / nvox : 0
    const out = new Uint16Array(nvox)
    for (let v = 0; v < nvox; v++) {
      let c = 0
      for (let b = v * nb; b < (v + 1) * nb; b++) {
        let x = bits[b]
        while (x) {
          x &= x - 1
          c++
        }
      }
      out[v] = c
    }
    return { data: out, shape: [...this.status.shape], ...(this.status.affine ? { affine: [...this.status.affine] } : {}) }
  }

  /**
   * `RESTORE`: the indices of the volumes voxel `voxel` rejected, ascending. `voxel` is the flat
   * index on the spatial grid (first axis fastest) or its coordinates `[i, j, k]`.
   */
  rejectedVolumes(voxel: number | readonly number[]): number[] {
    const bits = this.#rejectedBits('rejectedVolumes')
    const shape = this.spatial
    let v: number
    if (typeof voxel === 'number') {
      v = voxel
    } else {
      if (!Array.isArray(voxel) || voxel.length !== shape.length) {
        throw new VoxelkitError('ERR_SHAPE', `rejectedVolumes: voxel coordinates must have ${shape.length} entries`)
      }
      v = 0
      for (let d = shape.length - 1; d >= 0; d--) {
        const c = voxel[d]
        if (!Number.isInteger(c) || c < 0 || c >= shape[d]) {
          throw new VoxelkitError('ERR_SETTING', `rejectedVolumes: coordinate ${d} must be an integer in [0, ${shape[d]}), got ${c}`)
        }
        v = v * shape[d] + c
      }
    }
    const nvox = this.status.data.length
    if (!Number.isInteger(v) || v < 0 || v >= nvox) {
      throw new VoxelkitError('ERR_SETTING', `rejectedVolumes: voxel must be an integer in [0, ${nvox}), got ${v}`)
    }
    const nb = bits.length / nvox
    const out: number[] = []
    for (let k = 0; k < this.volumes; k++) if (bits[v * nb + (k >> 3)] & (1 << (k & 7))) out.push(k)
    return out
  }

  /**
   * `RESTORE`: DIPY's `robust` mask, `[..., nvol]`: 1 where the voxel's final fit used the volume, 0 where it
   * rejected it, and 0 everywhere outside the mask (as DIPY's `model.extra['robust']`).
   */
  robust(): Volume<Uint8Array> {
    const bits = this.#rejectedBits('robust')
    const nvox = this.status.data.length
    const n = this.volumes
    const nb = nvox ? bits.length / nvox : 0
    const out = new Uint8Array(nvox * n)
    const masked = 3 // FitStatus.Masked
    for (let v = 0; v < nvox; v++) {
      if (this.status.data[v] === masked) continue
      for (let k = 0; k < n; k++) out[k * nvox + v] = bits[v * nb + (k >> 3)] & (1 << (k & 7)) ? 0 : 1
    }
    return { data: out, shape: [...this.status.shape, n], ...(this.status.affine ? { affine: [...this.status.affine] } : {}) }
  }

  /** DIPY `TensorFit.predict`: S0 defaults to the fit's S0 when it was estimated, else 1. @internal */
  protected defaultS0(): Float64Array | number {
    return this.out.s0 ?? 1
  }
}
