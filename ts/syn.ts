import native from './native'
import type { JobHandle, SynInterpolation, SynLog, SynMetric, SynOptionsIn, SynOut, SynStepType, SynTransformIn, VolumeIn } from './native'
import { VoxelkitError, call, readUserValue, shown } from './errors'
import { ASYNC_OPTIONS, AsyncOptions, OptionType, SyncOptions, checkChoice, checkOptions, runJob } from './jobs'
import type { DisplacementField } from './fields'
import { Volume, affineFromSpacing, checkAffine, checkVolume, voxelsIn } from './volume'

/** Similarity metric of {@link registerSyN}: the generated binding's `SynMetric` ('CC', 'SSD' or 'EM', DIPY's `CCMetric`, `SSDMetric`, `EMMetric`). */
export type SyNMetric = `${SynMetric}`

/** Step of the SSD and EM metrics (DIPY's `step_type`): 'demons' or 'gauss_newton'. */
export type SyNStepType = `${SynStepType}`

/**
 * Options of {@link registerSyNSync}: DIPY's `SymmetricDiffeomorphicRegistration` and metric
 * parameters (CC: `sigmaDiff`, `radius`; SSD and EM: `smooth`, `innerIter`, `stepType`; EM:
 * `qLevels`, `doubleGradient`), `syn_registration` and the metric classes' defaults (declared
 * once, in the kernel). An option of another metric than the chosen one is `ERR_SETTING`.
 */
export interface RegisterSyNSyncOptions extends Omit<SynOptionsIn, 'threads' | 'prealign' | 'metric' | 'stepType'>, SyncOptions {
  /** @defaultValue 'CC' */
  metric?: SyNMetric
  /** SSD / EM: the step. @defaultValue 'demons' (SSD), 'gauss_newton' (EM) */
  stepType?: SyNStepType
  /** Pre-alignment: 16 numbers (4x4 row-major) mapping static world coordinates to moving world coordinates, as DIPY's `prealign` (e.g. an affine registration's result). @defaultValue identity */
  prealign?: number[]
}

/** One iteration of a registration, as {@link RegisterSyNOptions.onProgress} reports it. */
export interface SyNIteration {
  /** DIPY's pyramid level: `levelIters.length - 1` is the coarsest, 0 the finest. */
  level: number
  /** The iteration within the level, from 0. */
  iteration: number
  /** The energy of this iteration (forward + backward, DIPY's `energy_list` entry). */
  energy: number
}

/** Options of {@link registerSyN}. */
export interface RegisterSyNOptions extends RegisterSyNSyncOptions, Omit<AsyncOptions, 'onProgress'> {
  /**
   * Called after every iteration with `(done, total, { level, iteration, energy })`: `done`
   * iterations of `total` (the sum of `levelIters`; a level that converges early skips its
   * remaining iterations), and once at the end with `(total, total)` (no third argument) if the
   * last iteration did not reach `total`. A `(done, total) => void` callback works as for the
   * other calls.
   */
  onProgress?: (done: number, total: number, iteration?: SyNIteration) => void
}

/** Interpolation of {@link SyNMapping.transform}: 'linear' (float32, as DIPY) or 'nearest' (the image's type; float64 becomes float32). */
export type SyNInterpolation = `${SynInterpolation}`

/** Options of {@link SyNMapping.transformSync} and its inverse. */
export interface SyNTransformSyncOptions extends SyncOptions {
  /** @defaultValue 'linear' */
  interpolation?: SyNInterpolation
}
/** Options of {@link SyNMapping.transform} and {@link SyNMapping.transformInverse}. */
export interface SyNTransformOptions extends SyNTransformSyncOptions, AsyncOptions {}

/** A sampling grid of a registration: a spatial shape and a voxel-to-world affine (16 numbers, row-major). */
export interface SyNGrid {
  shape: number[]
  affine: number[]
}

