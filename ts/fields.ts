import native from './native'
import type { ComposeOptionsIn, FieldOut, Interpolation, InvertOptionsIn, VolumeIn, WarpOptionsIn } from './native'
import { VoxelkitError, call, readUserValue } from './errors'
import { ASYNC_OPTIONS, AsyncOptions, OptionType, SyncOptions, checkOptions, runJob } from './jobs'
import { Volume, affineFromSpacing, checkAffine, checkVolume, voxelsIn } from './volume'

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

/** Options of {@link invertFieldSync}: DIPY's `invert_vector_field_fixed_point_3d` parameters (defaults are the kernel's). */
export interface InvertFieldSyncOptions extends Omit<InvertOptionsIn, 'start' | 'threads'>, SyncOptions {
  /** Initial guess of the inverse (a field on the same grid and of the same element type). @defaultValue zero */
  start?: DisplacementField
}
/** Options of {@link invertField}. */
export interface InvertFieldOptions extends InvertFieldSyncOptions, AsyncOptions {}

/** Options of {@link composeFieldsSync}. */
export interface ComposeFieldsSyncOptions extends Omit<ComposeOptionsIn, 'threads'>, SyncOptions {}
/** Options of {@link composeFields}. */
export interface ComposeFieldsOptions extends ComposeFieldsSyncOptions, AsyncOptions {}

/** Interpolation of {@link warpVolume}: the generated binding's `Interpolation`. */
export type WarpInterpolation = Interpolation

/** A sampling grid: a spatial shape and a voxel-to-world affine (a Volume will do). */
export interface GridLike {
  shape: number[]
  affine?: number[]
  spacing?: number[]
}

/** Options of {@link warpVolumeSync}. */
export interface WarpVolumeSyncOptions extends Omit<WarpOptionsIn, 'reference' | 'threads'>, SyncOptions {
  /** Grid of the output (its spatial shape and affine). @defaultValue the field's grid */
  reference?: GridLike
}
/** Options of {@link warpVolume}. */
export interface WarpVolumeOptions extends WarpVolumeSyncOptions, AsyncOptions {}

interface FieldIn {
  native: VolumeIn
  volume: Volume
}

function gridAffine(v: { affine?: number[]; spacing?: number[] }, name: string): number[] {
  return v.affine !== undefined ? checkAffine(v.affine, `${name}.affine`) : affineFromSpacing(v.spacing)
}

/** A field as the binding takes it: its data on its spatial grid. */
function fieldIn(v: unknown, name: string): FieldIn {
  const f = checkVolume(v, name)
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
  return { native: { data: voxelsIn(f.data), shape: spatial, affine: gridAffine(f, name) }, volume: f }
}

function outField(data: FieldOut['field'], like: FieldIn): DisplacementField {
  const v: DisplacementField = { data, shape: [...like.volume.shape], affine: [...like.native.affine!] }
  if (like.volume.spacing) v.spacing = [...like.volume.spacing]
  return v
}

// ------------------------------------------------------------------ inversion

const INVERT_OPTIONS: Record<string, OptionType> = { maxIter: 'number', tolerance: 'number', start: 'object', threads: 'number' }

function invertArgs(field: DisplacementField, opts: InvertFieldSyncOptions, known: Record<string, OptionType>, fn: string) {
  checkOptions(opts, known, fn)
  const f = fieldIn(field, 'field')
  let start: VolumeIn | undefined
  if (opts.start !== undefined) {
    const s = fieldIn(opts.start, 'start')
    if (s.volume.shape.join() !== f.volume.shape.join()) {
      throw new VoxelkitError('ERR_SHAPE', `start has shape [${s.volume.shape.join(', ')}], the field [${f.volume.shape.join(', ')}]`)
    }
    start = s.native
  }
  const { maxIter, tolerance, threads } = opts
  return { f, o: { maxIter, tolerance, threads, start } }
}

function inverted(out: FieldOut, f: FieldIn): InvertedField {
  return Object.assign(outField(out.field, f), { stats: { error: out.error, iterations: out.count, maxResidual: out.max } })
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
  const { f, o } = invertArgs(field, opts, { ...INVERT_OPTIONS, ...ASYNC_OPTIONS }, 'invertField')
  return inverted(await runJob(opts, (job) => native.invertField(f.native, o, job)), f)
}

/** The synchronous twin of {@link invertField} (blocks the event loop). */
export function invertFieldSync(field: DisplacementField, opts: InvertFieldSyncOptions = {}): InvertedField {
  const { f, o } = invertArgs(field, opts, INVERT_OPTIONS, 'invertFieldSync')
  return inverted(call(() => native.invertFieldSync(f.native, o)), f)
}

// ------------------------------------------------------------------ composition

const COMPOSE_OPTIONS: Record<string, OptionType> = { timeScaling: 'number', threads: 'number' }

