// What every model fit shares: options, per-voxel status codes, input preparation, the native
// call, and the ModelFit base class (outputs on the input grid, prediction). A model adds its
// method enum, its maps and a few lines of wiring (see dti.ts, dki.ts).
import native from './native'
import type { FitOptionsIn, FitOut, GradientsIn, JobHandle, PredictOptionsIn, VolumeIn } from './native'
import { VoxelkitError, call } from './errors'
import { GradientTable, checkGradientTable } from './gradients'
import { ASYNC_OPTIONS, AsyncOptions, OptionType, SyncOptions, checkChoice, checkOptions, runJob } from './jobs'
import { OutputType, Volume, VoxelArray, checkVolume, dtypeOf, voxelsIn } from './volume'

/** Options of every synchronous model fit: DIPY's names; defaults are the kernel's (see {@link FitOptionsIn}). */
export interface FitSyncOptions<M extends string> extends Omit<FitOptionsIn, 'mask' | 'threads' | 'weights' | 'sigma' | 'failIsNan' | 'initParams'>, SyncOptions {
  /** Fit method; DIPY's default, weighted least squares. @defaultValue 'WLS' */
  method?: M
  /** Voxels to fit: a Volume (or bare array) on the spatial grid; non-zero (or NaN) = fit. */
  mask?: Volume | VoxelArray
  /** Element type of the returned maps. @defaultValue 'float64' */
  outputType?: OutputType
}

/** Options of every async model fit. */
export interface FitAsyncOptions<M extends string> extends FitSyncOptions<M>, AsyncOptions {}

/** Per-voxel outcome codes of {@link ModelFit.status}. */
export const FitStatus = {
  /** Fitted normally. */
  Ok: 0,
  /** Ill-conditioned weighted system, solved by SVD with DIPY's pinv semantics. */
  PinvFallback: 1,
  /** The signal had NaN or infinite values: not fitted, outputs 0. */
  NonFinite: 2,
  /** Outside the mask: not fitted, outputs 0. */
  Masked: 3,
  /**
   * DKI `CLS`/`CWLS`: the unconstrained fit violated the constraints (or the feasibility program that
   * checks them failed); the semidefinite program gave the fit.
   */
  Constrained: 4,
  /**
   * DKI `CLS`/`CWLS`: the constrained fit failed (singular weighted design or a solver error in the
   * constrained program);
   * the 22 parameters are zero as DIPY returns them (eigenvalues at the minimum diffusivity, K = 0, S0 = 1).
   */
  SolverFailed: 5,
  /**
   * DTI `NLLS`/`RESTORE`: the optimiser reached its iteration limit (100 steps) before its convergence test; the
   * parameters are the best point it found (never worse than the start).
   */
  NotConverged: 6,
  /**
   * DTI `RESTORE`: fewer volumes than parameters (7) were left after rejecting the outliers, where DIPY's optimiser
   * raises; as DIPY, the parameters of the last reweighted round are returned (NaN outputs with `failIsNan`).
   */
  StartFallback: 7,
} as const

