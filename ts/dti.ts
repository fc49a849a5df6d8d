import native from './native'
import type { DtiFitOut, JobHandle } from './native'
import { VoxelkitError, call } from './errors'
import { GradientTable } from './gradients'
import { ASYNC_KEYS, AsyncOptions, SyncOptions, checkKeys, checkThreads, runJob } from './jobs'
import { OutputType, Volume, VoxelArray, checkVolume, dtypeOf, outVolume } from './volume'

/** DTI fit methods. `NLLS` and `RESTORE` are planned and give `ERR_UNSUPPORTED` today. */
export type DtiMethod = 'WLS' | 'OLS' | 'NLLS' | 'RESTORE'

/** Options of {@link fitDtiSync}: DIPY `TensorModel` names and defaults. */
export interface DtiSyncOptions extends SyncOptions {
  /** Fit method; DIPY's default, two-pass weighted least squares. @defaultValue 'WLS' */
  method?: DtiMethod
  /** Voxels to fit: a Volume (or bare array) on the spatial grid; non-zero (or NaN) = fit. */
  mask?: Volume | VoxelArray
  /** Signals are clipped below at this value before the log. @defaultValue 1e-4 (DIPY's MIN_POSITIVE_SIGNAL) */
  minSignal?: number
  /** Also estimate S0 ({@link TensorFit.s0}). @defaultValue false */
  returnS0?: boolean
  /** Element type of the returned maps. @defaultValue 'float64' */
  outputType?: OutputType
}

/** Options of {@link fitDti}. */
export interface DtiOptions extends DtiSyncOptions, AsyncOptions {}

/** Per-voxel outcome codes of {@link TensorFit.status}. */
export const FitStatus = {
  /** Fitted normally. */
  Ok: 0,
  /** Ill-conditioned weighted system, solved by SVD with DIPY's pinv semantics. */
  PinvFallback: 1,
  /** The signal had NaN or infinite values: not fitted, outputs 0. */
  NonFinite: 2,
  /** Outside the mask: not fitted, outputs 0. */
  Masked: 3,
  /** DKI `CLS`/`CWLS`: the unconstrained fit violated the constraints; the semidefinite program gave the fit. */
  Constrained: 4,
  /**
   * DKI `CLS`/`CWLS`: the constrained fit failed (singular weighted design or a solver error);
   * the 22 parameters are zero as DIPY returns them (eigenvalues at the minimum diffusivity, K = 0, S0 = 1).
   */
  SolverFailed: 5,
} as const

const SYNC_KEYS = ['method', 'mask', 'minSignal', 'returnS0', 'outputType', 'threads'] as const
const METHODS: readonly string[] = ['WLS', 'OLS', 'NLLS', 'RESTORE']

/** @internal */
export type FitFns = [
  (...a: Parameters<typeof native.fitDtiFloat64>) => Promise<unknown>,
  (...a: Parameters<typeof native.fitDtiFloat64Sync>) => DtiFitOut,
]
const FIT: Partial<Record<string, FitFns>> = {
  uint8: [native.fitDtiUint8, native.fitDtiUint8Sync] as unknown as FitFns,
  int16: [native.fitDtiInt16, native.fitDtiInt16Sync] as unknown as FitFns,
  uint16: [native.fitDtiUint16, native.fitDtiUint16Sync] as unknown as FitFns,
  int32: [native.fitDtiInt32, native.fitDtiInt32Sync] as unknown as FitFns,
  float32: [native.fitDtiFloat32, native.fitDtiFloat32Sync] as unknown as FitFns,
  float64: [native.fitDtiFloat64, native.fitDtiFloat64Sync] as unknown as FitFns,
}

/** @internal */
export function maskArray(mask: Volume | VoxelArray | undefined, spatial: number[]): Uint8Array | undefined {
  if (mask === undefined) return undefined
  const nvox = spatial.reduce((a, b) => a * b, 1)
  let data: VoxelArray
  if (dtypeOf(mask) !== undefined) {
    data = mask as VoxelArray
    if (data.length !== nvox) {
      throw new VoxelkitError('ERR_SHAPE', `mask has ${data.length} voxels, the data have ${nvox}`)
    }
  } else {
    const m = checkVolume(mask, 'mask')
    if (m.shape.length !== spatial.length || m.shape.some((s, i) => s !== spatial[i])) {
      throw new VoxelkitError(
        'ERR_SHAPE',
        `mask shape [${m.shape.join(', ')}] must equal the data's spatial shape [${spatial.join(', ')}]`,
      )
    }
    data = m.data
  }
  if (data instanceof Uint8Array) return data // non-zero = inside, read as is
  const out = new Uint8Array(nvox)
  // numpy's bool(): non-zero and NaN are true
  for (let i = 0; i < nvox; i++) out[i] = data[i] ? 1 : Number.isNaN(data[i]) ? 1 : 0
  return out
}