/**
 * The result of {@link registerSyN}: DIPY's `static_to_moving` `DiffeomorphicMap`. `forward`
 * and `backward` are DIPY's `mapping.forward` / `mapping.backward` (float32 displacement
 * fields in world units on the static grid, usable with {@link invertField} and
 * {@link warpVolume}); {@link SyNMapping.transform} brings a moving-grid image onto the static
 * grid and {@link SyNMapping.transformInverse} a static-grid image onto the moving grid.
 */
export class SyNMapping {
  /** DIPY's `mapping.forward`. */
  readonly forward: DisplacementField
  /** DIPY's `mapping.backward`. */
  readonly backward: DisplacementField
  /** The moving image's grid (DIPY's domain). */
  readonly domain: SyNGrid
  /** The static image's grid (DIPY's codomain). */
  readonly codomain: SyNGrid
  /** The map's prealign (the inverse of the given pre-alignment), if one was given. */
  readonly mapPrealign?: number[]
  /** Energies per pyramid level, coarsest first (DIPY's `energy_list` of each level). */
  readonly energies: number[][]
  /** Iterations run per level, coarsest first. */
  readonly iterations: number[]

  /** @internal */
  constructor(out: SynOut, domain: SyNGrid, codomain: SyNGrid) {
    const nd = out.dispShape.length
    const shape = [...out.dispShape, nd]
    this.forward = { data: out.forward, shape, affine: [...out.dispAffine] }
    this.backward = { data: out.backward, shape: [...shape], affine: [...out.dispAffine] }
    this.domain = domain
    this.codomain = codomain
    if (out.mapPrealign) this.mapPrealign = [...out.mapPrealign]
    this.energies = out.energies.map((e) => [...e])
    this.iterations = [...out.iterations]
  }

  private args(image: Volume, inverse: boolean, opts: SyNTransformSyncOptions, known: Record<string, OptionType>, fn: string) {
    checkOptions(opts, known, fn)
    const v = checkVolume(image, 'image')
    const own = inverse ? this.codomain : this.domain
    const target = inverse ? this.domain : this.codomain
    if (v.shape.length !== own.shape.length) {
      throw new VoxelkitError('ERR_SHAPE', `a ${own.shape.length}D registration transforms ${own.shape.length}D images; image has shape [${v.shape.join(', ')}]`)
    }
    // DIPY's default: the image lies on the map's domain (transform) or codomain (inverse)
    const affine = v.affine !== undefined ? checkAffine(v.affine, 'image.affine') : v.spacing !== undefined ? affineFromSpacing(v.spacing) : [...own.affine]
    const img: VolumeIn = { data: voxelsIn(v.data), shape: [...v.shape], affine }
    const o: SynTransformIn = {
      dispAffine: this.forward.affine!,
      domainShape: this.domain.shape,
      domainAffine: this.domain.affine,
      codomainShape: this.codomain.shape,
      codomainAffine: this.codomain.affine,
      mapPrealign: this.mapPrealign,
      inverse,
      interpolation: checkChoice(opts.interpolation, { linear: 'linear', nearest: 'nearest' } as Record<string, SynInterpolation>, 'interpolation'),
      threads: opts.threads,
    }
    const field = (inverse ? this.forward : this.backward).data as Float32Array
    return { img, o, field, target }
  }

  private out(data: Volume['data'], target: SyNGrid): Volume {
    return { data, shape: [...target.shape], affine: [...target.affine] }
  }

  /** DIPY's `mapping.transform(image)`: a moving-grid image warped onto the static grid, off the event loop. */
  async transform(image: Volume, opts: SyNTransformOptions = {}): Promise<Volume> {
    const p = this.args(image, false, opts, { ...TRANSFORM_OPTIONS, ...ASYNC_OPTIONS }, 'transform')
    return this.out((await runJob(opts, (job) => native.synTransform(p.img, p.field, p.o, job))).data, p.target)
  }