const FIT_OPTIONS: Record<string, OptionType> = {
  method: 'string',
  mask: 'object',
  minSignal: 'number',
  returnS0: 'boolean',
  outputType: 'string',
  threads: 'number',
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

/** A model's native entries and its fit class. @internal */
export interface ModelWiring<M extends string, F extends ModelFit> {
  name: string
  /** The model's own options (JS types) beyond the common ones. */
  options?: Record<string, OptionType | readonly OptionType[]>
  /** Converts the model's own options for the kernel. */
  extra?: (opts: Record<string, unknown>, spatial: number[]) => Partial<FitOptionsIn>
  fit: (dwi: VolumeIn, g: GradientsIn, method: M | undefined, o: FitOptionsIn, job?: JobHandle) => Promise<FitOut>
  fitSync: (dwi: VolumeIn, g: GradientsIn, method: M | undefined, o: FitOptionsIn) => FitOut
  make: (out: FitOut, grid: FitGrid) => F
}

/** The grid a fit's outputs lie on. @internal */
export interface FitGrid {
  like: Volume
  spatial: number[]
  outputType: OutputType
}

function prepare<M extends string>(
  dwi: Volume,
  gtab: GradientTable,
  opts: FitSyncOptions<M>,
  known: Record<string, OptionType | readonly OptionType[]>,
  fn: string,
  extra?: (opts: Record<string, unknown>, spatial: number[]) => Partial<FitOptionsIn>,
) {
  checkOptions(opts, known, fn)
  const v = checkVolume(dwi, 'dwi')
  checkGradientTable(gtab, fn)
  const spatial = v.shape.slice(0, -1)
  const outputType = checkChoice(opts.outputType, { float64: 'float64', float32: 'float32' } as const, 'outputType') ?? 'float64'
  const o: FitOptionsIn = {
    mask: maskArray(opts.mask, spatial),
    minSignal: opts.minSignal,
    returnS0: opts.returnS0,
    threads: opts.threads,
    ...extra?.(opts as Record<string, unknown>, spatial),
  }
  return { dwi: { data: voxelsIn(v.data), shape: v.shape }, method: opts.method, o, grid: { like: v, spatial, outputType } }
}

/** Fits a model off the event loop. @internal */
export async function fitModel<M extends string, F extends ModelFit>(
  w: ModelWiring<M, F>,
  dwi: Volume,
  gtab: GradientTable,
  opts: FitAsyncOptions<M>,
): Promise<F> {
  const fn = `fit${w.name}`
  const p = prepare(dwi, gtab, opts, { ...FIT_OPTIONS, ...w.options, ...ASYNC_OPTIONS }, fn, w.extra)
  const out = await runJob(opts, (job) => w.fit(p.dwi, gtab.native(), p.method, p.o, job))
  return w.make(out, p.grid)
}

/** Fits a model on the calling thread. @internal */
export function fitModelSync<M extends string, F extends ModelFit>(w: ModelWiring<M, F>, dwi: Volume, gtab: GradientTable, opts: FitSyncOptions<M>): F {
  const p = prepare(dwi, gtab, opts, { ...FIT_OPTIONS, ...w.options }, `fit${w.name}Sync`, w.extra)
  return w.make(call(() => w.fitSync(p.dwi, gtab.native(), p.method, p.o)), p.grid)
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

/** Options of {@link ModelFit.predictSync}. */
export interface PredictSyncOptions extends SyncOptions {
  /** S0: one number, or a Volume on the spatial grid (e.g. `fit.s0`). Default: see the model's `predict`. */
  s0?: number | Volume
}

/** Options of {@link ModelFit.predict}. */
export interface PredictOptions extends PredictSyncOptions, AsyncOptions {}

/**
 * What every fitted model has: the diffusion tensor's eigen-decomposition, S0 and status maps
 * on the input grid, and prediction of the signal. Maps are Volumes on the input grid (affine
 * and spacing copied) with zeros where nothing was fitted.
 */
export abstract class ModelFit {
  /** Eigenvalues, descending: `[..., 3]`. */
  readonly evals: Volume<Float64Array | Float32Array>
  /** Eigenvectors: `[..., 3, 3]`, `[..., i, j]` = component i of eigenvector j (DIPY's columns). */
  readonly evecs: Volume<Float64Array | Float32Array>
  /** Estimated S0 (when `returnS0` was set). */
  readonly s0?: Volume<Float64Array | Float32Array>
  /** Per-voxel {@link FitStatus} codes. */
  readonly status: Volume<Uint8Array>
  /** The native parameters. @internal */
  protected readonly out: FitOut
  readonly #grid: FitGrid

  /** @internal */
  constructor(out: FitOut, grid: FitGrid) {
    this.out = out
    this.#grid = grid
    const { spatial, like } = grid
    this.evals = this.volume(out.evals, [...spatial, 3])
    this.evecs = this.volume(out.evecs, [...spatial, 3, 3])
    if (out.s0) this.s0 = this.volume(out.s0, [...spatial])
    this.status = { data: out.status, shape: [...spatial], ...(like.affine ? { affine: [...like.affine] } : {}) }
  }

  /** A map on the fit's grid: `data` has `[...spatial, ...components]` values. @internal */
  protected volume(data: Float64Array, shape: number[] = [...this.#grid.spatial]): Volume<Float64Array | Float32Array> {
    const { like, outputType } = this.#grid
    const v: Volume<Float64Array | Float32Array> = { data: outputType === 'float32' ? Float32Array.from(data) : data, shape }
    if (like.affine) v.affine = [...like.affine]
    if (like.spacing) v.spacing = [...like.spacing]
    return v
  }

  /** The number of volumes of the fitted series. @internal */
  protected get volumes(): number {
    return this.#grid.like.shape[this.#grid.like.shape.length - 1]
  }

  /** The spatial shape of the fit. @internal */
  protected get spatial(): number[] {
    return [...this.#grid.spatial]
  }

  /** S0 used by {@link ModelFit.predict} when none is given. @internal */
  protected abstract defaultS0(): Float64Array | number

  #predictArgs(gtab: GradientTable, opts: PredictSyncOptions, known: Record<string, OptionType | readonly OptionType[]>, fn: string) {
    checkOptions(opts, known, fn)
    checkGradientTable(gtab, fn)
    let s0 = opts.s0 ?? this.defaultS0()
    if (typeof s0 === 'object' && !(ArrayBuffer.isView(s0) && s0 instanceof Float64Array)) {
      const v = checkVolume(s0, 's0')
      if (v.data instanceof BigInt64Array || v.data instanceof BigUint64Array) {
        throw new VoxelkitError('ERR_DTYPE', `s0 must hold numbers, not ${v.data.constructor.name} (convert it first)`)
      }
      s0 = v.data instanceof Float64Array ? v.data : Float64Array.from(v.data as ArrayLike<number>)
    }
    const shape = [...this.#grid.spatial, gtab.length]
    const { evals, evecs, kt } = this.out
    const o: PredictOptionsIn = typeof s0 === 'number' ? { s0, threads: opts.threads } : { s0Volume: s0, threads: opts.threads }
    // the output is allocated here (engine-owned, freed by GC) and filled by the kernel
    return { fit: { evals, evecs, kt }, o, shape, out: allocOut(shape) }
  }

  /** Predicts the signal for a gradient table, `[..., nvol]`, off the event loop. */
  async predict(gtab: GradientTable, opts: PredictOptions = {}): Promise<Volume<Float64Array | Float32Array>> {
    const p = this.#predictArgs(gtab, opts, { s0: ['number', 'object'], ...ASYNC_OPTIONS }, 'predict')
    await runJob(opts, (job) => native.predict(p.fit, gtab.native(), p.out, p.o, job))
    return this.volume(p.out, p.shape)
  }

  /** The synchronous twin of {@link ModelFit.predict}. */
  predictSync(gtab: GradientTable, opts: PredictSyncOptions = {}): Volume<Float64Array | Float32Array> {
    const p = this.#predictArgs(gtab, opts, { s0: ['number', 'object'], threads: 'number' }, 'predictSync')
    call(() => native.predictSync(p.fit, gtab.native(), p.out, p.o))
    return this.volume(p.out, p.shape)
  }
}
