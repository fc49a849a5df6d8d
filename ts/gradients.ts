import native from './native'
import { VoxelkitError, call, readUserValue, shown } from './errors'

/** Options of {@link gradientTable}, DIPY's names and defaults. */
export interface GradientTableOptions {
  /** Volumes with b <= b0Threshold are b=0 volumes. @defaultValue 50 */
  b0Threshold?: number
  /** Tolerance on |b-vector| - 1 for diffusion-weighted volumes. @defaultValue 1e-2 */
  atol?: number
}

/**
 * A validated gradient table with DIPY's semantics: `bvals`/`bvecs` are the effective values
 * DIPY uses (`|b g|` and unit vectors), `b0sMask` marks the b=0 volumes.
 */
export class GradientTable {
  /** Effective b-values (s/mm²). */
  readonly bvals: Float64Array
  /** Effective unit b-vectors, a row `[x, y, z]` per volume (flat, length 3n). */
  readonly bvecs: Float64Array
  /** 1 for b=0 volumes. */
  readonly b0sMask: Uint8Array
  readonly b0Threshold: number
  readonly atol: number
  /** The raw input, re-processed identically by every native call. @internal */
  readonly raw: { bvals: Float64Array; bvecs: Float64Array }

  /** @internal use {@link gradientTable} */
  constructor(bvals: Float64Array, bvecs: Float64Array, b0Threshold: number, atol: number) {
    const g = call(() => native.gradientTable({ bvals, bvecs, b0Threshold, atol }))
    this.raw = { bvals, bvecs }
    this.bvals = g.bvals
    this.bvecs = g.bvecs
    this.b0sMask = g.b0SMask
    this.b0Threshold = b0Threshold
    this.atol = atol
  }

  /** Number of volumes. */
  get length(): number {
    return this.bvals.length
  }

  /** @internal */
  native(): { bvals: Float64Array; bvecs: Float64Array; b0Threshold: number; atol: number } {
    return { ...this.raw, b0Threshold: this.b0Threshold, atol: this.atol }
  }
}

/**
 * Checks that `g` is a {@link GradientTable} (`ERR_GRADIENTS` otherwise, a Proxy whose traps
 * throw included). @internal
 */
export function checkGradientTable(g: unknown, fn: string): GradientTable {
  if (!readUserValue(() => g instanceof GradientTable, 'ERR_GRADIENTS', `${fn}: gtab`)) {
    throw new VoxelkitError('ERR_GRADIENTS', `${fn}: gtab must be a GradientTable (use gradientTable())`)
  }
  return g as GradientTable
}

function toFloat64(a: unknown, name: string): Float64Array {
  if (a instanceof Float64Array) return a
  if (ArrayBuffer.isView(a) || Array.isArray(a)) {
    const arr = Array.from(a as ArrayLike<number>)
    if (!arr.every((x) => typeof x === 'number')) {
      throw new VoxelkitError('ERR_GRADIENTS', `${name} must hold numbers`)
    }
    return Float64Array.from(arr)
  }
  throw new VoxelkitError('ERR_GRADIENTS', `${name} must be an array of numbers, got ${typeof a}`)
}

/** Accepts a flat row-major n*3 array, n rows of [x, y, z], or 3 rows of n (FSL layout). */
function bvecsToFlat(bvecs: unknown, n: number): Float64Array {
  if (Array.isArray(bvecs) && bvecs.length > 0 && Array.isArray(bvecs[0])) {
    const rows = bvecs as unknown[][]
    if (rows.every((r) => Array.isArray(r) && r.length === 3)) return toFloat64(rows.flat(), 'bvecs')
    if (rows.length === 3 && rows.every((r) => Array.isArray(r) && r.length === n)) {
      const out = new Float64Array(3 * n)
      for (let i = 0; i < n; i++) {
        for (let c = 0; c < 3; c++) {
          const x = rows[c][i]
          // numbers only, as the other layouts (Number() would coerce '1' and [] silently)
          if (typeof x !== 'number') throw new VoxelkitError('ERR_GRADIENTS', `bvecs must hold numbers; row ${c}, column ${i} is ${shown(x)}`)
          out[3 * i + c] = x
        }
      }
      return out
    }
    throw new VoxelkitError('ERR_GRADIENTS', `bvecs must be n rows of [x, y, z] or 3 rows of n values (n = ${n})`)
  }
  return toFloat64(bvecs, 'bvecs')
}

/**
 * Builds a gradient table as DIPY's `gradient_table(bvals, bvecs=bvecs, b0_threshold, atol)`.
 *
 * @param bvals one b-value per volume (s/mm²)
 * @param bvecs unit vectors: flat `[x0, y0, z0, x1, …]`, rows `[[x, y, z], …]`, or FSL's 3 rows
 * @throws VoxelkitError `ERR_GRADIENTS` for count mismatches, non-finite or negative b-values,
 *   non-unit b-vectors at b > b0Threshold
 */
export function gradientTable(
  bvals: ArrayLike<number>,
  bvecs: ArrayLike<number> | number[][],
  opts: GradientTableOptions = {},
): GradientTable {
  // one read of each option (a getter or Proxy trap that throws is an ERR_GRADIENTS error too)
  const { b0Threshold = 50, atol = 1e-2 } = readUserValue(() => ({ ...opts }), 'ERR_GRADIENTS', 'gradientTable options')
  for (const [k, v] of Object.entries({ b0Threshold, atol })) {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < 0) {
      throw new VoxelkitError('ERR_GRADIENTS', `${k} must be a finite number >= 0, got ${shown(v)}`)
    }
  }
  const [b, v] = readUserValue(
    () => {
      const b = toFloat64(bvals, 'bvals')
      return [b, bvecsToFlat(bvecs, b.length)]
    },
    'ERR_GRADIENTS',
    'bvals or bvecs',
  )
  return new GradientTable(b, v, b0Threshold, atol)
}
