import native from './native'
import type { GridIn, JobHandle, TypedOut } from '../native/index.js'
import { VoxelkitError, call } from './errors'
import { ASYNC_KEYS, AsyncOptions, SyncOptions, checkKeys, checkThreads, runJob } from './jobs'
import { Volume, VoxelArray, affineFromSpacing, checkAffine, checkVolume, dtypeOf } from './volume'

/**
 * A displacement field: a Volume of shape `[nx, ny, nz, 3]` (2D: `[nx, ny, 2]`; ITK/ANTs-style
 * `[nx, ny, nz, 1, 3]` is accepted too), first axis fastest, component axis last, in world
 * units (mm) on the grid of its `affine` (or `diag(spacing)`, or the identity). Float32 or
 * float64 data.
 */
export type DisplacementField = Volume<Float32Array | Float64Array>

/** Statistics of an inversion (DIPY's `stats`). */
export interface InvertStats {
  /** Mean residual norm, in voxels, at the last iteration (NaN when no iteration ran). */
  error: number
  /** Iterations run. */
  iterations: number
  /** Largest residual norm, in voxels, at the last iteration (NaN when no iteration ran). */
  maxResidual: number
}

/** Statistics of a composition: norms of the composed vectors that landed inside d2's grid. */
export interface ComposeStats {
  /** Largest norm (world units). */
  maxNorm: number
  /** Root-mean-square norm. */
  meanNorm: number
  /** DIPY's third statistic, `sqrt(mean(n⁴) - mean(n²)²)`. */
  stdNorm: number
  /** Voxels whose target was inside d2's grid (the others are zero vectors). */
  count: number
}

/** The inverse field and how the iteration ended. */
export type InvertedField = DisplacementField & { stats: InvertStats }
/** The composed field and its statistics. */
export type ComposedField = DisplacementField & { stats: ComposeStats }

/** Options of {@link invertFieldSync}: DIPY's `invert_vector_field_fixed_point_3d` parameters. */
export interface InvertFieldSyncOptions extends SyncOptions {
  /** Maximum number of iterations (0 to 1e6). @defaultValue 20 */
  maxIter?: number
  /** Stop when the mean residual norm, in voxels, is at most this. @defaultValue 1e-3 */
  tolerance?: number
  /** Initial guess of the inverse (a field on the same grid and of the same element type). @defaultValue zero */
  start?: DisplacementField
}
/** Options of {@link invertField}. */
export interface InvertFieldOptions extends InvertFieldSyncOptions, AsyncOptions {}

/** Options of {@link composeFieldsSync}. */
export interface ComposeFieldsSyncOptions extends SyncOptions {
  /** `t` in `x -> d1(x) + t d2(x + d1(x))`. @defaultValue 1 */
  timeScaling?: number
}
/** Options of {@link composeFields}. */
export interface ComposeFieldsOptions extends ComposeFieldsSyncOptions, AsyncOptions {}

/** Interpolation of {@link warpVolume}. */
export type WarpInterpolation = 'linear' | 'nearest'

/** A sampling grid: a spatial shape and a voxel-to-world affine (a Volume will do). */
export interface GridLike {
  shape: number[]
  affine?: number[]
  spacing?: number[]
}

/** Options of {@link warpVolumeSync}. */
export interface WarpVolumeSyncOptions extends SyncOptions {
  /** Trilinear (float64 output) or nearest neighbour (the moving image's type). @defaultValue 'linear' */
  interpolation?: WarpInterpolation
  /** Grid of the output (its spatial shape and affine). @defaultValue the field's grid */
  reference?: GridLike
}
/** Options of {@link warpVolume}. */
export interface WarpVolumeOptions extends WarpVolumeSyncOptions, AsyncOptions {}

const MAX_ITER = 1_000_000

interface FieldIn {
  data: Float32Array | Float64Array
  grid: GridIn
  volume: Volume
}

function gridAffine(v: { affine?: number[]; spacing?: number[] }, name: string): number[] {
  return v.affine !== undefined ? checkAffine(v.affine, `${name}.affine`) : affineFromSpacing(v.spacing)
}

