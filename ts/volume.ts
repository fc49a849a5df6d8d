import native from './native'
import type { VolumeIn, VolumeOut } from './native'
import { VoxelkitError, readUserValue } from './errors'

/**
 * The element types voxelkit handles: name -> TypedArray constructor. Readers return all ten;
 * every entry point that takes voxels takes the eight others and answers `ERR_DTYPE` for the
 * 64-bit integer types (float64 arithmetic cannot hold them exactly: convert first). The native binding's list (`voxelkit_core::voxels`) is
 * the same; `VoxelArray` below is checked against the generated binding's type at compile time.
 */
const ARRAY_TYPES: { readonly [K in Dtype]: new (n: number) => VoxelArray } = {
  uint8: Uint8Array,
  int8: Int8Array,
  int16: Int16Array,
  uint16: Uint16Array,
  int32: Int32Array,
  uint32: Uint32Array,
  int64: BigInt64Array,
  uint64: BigUint64Array,
  float32: Float32Array,
  float64: Float64Array,
}

/** Name of a {@link VoxelArray} element type (the keys of the table above). */
export type Dtype = 'uint8' | 'int8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'float32' | 'float64'

/** Element arrays of voxel data (the native binding's `VolumeOut.data`). */
export type VoxelArray =
  | Uint8Array
  | Int8Array
  | Int16Array
  | Uint16Array
  | Int32Array
  | Uint32Array
  | BigInt64Array
  | BigUint64Array
  | Float32Array
  | Float64Array

/**
 * Compile-time proof that this module's `VoxelArray` and the generated binding's output type
 * are the same union (the build fails otherwise). @internal
 */
export const ELEMENT_TYPES_AGREE: [VolumeOut['data']] extends [VoxelArray]
  ? [VoxelArray] extends [VolumeOut['data']]
    ? true
    : never
  : never = true

/**
 * An image: data in NIfTI memory order (the first axis varies fastest; for a 4D series
 * `[nx, ny, nz, nvol]` volume 0 comes first), its shape, and optionally its voxel-to-world
 * affine (4x4, row-major, RAS+ mm) and voxel spacing (mm).
 */
export interface Volume<T extends VoxelArray = VoxelArray> {
  data: T
  shape: number[]
  affine?: number[]
  spacing?: number[]
}

/**
 * Voxel data as the binding takes them: the binding itself answers `ERR_DTYPE` for the 64-bit
 * integer types, in one place for every entry point. @internal
 */
export function voxelsIn(a: VoxelArray): VolumeIn['data'] {
  checkWasmInput(a.byteLength)
  return a as VolumeIn['data']
}

/**
 * The most bytes one input array (or one decoded file) may hold under the WebAssembly build
 * (`voxelkit-wasm32-wasi`, in a browser or with NAPI_RS_FORCE_WASI). Its memory is 32-bit: 4 GiB
 * for the module, a copy of every input and every output. Measured in Chromium 156: a DTI fit of
 * a 0.97 GiB int16 DWI ran; one of 1.55 GiB ran out of memory for its outputs in a pool thread,
 * which traps the instance (the promise never settles). @internal
 */
export const WASM_MAX_INPUT_BYTES = 2 ** 30

/** Whether the loaded binding is the WebAssembly build. @internal */
export function onWasm(): boolean {
  return native.__napiBindingTarget !== undefined && native.__napiBindingTarget !== 'native'
}

/** `ERR_UNSUPPORTED` for an input the WebAssembly build cannot hold. @internal */
export function checkWasmInput(bytes: number): void {
  if (bytes > WASM_MAX_INPUT_BYTES && onWasm()) {
    throw new VoxelkitError(
      'ERR_UNSUPPORTED',
      `an input of ${(bytes / 2 ** 30).toFixed(2)} GiB is more than the WebAssembly build takes (1 GiB per array: its ` +
        '32-bit memory holds the module, a copy of the inputs and the outputs); use a native build',
    )
  }
}

/** The element type of a voxel array. */
export function dtypeOf(a: unknown): Dtype | undefined {
  // not a typed array (nor a Proxy of one, whose getPrototypeOf trap may throw): no element type
  if (!ArrayBuffer.isView(a)) return undefined
  for (const [name, ctor] of Object.entries(ARRAY_TYPES)) {
    if (a instanceof ctor) return name as Dtype
  }
  return undefined
}

function describe(v: unknown): string {
  if (v === null) return 'null'
  if (Array.isArray(v)) return 'an Array'
  if (typeof v === 'object') {
    try {
      return (v as object).constructor?.name ?? 'an object'
    } catch {
      return 'an object' // a Proxy whose traps throw
    }
  }
  return typeof v
}

