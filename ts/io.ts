import native from './native'
import type { ReadOptionsIn, VolumeIn, VolumeOut, WriteOptionsIn } from './native'
import { VoxelkitError, call, readUserValue, toVoxelkitError, shown } from './errors'
import { checkOptions } from './jobs'
import { needFileSystem } from './host'
import { Volume, WASM_MAX_INPUT_BYTES, affineFromSpacing, checkAffine, checkVolume, checkWasmInput, onWasm, voxelsIn } from './volume'

function checkPath(p: unknown, name = 'path'): string {
  if (typeof p !== 'string' || p.length === 0) {
    throw new VoxelkitError('ERR_SETTING', `${name} must be a non-empty string, got ${shown(p)}`)
  }
  return p
}

function fromNative(o: VolumeOut): Volume {
  return { data: o.data, shape: o.shape, affine: o.affine, spacing: o.spacing }
}

/**
 * Options of {@link readVolume}: `maxBytes`, the largest decoded data size accepted (a header
 * is never allowed to make voxelkit allocate more than the file can hold either; both checks
 * run before any allocation). Under the WebAssembly build (32-bit memory) it defaults to 1 GiB.
 */
export type ReadOptions = ReadOptionsIn

function checkReadOptions(opts: ReadOptions): ReadOptions {
  checkOptions(opts, { maxBytes: 'number' }, 'readVolume')
  // the WebAssembly build cannot hold more (32-bit memory)
  return opts.maxBytes === undefined && onWasm() ? { ...opts, maxBytes: WASM_MAX_INPUT_BYTES } : opts
}

/**
 * Reads a NIfTI-1/NIfTI-2 volume (`.nii`, `.nii.gz`) or a NRRD volume (`.nrrd` with attached
 * data, `.nhdr` with detached data files next to it). The data keep the file's element type
 * (scaled NIfTI data, `scl_slope`/`scl_inter`, become Float64Array as nibabel's `get_fdata`),
 * in file order (first axis fastest), without copies.
 *
 * NIfTI: `affine` is nibabel's best affine (sform, else qform, else base). NRRD: `affine` is the
 * `space directions`/`space origin` mapping converted to RAS+ (LPS flips x and y), so a NRRD
 * and the equivalent NIfTI give the same Volume; non-spatial axes (a leading vector axis, for
 * instance) are moved last. Detached data files must lie in the header's directory or below.
 */
export async function readVolume(path: string, opts: ReadOptions = {}): Promise<Volume> {
  needFileSystem('readVolume')
  checkPath(path)
  const o = checkReadOptions(opts)
  try {
    return fromNative(await native.readVolume(path, o))
  } catch (e) {
    throw toVoxelkitError(e)
  }
}

/** The synchronous twin of {@link readVolume}. */
export function readVolumeSync(path: string, opts: ReadOptions = {}): Volume {
  needFileSystem('readVolumeSync')
  checkPath(path)
  const o = checkReadOptions(opts)
  return fromNative(call(() => native.readVolumeSync(path, o)))
}

/** Options of {@link writeVolume}. */
export interface WriteOptions {
  /**
   * Encoding of a `.nrrd` file: `'gzip'` (what Slicer writes) or `'raw'`. NIfTI compression
   * follows the name (`.nii.gz`), so this option is an `ERR_SETTING` error there.
   * @defaultValue 'gzip' for `.nrrd`
   */
  encoding?: 'gzip' | 'raw'
}

function writeArgs(path: string, volume: Volume, opts: WriteOptions): [VolumeIn, WriteOptionsIn] {
  checkPath(path)
  checkOptions(opts, { encoding: 'string' }, 'writeVolume')
  const e = opts.encoding
  if (e !== undefined && e !== 'gzip' && e !== 'raw') {
    throw new VoxelkitError('ERR_SETTING', `encoding must be 'gzip' or 'raw', got ${shown(e)}`)
  }
  const v = checkVolume(volume, 'volume')
  const affine = v.affine ? checkAffine(v.affine, 'volume.affine') : affineFromSpacing(v.spacing)
  return [{ data: voxelsIn(v.data), shape: v.shape, affine }, { gzip: e === undefined ? undefined : e === 'gzip' }]
}

/**
 * Writes a volume as NIfTI-1 (`.nii`, or gzip-compressed `.nii.gz`; NIfTI-2 when a dimension
 * exceeds 32767) or as an attached NRRD (`.nrrd`, gzip unless `encoding: 'raw'`, with
 * `space: left-posterior-superior` as ITK and Slicer write it). Without an affine,
 * `diag(spacing)` (or identity) is written.
 */