/** @internal */
export interface Prepared {
  fns: FitFns
  dwi: Volume
  spatial: number[]
  nvox: number
  mask: Uint8Array | undefined
  o: { method: string; minSignal?: number; returnS0: boolean; threads?: number }
  outputType: OutputType
}

/** @internal Validates a model fit's inputs and options (shared by the DTI and DKI fits). */
export function prepare(
  dwi: Volume,
  gtab: GradientTable,
  opts: DtiOptions | (Omit<DtiOptions, 'method'> & { method?: string }),
  keys: readonly string[],
  fn: string,
  fits: Partial<Record<string, FitFns>> = FIT,
  methods: readonly string[] = METHODS,
): Prepared {
  checkKeys(opts, keys, fn)
  const v = checkVolume(dwi, 'dwi')
  if (!(gtab instanceof GradientTable)) {
    throw new VoxelkitError('ERR_GRADIENTS', `${fn}: gtab must be a GradientTable (use gradientTable())`)
  }
  const dtype = dtypeOf(v.data)!
  const fns = fits[dtype]
  if (!fns) {
    throw new VoxelkitError(
      'ERR_DTYPE',
      `${fn}: ${dtype} data are not supported (use Int16Array, Uint16Array, Int32Array, Uint8Array, Float32Array or Float64Array)`,
    )
  }
  if (v.shape.length < 2) {
    throw new VoxelkitError('ERR_SHAPE', `dwi must have a volume axis last, e.g. [nx, ny, nz, nvol]; got [${v.shape.join(', ')}]`)
  }
  const nvol = v.shape[v.shape.length - 1]
  if (nvol !== gtab.length) {
    throw new VoxelkitError('ERR_SHAPE', `dwi has ${nvol} volumes but the gradient table has ${gtab.length}`)
  }
  const spatial = v.shape.slice(0, -1)
  const method = opts.method ?? 'WLS'
  if (!methods.includes(method)) {
    throw new VoxelkitError('ERR_SETTING', `method must be one of ${methods.join(', ')}; got ${String(method)}`)
  }
  if (opts.minSignal !== undefined && !(typeof opts.minSignal === 'number' && opts.minSignal > 0 && Number.isFinite(opts.minSignal))) {
    throw new VoxelkitError('ERR_SETTING', `minSignal must be a finite number > 0, got ${String(opts.minSignal)}`)
  }
  if (opts.returnS0 !== undefined && typeof opts.returnS0 !== 'boolean') {
    throw new VoxelkitError('ERR_SETTING', `returnS0 must be a boolean, got ${String(opts.returnS0)}`)
  }
  const outputType = opts.outputType ?? 'float64'
  if (outputType !== 'float64' && outputType !== 'float32') {
    throw new VoxelkitError('ERR_SETTING', `outputType must be 'float64' or 'float32', got ${String(outputType)}`)
  }
  return {
    fns,
    dwi: v,
    spatial,
    nvox: v.data.length / nvol,
    mask: maskArray(opts.mask, spatial),
    o: { method, minSignal: opts.minSignal, returnS0: opts.returnS0 ?? false, threads: checkThreads(opts.threads) },
    outputType,
  }
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
export async function fitDti(dwi: Volume, gtab: GradientTable, opts: DtiOptions = {}): Promise<TensorFit> {
  const p = prepare(dwi, gtab, opts, [...SYNC_KEYS, ...ASYNC_KEYS], 'fitDti')
  const out = await runJob(opts, (job: JobHandle) =>
    p.fns[0](p.dwi.data as Float64Array, p.nvox, gtab.native(), p.mask, p.o, job) as Promise<DtiFitOut>,
  )
  return new TensorFit(out, p.dwi, p.spatial, p.outputType)
}

/** The synchronous twin of {@link fitDti} (blocks the event loop). */
export function fitDtiSync(dwi: Volume, gtab: GradientTable, opts: DtiSyncOptions = {}): TensorFit {
  const p = prepare(dwi, gtab, opts, SYNC_KEYS, 'fitDtiSync')
  const out = call(() => p.fns[1](p.dwi.data as Float64Array, p.nvox, gtab.native(), p.mask, p.o))
  return new TensorFit(out, p.dwi, p.spatial, p.outputType)
}

/** @internal A zeroed Float64Array for a kernel to fill: engine-owned, freed by GC. */
export function allocOut(shape: number[]): Float64Array {
  const n = shape.reduce((a, b) => a * b, 1)
  try {
    return new Float64Array(n)
  } catch (e) {
    throw new VoxelkitError('ERR_SETTING', `cannot allocate an output of ${n} values (${shape.join(' x ')}): ${(e as Error).message}`)
  }
}

/** Options of {@link TensorFit.predict}. */
export interface PredictOptions extends AsyncOptions {
  /** S0: one number, or a Volume on the spatial grid (e.g. `fit.s0`). @defaultValue the fit's S0 when it was estimated, else 1 (DIPY) */
  s0?: number | Volume
}

/**
 * A fitted tensor volume. Maps are computed on demand; every map is a Volume on the input grid
 * (affine and spacing copied) with zeros where no tensor was fitted (outside the mask).
 */
export class TensorFit {
  /** Eigenvalues, descending: `[..., 3]`. */
  readonly evals: Volume<Float64Array | Float32Array>
  /** Eigenvectors: `[..., 3, 3]`, `[..., i, j]` = component i of eigenvector j (DIPY's columns). */
  readonly evecs: Volume<Float64Array | Float32Array>
  /** Estimated S0 (when `returnS0` was set). */
  readonly s0?: Volume<Float64Array | Float32Array>
  /** Per-voxel {@link FitStatus} codes. */
  readonly status: Volume<Uint8Array>
  readonly #evals: Float64Array
  readonly #evecs: Float64Array
  readonly #s0?: Float64Array
  readonly #like: Volume
  readonly #spatial: number[]
  readonly #outputType: OutputType

  /** @internal */
  constructor(out: DtiFitOut, like: Volume, spatial: number[], outputType: OutputType) {
    this.#evals = out.evals
    this.#evecs = out.evecs
    this.#s0 = out.s0 ?? undefined
    this.#like = like
    this.#spatial = spatial
    this.#outputType = outputType
    this.evals = outVolume(out.evals, [...spatial, 3], like, outputType)
    this.evecs = outVolume(out.evecs, [...spatial, 3, 3], like, outputType)
    if (out.s0) this.s0 = outVolume(out.s0, [...spatial], like, outputType)
    this.status = { data: out.status, shape: [...spatial], ...(like.affine ? { affine: [...like.affine] } : {}) }
  }

  #scalar(name: string): Volume<Float64Array | Float32Array> {
    return outVolume(call(() => native.dtiScalarMap(name, this.#evals)), [...this.#spatial], this.#like, this.#outputType)
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
    return outVolume(call(() => native.dtiColorFa(this.#evals, this.#evecs)), [...this.#spatial, 3], this.#like, this.#outputType)
  }
  /** The tensor's lower triangle `[Dxx, Dxy, Dyy, Dxz, Dyz, Dzz]`, `[..., 6]`. */
  lowerTriangular() {
    return outVolume(
      call(() => native.dtiLowerTriangular(this.#evals, this.#evecs)),
      [...this.#spatial, 6],
      this.#like,
      this.#outputType,
    )
  }

  #s0Args(s0: number | Volume | undefined): [number, Float64Array | undefined] {
    if (s0 === undefined) return this.#s0 ? [1, this.#s0] : [1, undefined]
    if (typeof s0 === 'number') {
      if (!Number.isFinite(s0) || s0 < 0) throw new VoxelkitError('ERR_SETTING', `s0 must be a finite number >= 0, got ${s0}`)
      return [s0, undefined]
    }
    const v = checkVolume(s0, 's0')
    const nvox = this.#evals.length / 3
    if (v.data.length !== nvox) {
      throw new VoxelkitError('ERR_SHAPE', `s0 has ${v.data.length} voxels, the fit has ${nvox}`)
    }
    return [1, v.data instanceof Float64Array ? v.data : Float64Array.from(v.data as ArrayLike<number>)]
  }

  #predictShape(gtab: GradientTable): number[] {
    if (!(gtab instanceof GradientTable)) throw new VoxelkitError('ERR_GRADIENTS', 'gtab must be a GradientTable')
    return [...this.#spatial, gtab.length]
  }

  /** Predicts the signal for a gradient table (DIPY `TensorFit.predict`), `[..., nvol]`. */
  async predict(gtab: GradientTable, opts: PredictOptions = {}): Promise<Volume<Float64Array | Float32Array>> {
    checkKeys(opts, ['s0', ...ASYNC_KEYS], 'predict')
    const shape = this.#predictShape(gtab)
    const [s, vol] = this.#s0Args(opts.s0)
    const threads = checkThreads(opts.threads)
    // the output is allocated here (engine-owned, freed by GC) and filled by the kernel
    const out = allocOut(shape)
    await runJob(opts, (job) => native.dtiPredict(this.#evals, this.#evecs, gtab.native(), s, vol, threads, out, job) as Promise<void>)
    return outVolume(out, shape, this.#like, this.#outputType)
  }

  /** The synchronous twin of {@link TensorFit.predict}. */
  predictSync(gtab: GradientTable, opts: { s0?: number | Volume; threads?: number } = {}): Volume<Float64Array | Float32Array> {
    checkKeys(opts, ['s0', 'threads'], 'predictSync')
    const shape = this.#predictShape(gtab)
    const [s, vol] = this.#s0Args(opts.s0)
    const threads = checkThreads(opts.threads)
    const out = allocOut(shape)
    call(() => native.dtiPredictSync(this.#evals, this.#evecs, gtab.native(), s, vol, threads, out))
    return outVolume(out, shape, this.#like, this.#outputType)
  }
}