  /** The synchronous twin of {@link SyNMapping.transform}. */
  transformSync(image: Volume, opts: SyNTransformSyncOptions = {}): Volume {
    const p = this.args(image, false, opts, TRANSFORM_OPTIONS, 'transformSync')
    return this.out(call(() => native.synTransformSync(p.img, p.field, p.o)).data, p.target)
  }

  /** DIPY's `mapping.transform_inverse(image)`: a static-grid image warped onto the moving grid. */
  async transformInverse(image: Volume, opts: SyNTransformOptions = {}): Promise<Volume> {
    const p = this.args(image, true, opts, { ...TRANSFORM_OPTIONS, ...ASYNC_OPTIONS }, 'transformInverse')
    return this.out((await runJob(opts, (job) => native.synTransform(p.img, p.field, p.o, job))).data, p.target)
  }

  /** The synchronous twin of {@link SyNMapping.transformInverse}. */
  transformInverseSync(image: Volume, opts: SyNTransformSyncOptions = {}): Volume {
    const p = this.args(image, true, opts, TRANSFORM_OPTIONS, 'transformInverseSync')
    return this.out(call(() => native.synTransformSync(p.img, p.field, p.o)).data, p.target)
  }
}

const TRANSFORM_OPTIONS: Record<string, OptionType> = { interpolation: 'string', threads: 'number' }

const SYN_OPTIONS: Record<string, OptionType> = {
  metric: 'string',
  levelIters: 'object',
  stepLength: 'number',
  ssSigmaFactor: 'number',
  optTol: 'number',
  invIter: 'number',
  invTol: 'number',
  sigmaDiff: 'number',
  radius: 'number',
  smooth: 'number',
  innerIter: 'number',
  stepType: 'string',
  qLevels: 'number',
  doubleGradient: 'boolean',
  prealign: 'object',
  threads: 'number',
}

function gridOf(v: Volume, name: string): SyNGrid {
  const affine = v.affine !== undefined ? checkAffine(v.affine, `${name}.affine`) : affineFromSpacing(v.spacing)
  return { shape: [...v.shape], affine }
}

function synArgs(stat: Volume, moving: Volume, opts: RegisterSyNSyncOptions, known: Record<string, OptionType>, fn: string) {
  checkOptions(opts, known, fn)
  const s = checkVolume(stat, 'static')
  const m = checkVolume(moving, 'moving')
  for (const [v, name] of [[s, 'static'], [m, 'moving']] as const) {
    if (v.shape.length !== 2 && v.shape.length !== 3) {
      throw new VoxelkitError('ERR_SHAPE', `${name} must be a 2D or 3D image, got shape [${v.shape.join(', ')}]`)
    }
  }
  if (s.shape.length !== m.shape.length) {
    throw new VoxelkitError('ERR_SHAPE', `static is ${s.shape.length}D but moving is ${m.shape.length}D`)
  }
  // a Proxy's traps run on the type tests and reads below: what they throw is a setting error
  const levelIters = readUserValue(
    () => {
      const l = opts.levelIters
      if (l !== undefined && (!Array.isArray(l) || !l.every((k) => typeof k === 'number'))) {
        throw new VoxelkitError('ERR_SETTING', `levelIters must be an array of iteration counts (numbers), got ${shown(l)}`)
      }
      return l === undefined ? undefined : [...l]
    },
    'ERR_SETTING',
    'levelIters',
  )
  const prealign = readUserValue(
    () => {
      const p = opts.prealign as unknown
      if (p === undefined) return undefined
      if (!(Array.isArray(p) || (ArrayBuffer.isView(p) && p instanceof Float64Array)) || p.length !== 16 || ![...p].every((x) => typeof x === 'number' && Number.isFinite(x))) {
        throw new VoxelkitError('ERR_SETTING', 'prealign must be 16 finite numbers (4x4 row-major)')
      }
      return [...(p as number[])]
    },
    'ERR_SETTING',
    'prealign',
  )
  const gs = gridOf(s, 'static')
  const gm = gridOf(m, 'moving')
  const o: SynOptionsIn = {
    metric: checkChoice(opts.metric, { CC: 'CC', SSD: 'SSD', EM: 'EM' } as Record<string, SynMetric>, 'metric'),
    levelIters,
    stepLength: opts.stepLength,
    ssSigmaFactor: opts.ssSigmaFactor,
    optTol: opts.optTol,
    invIter: opts.invIter,
    invTol: opts.invTol,
    sigmaDiff: opts.sigmaDiff,
    radius: opts.radius,
    smooth: opts.smooth,
    innerIter: opts.innerIter,
    stepType: checkChoice(opts.stepType, { demons: 'demons', gauss_newton: 'gauss_newton' } as Record<string, SynStepType>, 'stepType'),
    qLevels: opts.qLevels,
    doubleGradient: opts.doubleGradient,
    prealign,
    threads: opts.threads,
  }
  return {
    s: { data: voxelsIn(s.data), shape: gs.shape, affine: gs.affine } as VolumeIn,
    m: { data: voxelsIn(m.data), shape: gm.shape, affine: gm.affine } as VolumeIn,
    gs,
    gm,
    o,
  }
}

