import native from './native'
import type { VolumeOut } from './native'
import { VoxelkitError, call, toVoxelkitError } from './errors'
import { checkKeys } from './jobs'
import { Volume, VoxelArray, affineFromSpacing, checkAffine, checkVolume, dtypeOf } from './volume'

function checkPath(p: unknown, name = 'path'): string {
  if (typeof p !== 'string' || p.length === 0) {
    throw new VoxelkitError('ERR_SETTING', `${name} must be a non-empty string, got ${String(p)}`)
  }
  return p
}

function fromNative(o: VolumeOut): Volume {
  const data = (o as unknown as Record<string, VoxelArray | undefined>)[o.dtype]
  if (!data) throw new VoxelkitError('ERR_INTERNAL', `reader returned no ${o.dtype} data`)
  return { data, shape: o.shape, affine: o.affine, spacing: o.spacing }
}

/** Options of {@link readVolume}. */
export interface ReadOptions {
  /**
   * Largest decoded data size accepted, in bytes. A header is never allowed to make voxelkit
   * allocate more than the file can hold either; both checks run before any allocation.
   * @defaultValue 16 GiB
   */
  maxBytes?: number
}

function checkReadOptions(opts: ReadOptions): number | undefined {
  checkKeys(opts, ['maxBytes'], 'readVolume')
  const m = opts.maxBytes
  if (m !== undefined && !(typeof m === 'number' && Number.isFinite(m) && m >= 0)) {
    throw new VoxelkitError('ERR_SETTING', `maxBytes must be a finite number >= 0, got ${String(m)}`)
  }
  return m
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
  checkPath(path)
  const maxBytes = checkReadOptions(opts)
  try {
    return fromNative((await native.readVolume(path, maxBytes)) as VolumeOut)
  } catch (e) {
    throw toVoxelkitError(e)
  }
}

/** The synchronous twin of {@link readVolume}. */
export function readVolumeSync(path: string, opts: ReadOptions = {}): Volume {
  checkPath(path)
  const maxBytes = checkReadOptions(opts)
  return fromNative(call(() => native.readVolumeSync(path, maxBytes)))
}

type WriteFns = [(...a: unknown[]) => Promise<unknown>, (...a: unknown[]) => void]
const WRITE: Partial<Record<string, WriteFns>> = {
  uint8: [native.writeVolumeUint8, native.writeVolumeUint8Sync] as WriteFns,
  int8: [native.writeVolumeInt8, native.writeVolumeInt8Sync] as WriteFns,
  int16: [native.writeVolumeInt16, native.writeVolumeInt16Sync] as WriteFns,
  uint16: [native.writeVolumeUint16, native.writeVolumeUint16Sync] as WriteFns,
  int32: [native.writeVolumeInt32, native.writeVolumeInt32Sync] as WriteFns,
  uint32: [native.writeVolumeUint32, native.writeVolumeUint32Sync] as WriteFns,
  float32: [native.writeVolumeFloat32, native.writeVolumeFloat32Sync] as WriteFns,
  float64: [native.writeVolumeFloat64, native.writeVolumeFloat64Sync] as WriteFns,
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

function checkWriteOptions(opts: WriteOptions): boolean | undefined {
  checkKeys(opts, ['encoding'], 'writeVolume')
  const e = opts.encoding
  if (e === undefined) return undefined
  if (e !== 'gzip' && e !== 'raw') {
    throw new VoxelkitError('ERR_SETTING', `encoding must be 'gzip' or 'raw', got ${String(e)}`)
  }
  return e === 'gzip'
}

function writeArgs(path: string, volume: Volume, opts: WriteOptions): [WriteFns, unknown[]] {
  checkPath(path)
  const gzip = checkWriteOptions(opts)
  const v = checkVolume(volume, 'volume')
  const dtype = dtypeOf(v.data)!
  const fns = WRITE[dtype]
  if (!fns) throw new VoxelkitError('ERR_DTYPE', `writing ${dtype} volumes is not supported yet`)
  const affine = v.affine ? checkAffine(v.affine, 'volume.affine') : affineFromSpacing(v.spacing)
  return [fns, [path, v.data, v.shape, affine, gzip]]
}

/**
 * Writes a volume as NIfTI-1 (`.nii`, or gzip-compressed `.nii.gz`; NIfTI-2 when a dimension
 * exceeds 32767) or as an attached NRRD (`.nrrd`, gzip unless `encoding: 'raw'`, with
 * `space: left-posterior-superior` as ITK and Slicer write it). Without an affine,
 * `diag(spacing)` (or identity) is written.
 */
export async function writeVolume(path: string, volume: Volume, opts: WriteOptions = {}): Promise<void> {
  const [fns, args] = writeArgs(path, volume, opts)
  try {
    await fns[0](...args)
  } catch (e) {
    throw toVoxelkitError(e)
  }
}

/** The synchronous twin of {@link writeVolume}. */
export function writeVolumeSync(path: string, volume: Volume, opts: WriteOptions = {}): void {
  const [fns, args] = writeArgs(path, volume, opts)
  call(() => fns[1](...args))
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
  checkPath(bvalPath, 'bvalPath')
  checkPath(bvecPath, 'bvecPath')
  return call(() => native.readBvalsBvecs(bvalPath, bvecPath))
}
