// Helpers of the radiomics suites: PyRadiomics fixtures (fixtures/radiomics, written by
// fixtures/radiomics/generate.py), PyRadiomics' baseline CSVs and .npy matrices, IBSI values.
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Volume, VoxelArray } from '../../ts/index'
import { ROOT, SHARED } from './fixtures'

export const RFIX = join(ROOT, 'fixtures', 'radiomics')
export const PYRAD = join(SHARED, 'reference', 'pyradiomics')
export const IBSI = join(SHARED, 'reference', 'ibsi1')

type Num = number | string
export const num = (x: Num): number => (typeof x === 'number' ? x : Number(x)) // "NaN", "Infinity"

export interface RadCase {
  name: string
  image: { dtype: string; data: Num[] }
  mask: { dtype: string; data: number[] }
  shape: number[]
  spacing: number[]
  settings: Record<string, unknown>
  features?: Record<string, Num>
  glcm?: { shape: number[]; data: Num[] }
  glrlm?: { shape: number[]; data: Num[] }
  glszm?: { shape: number[]; data: Num[] }
  gldm?: { shape: number[]; data: Num[] }
  ngtdm?: { shape: number[]; data: Num[] }
  error?: string
}

const CTOR: Record<string, new (n: number) => VoxelArray> = {
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  float32: Float32Array,
  float64: Float64Array,
}

export function radCases(): RadCase[] {
  const idx = JSON.parse(readFileSync(join(RFIX, 'index.json'), 'utf8')) as { cases: { name: string }[] }
  return idx.cases.map((c) => JSON.parse(readFileSync(join(RFIX, `${c.name}.json`), 'utf8')) as RadCase)
}

export function caseVolumes(c: RadCase): { image: Volume; mask: Volume } {
  const img = new CTOR[c.image.dtype](c.image.data.length)
  c.image.data.forEach((v, i) => (img[i] = num(v)))
  const msk = new Int32Array(c.mask.data)
  return {
    image: { data: img, shape: c.shape, spacing: c.spacing },
    mask: { data: msk, shape: c.shape, spacing: c.spacing },
  }
}

/** Relative closeness with NaN == NaN. */
export function close(a: number, b: number, rtol: number, atol = 0): boolean {
  if (Number.isNaN(a) || Number.isNaN(b)) return Number.isNaN(a) && Number.isNaN(b)
  return a === b || Math.abs(a - b) <= Math.max(rtol * Math.abs(b), atol)
}

/** Half a unit in the last printed digit of a decimal string (its rounding). */
export function printedHalfUlp(s: string): number {
  const m = /^[-+]?(\d*)(?:\.(\d*))?(?:[eE]([-+]?\d+))?$/.exec(s.trim())
  if (!m) return 0
  const decimals = (m[2] ?? '').length
  const exp = m[3] ? Number(m[3]) : 0
  return 0.5 * 10 ** (exp - decimals)
}

/**
 * Minimal CSV reader (quoted cells with commas and doubled quotes; blank lines skipped). It splits
 * at the commas outside quotes, a different way from the CLI's reader, so that it checks it.
 */
export function parseCsv(text: string): string[][] {
  const comma = /,(?=(?:[^"]*"[^"]*")*[^"]*$)/ // followed by an even number of quotes
  const unquote = (cell: string) => (/^"[\s\S]*"$/.test(cell) ? cell.slice(1, -1).replace(/""/g, '"') : cell)
  return text
    .split(/\r?\n/)
    .filter((line) => line !== '')
    .map((line) => line.split(comma).map(unquote))
}

/** A Python dict literal (as PyRadiomics prints its settings) as a JS object. */
export function pyDict(s: string): Record<string, unknown> {
  const json = s
    .replace(/'/g, '"')
    .replace(/\bNone\b/g, 'null')
    .replace(/\bTrue\b/g, 'true')
    .replace(/\bFalse\b/g, 'false')
    .replace(/\(/g, '[')
    .replace(/\)/g, ']')
  return JSON.parse(json) as Record<string, unknown>
}

/** Reads a little-endian float64/float32/int .npy array in C order -> { shape, data }. */
export function readNpy(path: string): { shape: number[]; data: Float64Array } {
  const b = readFileSync(path)
  if (b.toString('latin1', 1, 6) !== 'NUMPY') throw new Error(`${path}: not a .npy file`)
  const major = b[6]
  const hlen = major === 1 ? b.readUInt16LE(8) : b.readUInt32LE(8)
  const off = major === 1 ? 10 : 12
  const header = b.toString('latin1', off, off + hlen)
  const descr = /'descr':\s*'([^']+)'/.exec(header)![1]
  const fortran = /'fortran_order':\s*True/.test(header)
  const shape = /'shape':\s*\(([^)]*)\)/
    .exec(header)![1]
    .split(',')
    .map((x) => x.trim())
    .filter((x) => x)
    .map(Number)
  const n = shape.reduce((a, b) => a * b, 1)
  const start = off + hlen
  const raw = new Float64Array(n)
  const size = Number(descr.slice(2))
  for (let i = 0; i < n; i++) {
    const p = start + i * size
    raw[i] =
      descr === '<f8' ? b.readDoubleLE(p) : descr === '<f4' ? b.readFloatLE(p) : descr === '<i8' ? Number(b.readBigInt64LE(p)) : b.readInt32LE(p)
  }
  if (!fortran) return { shape, data: raw }
  // Fortran order (first axis fastest) to C order (last axis fastest)
  const data = new Float64Array(n)
  const idx = new Array<number>(shape.length).fill(0)
  for (let f = 0; f < n; f++) {
    let c = 0
    for (let d = 0; d < shape.length; d++) c = c * shape[d] + idx[d]
    data[c] = raw[f]
    for (let d = 0; d < shape.length && ++idx[d] === shape[d]; d++) idx[d] = 0
  }
  return { shape, data }
}

export const hasShared = (...parts: string[]): boolean => existsSync(join(SHARED, 'reference', ...parts))