/**
 * Symmetric diffeomorphic registration (SyN) of `moving` to `static`, off the event loop: DIPY
 * 1.12's `SymmetricDiffeomorphicRegistration(CCMetric(dim), level_iters=[10, 10, 5]).optimize(
 * static, moving, static_grid2world, moving_grid2world, prealign)`, its numerics reproduced
 * (float32 as DIPY; the same fields, energies and iteration counts as DIPY on its fixtures),
 * with the CC (default), SSD or EM metric. 2D or 3D images of any numeric type, each on its
 * own grid (`affine`, or `diag(spacing)`, or the identity).
 *
 * @example
 * ```ts
 * const fixed = await readVolume('t1_subject.nii.gz')
 * const moving = await readVolume('t1_template.nii.gz')
 * const map = await registerSyN(fixed, moving, { levelIters: [10, 10, 5] })
 * const warped = await map.transform(moving)   // on the fixed image's grid
 * ```
 */
export async function registerSyN(stat: Volume, moving: Volume, opts: RegisterSyNOptions = {}): Promise<SyNMapping> {
  const p = synArgs(stat, moving, opts, { ...SYN_OPTIONS, ...ASYNC_OPTIONS }, 'registerSyN')
  const { onProgress, ...rest } = opts
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new VoxelkitError('ERR_SETTING', 'onProgress must be a function (done, total, iteration) => void')
  }
  // per-iteration reports: the kernel logs them, a timer drains the log on this thread
  const log: SynLog | undefined = onProgress ? new native.SynLog() : undefined
  let job: JobHandle | undefined
  let done = 0
  let total = 0
  const flush = () => {
    if (!log || !job) return
    const e = log.drain()
    total = job.progress()[1]
    for (let i = 0; i + 2 < e.length; i += 3) onProgress!(++done, total, { level: e[i], iteration: e[i + 1], energy: e[i + 2] })
  }
  const timer = log ? setInterval(flush, 50) : undefined
  try {
    const out = await runJob(rest, (j) => {
      job = j
      return native.registerSyn(p.s, p.m, p.o, log, j)
    })
    flush()
    if (onProgress && done !== total) onProgress(total, total)
    return new SyNMapping(out, p.gm, p.gs)
  } finally {
    if (timer) clearInterval(timer)
  }
}

/** The synchronous twin of {@link registerSyN} (blocks the event loop). */
export function registerSyNSync(stat: Volume, moving: Volume, opts: RegisterSyNSyncOptions = {}): SyNMapping {
  const p = synArgs(stat, moving, opts, SYN_OPTIONS, 'registerSyNSync')
  return new SyNMapping(call(() => native.registerSynSync(p.s, p.m, p.o, undefined)), p.gm, p.gs)
}