/** Validates a field and returns its data, grid and spatial shape. */
function fieldIn(v: unknown, name: string): FieldIn {
  const f = checkVolume(v, name)
  const dt = dtypeOf(f.data)
  if (dt !== 'float32' && dt !== 'float64') {
    throw new VoxelkitError('ERR_DTYPE', `${name} must hold Float32Array or Float64Array displacements, got ${dt}`)
  }
  const s = f.shape
  let spatial: number[] | undefined
  if (s.length === 4 && s[3] === 3) spatial = s.slice(0, 3)
  else if (s.length === 3 && s[2] === 2) spatial = s.slice(0, 2)
  else if (s.length === 5 && s[3] === 1 && s[4] === 3) spatial = s.slice(0, 3)
  if (!spatial) {
    throw new VoxelkitError(
      'ERR_SHAPE',
      `${name} must have shape [nx, ny, nz, 3], [nx, ny, 2] or [nx, ny, nz, 1, 3]; got [${s.join(', ')}]`,
    )
  }
  return { data: f.data as Float32Array | Float64Array, grid: { shape: spatial, affine: gridAffine(f, name) }, volume: f }
}

function outField(o: TypedOut, like: FieldIn): DisplacementField {
  const data = (o.float32 ?? o.float64) as Float32Array | Float64Array | undefined
  if (!data) throw new VoxelkitError('ERR_INTERNAL', `expected a float field, got ${o.dtype}`)
  const v: DisplacementField = { data, shape: [...like.volume.shape], affine: [...like.grid.affine] }
  if (like.volume.spacing) v.spacing = [...like.volume.spacing]
  return v
}

function typedData(o: TypedOut): VoxelArray {
  const d = (o as unknown as Record<string, VoxelArray | undefined>)[o.dtype]
  if (!d) throw new VoxelkitError('ERR_INTERNAL', `native call returned no ${o.dtype} data`)
  return d
}

// ------------------------------------------------------------------ inversion

const INVERT_KEYS = ['maxIter', 'tolerance', 'start', 'threads'] as const

function invertArgs(field: DisplacementField, opts: InvertFieldSyncOptions, keys: readonly string[], fn: string) {
  checkKeys(opts, keys, fn)
  const f = fieldIn(field, 'field')
  const maxIter = opts.maxIter ?? 20
  if (typeof maxIter !== 'number' || !Number.isInteger(maxIter) || maxIter < 0 || maxIter > MAX_ITER) {
    throw new VoxelkitError('ERR_SETTING', `maxIter must be an integer from 0 to ${MAX_ITER}, got ${String(maxIter)}`)
  }
  const tolerance = opts.tolerance ?? 1e-3
  if (typeof tolerance !== 'number' || !Number.isFinite(tolerance) || tolerance < 0) {
    throw new VoxelkitError('ERR_SETTING', `tolerance must be a finite number >= 0, got ${String(tolerance)}`)
  }
  let start: Float32Array | Float64Array | undefined
  if (opts.start !== undefined) {
    const s = fieldIn(opts.start, 'start')
    if (s.volume.shape.join() !== f.volume.shape.join()) {
      throw new VoxelkitError('ERR_SHAPE', `start has shape [${s.volume.shape.join(', ')}], the field [${f.volume.shape.join(', ')}]`)
    }
    if (dtypeOf(s.data) !== dtypeOf(f.data)) {
      throw new VoxelkitError('ERR_DTYPE', `start is ${dtypeOf(s.data)} but the field is ${dtypeOf(f.data)}`)
    }
    start = s.data
  }
  return { f, start, o: { maxIter, tolerance, threads: checkThreads(opts.threads) } }
}

function inverted(out: { field: TypedOut; error: number; iterations: number; maxResidual: number }, f: FieldIn): InvertedField {
  return Object.assign(outField(out.field, f), {
    stats: { error: out.error, iterations: out.iterations, maxResidual: out.maxResidual },
  })
}