export async function writeVolume(path: string, volume: Volume, opts: WriteOptions = {}): Promise<void> {
  needFileSystem('writeVolume')
  const [v, o] = writeArgs(path, volume, opts)
  try {
    await native.writeVolume(path, v, o)
  } catch (e) {
    throw toVoxelkitError(e)
  }
}

/** The synchronous twin of {@link writeVolume}. */
export function writeVolumeSync(path: string, volume: Volume, opts: WriteOptions = {}): void {
  needFileSystem('writeVolumeSync')
  const [v, o] = writeArgs(path, volume, opts)
  call(() => native.writeVolumeSync(path, v, o))
}

function bytesOf(b: unknown, name: unknown): Uint8Array {
  checkPath(name, 'name')
  // ArrayBuffer.isView first: `instanceof` on a Proxy runs its getPrototypeOf trap, which may throw
  const u8 = ArrayBuffer.isView(b)
    ? b instanceof Uint8Array
      ? b
      : new Uint8Array(b.buffer, b.byteOffset, b.byteLength)
    : readUserValue(() => b instanceof ArrayBuffer, 'ERR_SETTING', 'bytes')
      ? new Uint8Array(b as ArrayBuffer)
      : undefined
  if (u8) {
    checkWasmInput(u8.byteLength)
    return u8
  }
  throw new VoxelkitError('ERR_SETTING', `bytes must be a Uint8Array, an ArrayBuffer or a view of one, got ${shown(b)}`)
}

/**
 * Parses a volume file held in memory, as {@link readVolume} reads one from disk: NIfTI-1/2
 * (raw or gzip) or an attached NRRD; `name` (e.g. the uploaded file's name) gives the format
 * by its extension. For hosts without a file system (a browser, WASI). The bytes are read in
 * place while the call runs: do not modify them until the promise settles. A detached NRRD
 * header (`.nhdr`) needs its data files: `ERR_UNSUPPORTED`.
 *
 * @example
 * ```ts
 * const file = input.files[0]
 * const vol = await parseVolume(new Uint8Array(await file.arrayBuffer()), file.name)
 * ```
 */
export async function parseVolume(bytes: Uint8Array | ArrayBuffer, name: string, opts: ReadOptions = {}): Promise<Volume> {
  const b = bytesOf(bytes, name)
  const o = checkReadOptions(opts)
  try {
    return fromNative(await native.parseVolume(b, name, o))
  } catch (e) {
    throw toVoxelkitError(e)
  }
}

/** The synchronous twin of {@link parseVolume}. */
export function parseVolumeSync(bytes: Uint8Array | ArrayBuffer, name: string, opts: ReadOptions = {}): Volume {
  const b = bytesOf(bytes, name)
  const o = checkReadOptions(opts)
  return fromNative(call(() => native.parseVolumeSync(b, name, o)))
}

/**
 * The bytes of the file {@link writeVolume} would write under `name` (`.nii`, `.nii.gz`,
 * `.nrrd`): for hosts without a file system (a download in a browser, WASI).
 */
export async function serializeVolume(volume: Volume, name: string, opts: WriteOptions = {}): Promise<Uint8Array> {
  const [v, o] = writeArgs(name, volume, opts)
  try {
    return await native.serializeVolume(v, name, o)
  } catch (e) {
    throw toVoxelkitError(e)
  }
}

/** The synchronous twin of {@link serializeVolume}. */
export function serializeVolumeSync(volume: Volume, name: string, opts: WriteOptions = {}): Uint8Array {
  const [v, o] = writeArgs(name, volume, opts)
  return call(() => native.serializeVolumeSync(v, name, o))
}

/** b-values and b-vectors as read from FSL-style files. */
export interface BvalsBvecs {
  bvals: Float64Array
  /** A row `[x, y, z]` per volume, flat (length 3n). */
  bvecs: Float64Array
}

/**
 * Reads FSL-style `.bval`/`.bvec` files as DIPY's `read_bvals_bvecs` does (bvecs as 3 rows or
 * n rows of 3).
 */
export function readBvalsBvecs(bvalPath: string, bvecPath: string): BvalsBvecs {
  needFileSystem('readBvalsBvecs')
  checkPath(bvalPath, 'bvalPath')
  checkPath(bvecPath, 'bvecPath')
  return call(() => native.readBvalsBvecs(bvalPath, bvecPath))
}
