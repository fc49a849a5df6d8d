// Loading of the DIPY golden fixtures (fixtures/dipy, written by fixtures/dipy/generate.py).
import { existsSync, readFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { readVolumeSync, type Volume, type VoxelArray } from '../../ts/index'

export const ROOT = resolve(__dirname, '..', '..')
export const SHARED = resolve(ROOT, '..', 'shared')
export const FIXTURES = join(ROOT, 'fixtures', 'dipy')

type Num = number | string
const num = (x: Num): number => (typeof x === 'number' ? x : Number(x)) // "NaN", "Infinity"
export const nums = (a: Num[]): Float64Array => Float64Array.from(a, num)

export interface DtiResult {
  error?: string
  subset?: number[]
  [k: string]: unknown
}
export interface DtiCase {
  name: string
  description: string
  input: {
    source: string
    shape: number[]
    dtype: 'int16' | 'uint16' | 'int32' | 'float32' | 'float64'
    data?: Num[]
    bvals: Num[]
    bvecs: Num[][]
    b0_threshold: number
    mask: number[] | null
    min_signal: number | null
    gradient_table_error?: string
  }
  results: Record<'WLS' | 'OLS', DtiResult>
}

export const DKI_FIXTURES = join(ROOT, 'fixtures', 'dipy_dki')

export function listCases(dir = FIXTURES): string[] {
  const idx = JSON.parse(readFileSync(join(dir, 'index.json'), 'utf8')) as { cases: { file: string }[] }
  return idx.cases.map((c) => c.file)
}

export function loadCase(file: string, dir = FIXTURES): DtiCase {
  return JSON.parse(readFileSync(join(dir, file), 'utf8')) as DtiCase
}

const CTOR = { int16: Int16Array, uint16: Uint16Array, int32: Int32Array, float32: Float32Array, float64: Float64Array }

/** The case's input series, or undefined when it lives in ../shared and that is absent. */
export function caseInput(c: DtiCase): Volume | undefined {
  const { input } = c
  if (input.source === 'synthetic') {
    return { data: CTOR[input.dtype].from(input.data!, num) as VoxelArray, shape: input.shape }
  }
  const path = join(SHARED, input.source.replace(/^shared\//, ''))
  if (!existsSync(path)) return undefined
  return readVolumeSync(path)
}