/**
 * Inverts a displacement field by DIPY's fixed-point iteration (Chen et al. 2008;
 * `invert_vector_field_fixed_point_3d` / `_2d`, DIPY 1.12 semantics, same stopping rules), off
 * the event loop. The inverse is on the field's grid, of the field's element type.
 *
 * @example
 * ```ts
 * const field = await readVolume('warp.nii.gz')     // [nx, ny, nz, 1, 3] or [nx, ny, nz, 3]
 * const inv = await invertField(field as DisplacementField, { maxIter: 20, tolerance: 1e-3 })
 * console.log(inv.stats.iterations, inv.stats.error)
 * ```
 */
export async function invertField(field: DisplacementField, opts: InvertFieldOptions = {}): Promise<InvertedField> {
  const { f, start, o } = invertArgs(field, opts, [...INVERT_KEYS, ...ASYNC_KEYS], 'invertField')
  const out = await runJob(opts, (job: JobHandle) =>
    native.invertFieldAsync(f.data, f.grid, start, o, job) as Promise<ReturnType<typeof native.invertFieldSync>>,
  )
  return inverted(out, f)
}

/** The synchronous twin of {@link invertField} (blocks the event loop). */
export function invertFieldSync(field: DisplacementField, opts: InvertFieldSyncOptions = {}): InvertedField {
  const { f, start, o } = invertArgs(field, opts, INVERT_KEYS, 'invertFieldSync')
  return inverted(call(() => native.invertFieldSync(f.data, f.grid, start, o)), f)
}

// ------------------------------------------------------------------ composition

const COMPOSE_KEYS = ['timeScaling', 'threads'] as const

function composeArgs(d1: DisplacementField, d2: DisplacementField, opts: ComposeFieldsSyncOptions, keys: readonly string[], fn: string) {
  checkKeys(opts, keys, fn)
  const a = fieldIn(d1, 'd1')
  const b = fieldIn(d2, 'd2')
  if (a.grid.shape.length !== b.grid.shape.length) {
    throw new VoxelkitError('ERR_SHAPE', `cannot compose a ${a.grid.shape.length}D field with a ${b.grid.shape.length}D field`)
  }
  if (dtypeOf(a.data) !== dtypeOf(b.data)) {
    throw new VoxelkitError('ERR_DTYPE', `d1 is ${dtypeOf(a.data)} but d2 is ${dtypeOf(b.data)}: give both fields the same element type`)
  }
  const t = opts.timeScaling ?? 1
  if (typeof t !== 'number' || !Number.isFinite(t)) {
    throw new VoxelkitError('ERR_SETTING', `timeScaling must be a finite number, got ${String(t)}`)
  }
  return { a, b, t, threads: checkThreads(opts.threads) }
}

function composed(out: ReturnType<typeof native.composeFieldsSync>, a: FieldIn): ComposedField {
  return Object.assign(outField(out.field, a), {
    stats: { maxNorm: out.maxNorm, meanNorm: out.meanNorm, stdNorm: out.stdNorm, count: out.count },
  })
}

/**
 * Composes two displacement fields, `x -> d1(x) + t d2(x + d1(x))` on d1's grid (DIPY's
 * `compose_vector_fields_3d` / `_2d`): d2 is interpolated trilinearly; where `x + d1(x)` is not
 * inside d2's grid (all interpolation corners on it) the result is a zero vector, as in DIPY.
 */
export async function composeFields(d1: DisplacementField, d2: DisplacementField, opts: ComposeFieldsOptions = {}): Promise<ComposedField> {
  const p = composeArgs(d1, d2, opts, [...COMPOSE_KEYS, ...ASYNC_KEYS], 'composeFields')
  const out = await runJob(opts, (job: JobHandle) =>
    native.composeFieldsAsync(p.a.data, p.a.grid, p.b.data, p.b.grid, p.t, p.threads, job) as Promise<
      ReturnType<typeof native.composeFieldsSync>
    >,
  )
  return composed(out, p.a)
}

