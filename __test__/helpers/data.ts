// Small deterministic inputs generated in code (no files needed).
import { gradientTable, simulateDtiPhantom, type GradientTable, type Volume } from '../../ts/index'

export function phantom(shape: [number, number, number] = [16, 16, 4], seed = 3) {
  const p = simulateDtiPhantom({ shape, snr: 25, seed })
  const gtab = gradientTable(p.bvals, p.bvecs)
  return { ...p, gtab }
}

export function asType<T extends Int16Array | Uint16Array | Int32Array | Uint8Array | Float32Array | Float64Array>(
  v: Volume,
  ctor: { from(a: ArrayLike<number>): T },
): Volume<T> {
  return { ...v, data: ctor.from(v.data as ArrayLike<number>) }
}

export function bitsEqual(a: ArrayLike<number>, b: ArrayLike<number>): boolean {
  if (a.length !== b.length) return false
  for (let i = 0; i < a.length; i++) if (!Object.is(a[i], b[i])) return false
  return true
}

export type { GradientTable }