/** Checks that `v` is a Volume whose data length matches its shape. @internal */
export function checkVolume(v: unknown, name: string): Volume {
  if (v === null || typeof v !== 'object') {
    throw new VoxelkitError('ERR_SHAPE', `${name} must be a Volume { data, shape }, got ${describe(v)}`)
  }
  // one read of each field (a getter or Proxy trap that throws is ERR_SHAPE, as a malformed Volume)
  const vol = readUserValue(
    () => {
      const { data, shape, affine, spacing } = v as Volume
      return { data, shape, ...(affine !== undefined ? { affine } : {}), ...(spacing !== undefined ? { spacing } : {}) }
    },
    'ERR_SHAPE',
    name,
  )
  if (dtypeOf(vol.data) === undefined) {
    throw new VoxelkitError(
      'ERR_DTYPE',
      `${name}.data must be a typed array (Int16Array, Float32Array, …), got ${describe(vol.data)}`,
    )
  }
  // a plain copy, read once (a Proxy of an array whose traps throw is ERR_SHAPE)
  vol.shape = readUserValue(() => (Array.isArray(vol.shape) ? [...vol.shape] : vol.shape), 'ERR_SHAPE', `${name}.shape`)
  if (!Array.isArray(vol.shape) || vol.shape.length === 0) {
    throw new VoxelkitError('ERR_SHAPE', `${name}.shape must be a non-empty array of sizes, got ${describe(vol.shape)}`)
  }
  let n = 1
  for (const s of vol.shape) {
    if (!Number.isSafeInteger(s) || s < 1) {
      throw new VoxelkitError('ERR_SHAPE', `${name}.shape must hold positive integers, got [${vol.shape.join(', ')}]`)
    }
    n *= s
  }
  if (n !== vol.data.length) {
    throw new VoxelkitError(
      'ERR_SHAPE',
      `${name}.data holds ${vol.data.length} values but shape [${vol.shape.join(', ')}] needs ${n}`,
    )
  }
  // plain copies for the binding (a Proxy of an array is not an array to napi); the shape's above
  if (vol.affine !== undefined) vol.affine = checkAffine(vol.affine, `${name}.affine`)
  if (vol.spacing !== undefined) vol.spacing = checkSpacing(vol.spacing, `${name}.spacing`)
  return vol
}

/**
 * Checks voxel spacing: an array of positive finite numbers (every index: a sparse array's
 * holes are refused, not skipped; numeric strings too). @internal
 */
export function checkSpacing(s: unknown, name: string): number[] {
  // a Proxy's traps run on the type tests and reads: what they throw is a shape error
  return readUserValue(() => spacingOf(s, name), 'ERR_SHAPE', name)
}

function spacingOf(s: unknown, name: string): number[] {
  if (!(Array.isArray(s) || (ArrayBuffer.isView(s) && s instanceof Float64Array)) || s.length === 0 || s.length > 16) {
    throw new VoxelkitError('ERR_SHAPE', `${name} must be an array of 1 to 16 positive finite numbers, got ${describe(s)}`)
  }
  for (let i = 0; i < s.length; i++) {
    const x: unknown = s[i]
    if (typeof x !== 'number' || !Number.isFinite(x) || x <= 0) {
      throw new VoxelkitError('ERR_SHAPE', `${name} must hold positive finite numbers; [${i}] is ${typeof x === 'number' ? x : describe(x)}`)
    }
  }
  return [...s]
}

/** @internal */
export function checkAffine(a: unknown, name: string): number[] {
  // a Proxy's traps run on the reads: what they throw is a shape error
  return readUserValue(() => affineOf(a, name), 'ERR_SHAPE', name)
}

function affineOf(a: unknown, name: string): number[] {
  if (!(Array.isArray(a) || (ArrayBuffer.isView(a) && a instanceof Float64Array)) || a.length !== 16 || ![...a].every(Number.isFinite)) {
    throw new VoxelkitError('ERR_SHAPE', `${name} must be 16 finite numbers (4x4 row-major), got ${describe(a)}`)
  }
  return [...a]
}

/** A 4x4 identity affine scaled by `spacing`. @internal */
export function affineFromSpacing(spacing?: number[]): number[] {
  if (spacing !== undefined) checkSpacing(spacing, 'spacing')
  const [sx, sy, sz] = [spacing?.[0] ?? 1, spacing?.[1] ?? 1, spacing?.[2] ?? 1]
  return [sx, 0, 0, 0, 0, sy, 0, 0, 0, 0, sz, 0, 0, 0, 0, 1]
}

/** Output element type for maps. */
export type OutputType = 'float64' | 'float32'

/** Builds an output Volume on the grid of `like`. @internal */
export function outVolume(
  data: Float64Array,
  shape: number[],
  like: Volume,
  outputType: OutputType = 'float64',
): Volume<Float64Array | Float32Array> {
  const v: Volume<Float64Array | Float32Array> = {
    data: outputType === 'float32' ? Float32Array.from(data) : data,
    shape,
  }
  if (like.affine) v.affine = [...like.affine]
  if (like.spacing) v.spacing = [...like.spacing]
  return v
}
