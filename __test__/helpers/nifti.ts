// Builders for malformed NIfTI files: write a valid file with the public writer, then patch
// header bytes in place. Offsets are the NIfTI-1 / NIfTI-2 header layouts (little-endian, as
// voxelkit writes them).
import { readFileSync } from 'node:fs'
import { writeVolumeSync, type Volume } from '../../ts/index'

/** NIfTI-1 header field offsets. */
export const N1 = {
  sizeofHdr: 0, // int32
  dim: 40, // int16[8]
  datatype: 70, // int16
  bitpix: 72, // int16
  voxOffset: 108, // float32
  magic: 344, // char[4]
  size: 348,
} as const

/** NIfTI-2 header field offsets. */
export const N2 = {
  sizeofHdr: 0, // int32 = 540
  magic: 4, // char[8]
  datatype: 12, // int16
  bitpix: 14, // int16
  dim: 16, // int64[8]
  voxOffset: 168, // int64
  size: 540,
} as const

/** Writes `vol` with the public writer at `path` and returns the file's bytes. */
export function validBytes(path: string, vol: Volume): Buffer {
  writeVolumeSync(path, vol)
  return readFileSync(path)
}

/** A copy of `bytes` with `patch` applied through a little-endian DataView. */
export function patched(bytes: Buffer, patch: (dv: DataView) => void): Buffer {
  const copy = Buffer.from(bytes) // own ArrayBuffer, offset 0
  patch(new DataView(copy.buffer, copy.byteOffset, copy.byteLength))
  return copy
}

export const setDims1 = (dv: DataView, dims: number[]) => dims.forEach((d, i) => dv.setInt16(N1.dim + 2 * i, d, true))
export const setDims2 = (dv: DataView, dims: bigint[]) =>
  dims.forEach((d, i) => dv.setBigInt64(N2.dim + 8 * i, d, true))

/** Deterministic pseudo-random bytes (xorshift32), so that failures reproduce. */
export function randomBytes(n: number, seed = 0x9e3779b9): Buffer {
  const out = Buffer.alloc(n)
  let x = seed >>> 0 || 1
  for (let i = 0; i < n; i++) {
    x ^= x << 13
    x >>>= 0
    x ^= x >>> 17
    x ^= x << 5
    x >>>= 0
    out[i] = x & 0xff
  }
  return out
}