function composeArgs(d1: DisplacementField, d2: DisplacementField, opts: ComposeFieldsSyncOptions, known: Record<string, OptionType>, fn: string) {
  checkOptions(opts, known, fn)
  const a = fieldIn(d1, 'd1')
  const b = fieldIn(d2, 'd2')
  if (a.native.shape.length !== b.native.shape.length) {
    throw new VoxelkitError('ERR_SHAPE', `cannot compose a ${a.native.shape.length}D field with a ${b.native.shape.length}D field`)
  }
  return { a, b, o: { timeScaling: opts.timeScaling, threads: opts.threads } }
}

function composed(out: FieldOut, a: FieldIn): ComposedField {
  return Object.assign(outField(out.field, a), { stats: { maxNorm: out.max, meanNorm: out.error, stdNorm: out.std, count: out.count } })
}

/**
 * Composes two displacement fields, `x -> d1(x) + t d2(x + d1(x))` on d1's grid (DIPY's
 * `compose_vector_fields_3d` / `_2d`): d2 is interpolated trilinearly; where `x + d1(x)` is not
 * inside d2's grid (all interpolation corners on it) the result is a zero vector, as in DIPY.
 */
export async function composeFields(d1: DisplacementField, d2: DisplacementField, opts: ComposeFieldsOptions = {}): Promise<ComposedField> {
  const p = composeArgs(d1, d2, opts, { ...COMPOSE_OPTIONS, ...ASYNC_OPTIONS }, 'composeFields')
  return composed(await runJob(opts, (job) => native.composeFields(p.a.native, p.b.native, p.o, job)), p.a)
}

/** The synchronous twin of {@link composeFields}. */
export function composeFieldsSync(d1: DisplacementField, d2: DisplacementField, opts: ComposeFieldsSyncOptions = {}): ComposedField {
  const p = composeArgs(d1, d2, opts, COMPOSE_OPTIONS, 'composeFieldsSync')
  return composed(call(() => native.composeFieldsSync(p.a.native, p.b.native, p.o)), p.a)
}

// ------------------------------------------------------------------ warping

const WARP_OPTIONS: Record<string, OptionType> = { interpolation: 'string', reference: 'object', threads: 'number' }

function warpArgs(moving: Volume, field: DisplacementField, opts: WarpVolumeSyncOptions, known: Record<string, OptionType>, fn: string) {
  checkOptions(opts, known, fn)
  const m = checkVolume(moving, 'moving')
  const f = fieldIn(field, 'field')
  const nd = f.native.shape.length
  if (m.shape.length !== nd) {
    throw new VoxelkitError('ERR_SHAPE', `a ${nd}D field warps ${nd}D images; moving has shape [${m.shape.join(', ')}]`)
  }
  let reference: { shape: number[]; affine: number[] } | undefined
  if (opts.reference !== undefined) {
    const ref = opts.reference
    // one read of each field (a getter or Proxy trap that throws is ERR_SHAPE)
    const r = readUserValue(() => ({ shape: ref.shape, affine: ref.affine, spacing: ref.spacing }), 'ERR_SHAPE', 'reference')
    if (!Array.isArray(r.shape)) throw new VoxelkitError('ERR_SHAPE', 'reference must be a Volume or { shape, affine }')
    const rs = r.shape.slice(0, nd)
    if (r.shape.length < nd || rs.some((s) => !Number.isSafeInteger(s) || s < 1)) {
      throw new VoxelkitError('ERR_SHAPE', `reference.shape must start with ${nd} positive sizes, got [${r.shape.join(', ')}]`)
    }
    reference = { shape: rs, affine: gridAffine(r, 'reference') }
  }
  const grid = reference ?? { shape: f.native.shape, affine: f.native.affine! }
  return {
    m: { data: voxelsIn(m.data), shape: [...m.shape], affine: gridAffine(m, 'moving') },
    f,
    o: { interpolation: opts.interpolation, reference, threads: opts.threads },
    grid,
  }
}

function warped(data: Volume['data'], p: ReturnType<typeof warpArgs>): Volume {
  return { data, shape: [...p.grid.shape], affine: [...p.grid.affine] }
}

/**
 * Warps an image through a displacement field: `out(x) = moving(x + field(x))` in world
 * coordinates, each Volume on its own grid (DIPY's `warp_3d` / `warp_3d_nn` and 2D forms). The
 * output lies on the field's grid or on `reference`; outside the moving image it is 0.
 */
export async function warpVolume(moving: Volume, field: DisplacementField, opts: WarpVolumeOptions = {}): Promise<Volume> {
  const p = warpArgs(moving, field, opts, { ...WARP_OPTIONS, ...ASYNC_OPTIONS }, 'warpVolume')
  return warped((await runJob(opts, (job) => native.warpVolume(p.m, p.f.native, p.o, job))).data, p)
}

/** The synchronous twin of {@link warpVolume}. */
export function warpVolumeSync(moving: Volume, field: DisplacementField, opts: WarpVolumeSyncOptions = {}): Volume {
  const p = warpArgs(moving, field, opts, WARP_OPTIONS, 'warpVolumeSync')
  return warped(call(() => native.warpVolumeSync(p.m, p.f.native, p.o)).data, p)
}