/** The synchronous twin of {@link composeFields}. */
export function composeFieldsSync(d1: DisplacementField, d2: DisplacementField, opts: ComposeFieldsSyncOptions = {}): ComposedField {
  const p = composeArgs(d1, d2, opts, COMPOSE_KEYS, 'composeFieldsSync')
  return composed(call(() => native.composeFieldsSync(p.a.data, p.a.grid, p.b.data, p.b.grid, p.t, p.threads)), p.a)
}

// ------------------------------------------------------------------ warping

const WARP_KEYS = ['interpolation', 'reference', 'threads'] as const
const MOVING_TYPES = ['uint8', 'int8', 'int16', 'uint16', 'int32', 'uint32', 'float32', 'float64']

function warpArgs(moving: Volume, field: DisplacementField, opts: WarpVolumeSyncOptions, keys: readonly string[], fn: string) {
  checkKeys(opts, keys, fn)
  const m = checkVolume(moving, 'moving')
  const dt = dtypeOf(m.data)!
  if (!MOVING_TYPES.includes(dt)) {
    throw new VoxelkitError('ERR_DTYPE', `moving images of type ${dt} are not supported (use ${MOVING_TYPES.join(', ')})`)
  }
  const f = fieldIn(field, 'field')
  const nd = f.grid.shape.length
  if (m.shape.length !== nd) {
    throw new VoxelkitError('ERR_SHAPE', `a ${nd}D field warps ${nd}D images; moving has shape [${m.shape.join(', ')}]`)
  }
  const interpolation = opts.interpolation ?? 'linear'
  if (interpolation !== 'linear' && interpolation !== 'nearest') {
    throw new VoxelkitError('ERR_SETTING', `interpolation must be 'linear' or 'nearest', got ${String(interpolation)}`)
  }
  let reference: GridIn | undefined
  if (opts.reference !== undefined) {
    const r = opts.reference
    if (r === null || typeof r !== 'object' || !Array.isArray(r.shape)) {
      throw new VoxelkitError('ERR_SHAPE', 'reference must be a Volume or { shape, affine }')
    }
    const rs = r.shape.slice(0, nd)
    if (r.shape.length < nd || rs.some((s) => !Number.isSafeInteger(s) || s < 1)) {
      throw new VoxelkitError('ERR_SHAPE', `reference.shape must start with ${nd} positive sizes, got [${r.shape.join(', ')}]`)
    }
    reference = { shape: rs, affine: gridAffine(r, 'reference') }
  }
  return {
    m,
    f,
    mgrid: { shape: [...m.shape], affine: gridAffine(m, 'moving') },
    reference,
    interpolation,
    threads: checkThreads(opts.threads),
  }
}

function warped(out: TypedOut, p: ReturnType<typeof warpArgs>): Volume {
  const g = p.reference ?? p.f.grid
  return { data: typedData(out), shape: [...g.shape], affine: [...g.affine] }
}

/**
 * Warps an image through a displacement field: `out(x) = moving(x + field(x))` in world
 * coordinates, each Volume on its own grid (DIPY's `warp_3d` / `warp_3d_nn` and 2D forms). The
 * output lies on the field's grid or on `reference`; outside the moving image it is 0.
 */
export async function warpVolume(moving: Volume, field: DisplacementField, opts: WarpVolumeOptions = {}): Promise<Volume> {
  const p = warpArgs(moving, field, opts, [...WARP_KEYS, ...ASYNC_KEYS], 'warpVolume')
  const out = await runJob(opts, (job: JobHandle) =>
    native.warpVolumeAsync(p.m.data as Float64Array, p.mgrid, p.f.data, p.f.grid, p.reference, p.interpolation, p.threads, job) as Promise<TypedOut>,
  )
  return warped(out, p)
}

/** The synchronous twin of {@link warpVolume}. */
export function warpVolumeSync(moving: Volume, field: DisplacementField, opts: WarpVolumeSyncOptions = {}): Volume {
  const p = warpArgs(moving, field, opts, WARP_KEYS, 'warpVolumeSync')
  return warped(
    call(() => native.warpVolumeSync(p.m.data as Float64Array, p.mgrid, p.f.data, p.f.grid, p.reference, p.interpolation, p.threads)),
    p,
  )
}
