// Robustness: malformed files and bad arguments through the public API. Every case must end in
// a VoxelkitError with a stable `code` (never a crash, a hang or a foreign error type), and the
// module must keep working afterwards.
import test from 'ava'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { gzipSync } from 'node:zlib'
import {
  VoxelkitError,
  fitDti,
  fitDtiSync,
  gradientTable,
  readBvalsBvecs,
  readVolume,
  readVolumeSync,
  setThreads,
  writeVolume,
  writeVolumeSync,
  type ErrorCode,
  type Volume,
} from '../ts/index'
import { bitsEqual, phantom } from './helpers/data'
import { N1, N2, patched, randomBytes, setDims1, setDims2, validBytes } from './helpers/nifti'

const dir = mkdtempSync(join(tmpdir(), 'voxelkit-bad-input-'))
test.after.always(() => rmSync(dir, { recursive: true, force: true }))

// ---------------------------------------------------------------------------------------------
// Valid inputs the malformed ones are derived from
// ---------------------------------------------------------------------------------------------

// NIfTI-1, int16 [4, 4, 4]: 348-byte header + 4 extension bytes + 128 bytes of data.
const nii1 = validBytes(join(dir, 'valid1.nii'), {
  data: Int16Array.from({ length: 64 }, (_, i) => i * 3 - 50),
  shape: [4, 4, 4],
})
// NIfTI-2 (a dimension above 32767 makes the writer switch), uint8 [32768, 1, 1].
const nii2 = validBytes(join(dir, 'valid2.nii'), { data: new Uint8Array(32768).fill(7), shape: [32768, 1, 1] })
// gzip-compressed NIfTI-1 with incompressible-ish data so the deflate stream is long.
const niigz = validBytes(join(dir, 'valid.nii.gz'), {
  data: Float32Array.from({ length: 4096 }, (_, i) => Math.sin(i * 0.37) * 1000),
  shape: [16, 16, 16],
})

const p = phantom([6, 6, 1])
const { dwi, gtab } = p
const fit = fitDtiSync(dwi, gtab, { mask: p.mask, returnS0: true })
const aliveRef = fitDtiSync(dwi, gtab).fa().data

/** The module still works: a read and a fit give the same results as before the bad input. */
function alive(): boolean {
  const v = readVolumeSync(join(dir, 'valid1.nii'))
  return v.data.length === 64 && bitsEqual(fitDtiSync(dwi, gtab).fa().data, aliveRef)
}

// ---------------------------------------------------------------------------------------------
// The cases
// ---------------------------------------------------------------------------------------------

interface Case {
  name: string
  code: ErrorCode
  /** Throws or rejects. */
  run: () => unknown
}

/** A file case: the bytes are written to `name.ext` and read with readVolume and readVolumeSync. */
interface FileCase {
  name: string
  code: ErrorCode
  ext: '.nii' | '.nii.gz' | string
  bytes: () => Buffer
}

const p1 = (patch: (dv: DataView) => void) => () => patched(nii1, patch)
const p2 = (patch: (dv: DataView) => void) => () => patched(nii2, patch)
// 100 GiB of float32 voxels: 32767 x 32767 x 25 x 4 bytes = 1.07e11 bytes.
const huge1 = (dv: DataView) => {
  setDims1(dv, [3, 32767, 32767, 25, 1, 1, 1, 1])
  dv.setInt16(N1.datatype, 16, true)
  dv.setInt16(N1.bitpix, 32, true)
}
const huge2 = (dv: DataView) => {
  setDims2(dv, [3n, 65536n, 65536n, 6400n, 1n, 1n, 1n, 1n]) // 2.7e13 uint8 voxels: 25 TiB
}

const fileCases: FileCase[] = [
  // garbage
  { name: 'random bytes as .nii', code: 'ERR_FORMAT', ext: '.nii', bytes: () => randomBytes(1000, 1) },
  { name: 'random bytes as .nii.gz', code: 'ERR_FORMAT', ext: '.nii.gz', bytes: () => randomBytes(1000, 2) },
  {
    name: 'gzip magic followed by random bytes',
    code: 'ERR_FORMAT',
    ext: '.nii.gz',
    bytes: () => Buffer.concat([Buffer.from([0x1f, 0x8b, 8, 0, 0, 0, 0, 0, 0, 3]), randomBytes(1000, 3)]),
  },
  { name: 'empty file', code: 'ERR_FORMAT', ext: '.nii', bytes: () => Buffer.alloc(0) },
  { name: 'bad magic string', code: 'ERR_FORMAT', ext: '.nii', bytes: p1((dv) => dv.setUint32(N1.magic, 0x00317878, true)) },
  {
    name: 'sizeof_hdr neither 348 nor 540',
    code: 'ERR_FORMAT',
    ext: '.nii',
    bytes: p1((dv) => dv.setInt32(N1.sizeofHdr, 349, true)),
  },
  // truncation
  ...[2, 40, 100, 200, 347].map((n) => ({
    name: `NIfTI-1 header truncated at ${n} bytes`,
    code: 'ERR_FORMAT' as const,
    ext: '.nii',
    bytes: () => nii1.subarray(0, n),
  })),
  { name: 'NIfTI-1 header without the extension bytes', code: 'ERR_FORMAT', ext: '.nii', bytes: () => nii1.subarray(0, 350) },
  { name: 'NIfTI-2 header truncated at 300 bytes', code: 'ERR_FORMAT', ext: '.nii', bytes: () => nii2.subarray(0, 300) },
  { name: 'data truncated to half', code: 'ERR_FORMAT', ext: '.nii', bytes: () => nii1.subarray(0, 352 + 64) },
  { name: 'data short by one byte', code: 'ERR_FORMAT', ext: '.nii', bytes: () => nii1.subarray(0, nii1.length - 1) },
  { name: 'NIfTI-2 data truncated', code: 'ERR_FORMAT', ext: '.nii', bytes: () => nii2.subarray(0, 544 + 1000) },
  // corrupt gzip
  {
    name: 'gzip with flipped bytes',
    code: 'ERR_FORMAT',
    ext: '.nii.gz',
    bytes: () => {
      const b = Buffer.from(niigz)
      for (let i = 40; i < b.length - 20; i += 7) b[i] ^= 0x5a
      return b
    },
  },
  {
    name: 'gzip with one flipped byte in the deflate data',
    code: 'ERR_FORMAT',
    ext: '.nii.gz',
    bytes: () => {
      const b = Buffer.from(niigz)
      b[Math.floor(b.length / 2)] ^= 0x01
      return b
    },
  },
  { name: 'gzip stream truncated to half', code: 'ERR_FORMAT', ext: '.nii.gz', bytes: () => niigz.subarray(0, niigz.length >> 1) },
  { name: 'gzip stream truncated to 12 bytes', code: 'ERR_FORMAT', ext: '.nii.gz', bytes: () => niigz.subarray(0, 12) },
  {
    name: 'gzip with a wrong CRC-32 trailer',
    code: 'ERR_FORMAT',
    ext: '.nii.gz',
    bytes: () => {
      const b = Buffer.from(niigz)
      b[b.length - 8] ^= 0xff
      return b
    },
  },
  // dims
  { name: 'dim[0] = 0', code: 'ERR_FORMAT', ext: '.nii', bytes: p1((dv) => dv.setInt16(N1.dim, 0, true)) },
  { name: 'dim[0] = 8', code: 'ERR_FORMAT', ext: '.nii', bytes: p1((dv) => dv.setInt16(N1.dim, 8, true)) },
  { name: 'dim[0] = -1', code: 'ERR_FORMAT', ext: '.nii', bytes: p1((dv) => dv.setInt16(N1.dim, -1, true)) },
  { name: 'negative dim[2]', code: 'ERR_FORMAT', ext: '.nii', bytes: p1((dv) => dv.setInt16(N1.dim + 4, -4, true)) },
  { name: 'zero dim[1]', code: 'ERR_FORMAT', ext: '.nii', bytes: p1((dv) => dv.setInt16(N1.dim + 2, 0, true)) },
  {
    name: 'NIfTI-2 negative dim[1]',
    code: 'ERR_FORMAT',
    ext: '.nii',
    bytes: p2((dv) => dv.setBigInt64(N2.dim + 8, -32768n, true)),
  },
  {
    name: 'NIfTI-2 dims 2^31 x 2^31 x 2^31 (product overflows)',
    code: 'ERR_FORMAT',
    ext: '.nii',
    bytes: p2((dv) => setDims2(dv, [3n, 1n << 31n, 1n << 31n, 1n << 31n, 1n, 1n, 1n, 1n])),
  },
  {
    name: 'NIfTI-2 dims 2^62 x 4 (byte count overflows)',
    code: 'ERR_FORMAT',
    ext: '.nii',
    bytes: p2((dv) => {
      setDims2(dv, [2n, 1n << 62n, 4n, 1n, 1n, 1n, 1n, 1n])
    }),
  },
  { name: 'NIfTI-1 header claiming 100 GiB, tiny file', code: 'ERR_FORMAT', ext: '.nii', bytes: p1(huge1) },
  {
    name: 'NIfTI-1 header claiming 100 GiB, tiny .nii.gz',
    code: 'ERR_FORMAT',
    ext: '.nii.gz',
    bytes: () => gzipSync(patched(nii1, huge1)),
  },
  { name: 'NIfTI-2 header claiming 25 TiB, tiny file', code: 'ERR_FORMAT', ext: '.nii', bytes: p2(huge2) },
  // datatypes
  ...(
    [
      ['complex64 (32)', 32, 64],
      ['rgb24 (128)', 128, 24],
      ['float128 (1536)', 1536, 128],
      ['complex128 (1792)', 1792, 128],
      ['rgba32 (2304)', 2304, 32],
    ] as const
  ).map(([what, code, bitpix]) => ({
    name: `unsupported datatype ${what}`,
    code: 'ERR_UNSUPPORTED' as const,
    ext: '.nii',
    bytes: p1((dv) => {
      dv.setInt16(N1.datatype, code, true)
      dv.setInt16(N1.bitpix, bitpix, true)
    }),
  })),
  { name: 'undefined datatype code 3', code: 'ERR_FORMAT', ext: '.nii', bytes: p1((dv) => dv.setInt16(N1.datatype, 3, true)) },
  { name: 'undefined datatype code -1', code: 'ERR_FORMAT', ext: '.nii', bytes: p1((dv) => dv.setInt16(N1.datatype, -1, true)) },
  // vox_offset
  { name: 'vox_offset smaller than the header', code: 'ERR_FORMAT', ext: '.nii', bytes: p1((dv) => dv.setFloat32(N1.voxOffset, 100, true)) },
  { name: 'NaN vox_offset', code: 'ERR_FORMAT', ext: '.nii', bytes: p1((dv) => dv.setFloat32(N1.voxOffset, NaN, true)) },
  { name: 'infinite vox_offset', code: 'ERR_FORMAT', ext: '.nii', bytes: p1((dv) => dv.setFloat32(N1.voxOffset, Infinity, true)) },
  { name: 'vox_offset past the end of the file', code: 'ERR_FORMAT', ext: '.nii', bytes: p1((dv) => dv.setFloat32(N1.voxOffset, 1e6, true)) },
  { name: 'NIfTI-2 negative vox_offset', code: 'ERR_FORMAT', ext: '.nii', bytes: p2((dv) => dv.setBigInt64(N2.voxOffset, -1n, true)) },
  // names
  { name: 'unknown extension (.png)', code: 'ERR_FORMAT', ext: '.png', bytes: () => nii1 },
  { name: '.nrrd header without its end', code: 'ERR_FORMAT', ext: '.nrrd', bytes: () => Buffer.from('NRRD0004\ntype: short\n') },
]

let fileNo = 0
const fileRun = (c: FileCase) => async () => {
  const path = join(dir, `case${fileNo++}${c.ext}`)
  writeFileSync(path, c.bytes())
  // both twins must agree on the code
  const sync = outcomeSync(() => readVolumeSync(path))
  if (sync !== c.code) throw new Error(`readVolumeSync gave ${sync}, readVolume not tried`)
  return readVolume(path)
}

const bvalDir = join(dir, 'gradients')
mkdirSync(bvalDir)
// a directory whose name ends in .nii, so that the extension check passes and the open fails
mkdirSync(bvalDir + '.nii')
const text = (name: string, s: string | Buffer) => {
  const path = join(bvalDir, name)
  writeFileSync(path, s)
  return path
}
const rows3 = text('rows.bvec', '0 1 0 0\n0 0 1 0\n0 0 0 1\n')
const bval4 = text('four.bval', '0 1000 1000 1000\n')

const vol = (o: Partial<Volume>): Volume => ({ data: new Float32Array(8), shape: [2, 2, 2], ...o })
const dwiWith = (o: Partial<Volume>): Volume => ({ ...dwi, ...o })
const aborted = () => {
  const ac = new AbortController()
  ac.abort()
  return ac.signal
}

const cases: Case[] = [
  ...fileCases.map((c) => ({ name: `readVolume: ${c.name}`, code: c.code, run: fileRun(c) })),
  { name: 'readVolume: missing file', code: 'ERR_IO', run: () => readVolume(join(dir, 'missing.nii')) },
  { name: 'readVolume: a directory as path', code: 'ERR_IO', run: () => readVolume(bvalDir + '.nii') },
  { name: 'readVolume: empty path', code: 'ERR_SETTING', run: () => readVolume('') },
  { name: 'readVolume: a number as path', code: 'ERR_SETTING', run: () => readVolume(42 as never) },

  // gradient files
  {
    name: 'readBvalsBvecs: count mismatch',
    code: 'ERR_GRADIENTS',
    run: () => readBvalsBvecs(text('two.bval', '0 1000\n'), rows3),
  },
  {
    name: 'readBvalsBvecs: non-numeric bval token',
    code: 'ERR_FORMAT',
    run: () => readBvalsBvecs(text('abc.bval', '0 abc 1000 1000\n'), rows3),
  },
  {
    name: 'readBvalsBvecs: ragged bvec rows',
    code: 'ERR_FORMAT',
    run: () => readBvalsBvecs(bval4, text('ragged.bvec', '0 1 0 0\n0 0 1\n0 0 0 1\n')),
  },
  {
    name: 'readBvalsBvecs: bvec with 2 rows',
    code: 'ERR_FORMAT',
    run: () => readBvalsBvecs(bval4, text('tworows.bvec', '0 1 0 0\n0 0 1 0\n')),
  },
  { name: 'readBvalsBvecs: empty bval file', code: 'ERR_FORMAT', run: () => readBvalsBvecs(text('empty.bval', '\n\n'), rows3) },
  {
    name: 'readBvalsBvecs: binary bval file',
    code: 'ERR_FORMAT',
    run: () => readBvalsBvecs(text('bin.bval', Buffer.from([0x30, 0x20, 0xff, 0xfe, 0x0a])), rows3),
  },
  { name: 'readBvalsBvecs: missing bval file', code: 'ERR_IO', run: () => readBvalsBvecs(join(bvalDir, 'none.bval'), rows3) },
  { name: 'readBvalsBvecs: directory as bvec', code: 'ERR_IO', run: () => readBvalsBvecs(bval4, bvalDir) },
  {
    name: 'readBvalsBvecs + gradientTable: NaN in the bval file',
    code: 'ERR_GRADIENTS',
    run: () => {
      const g = readBvalsBvecs(text('nan.bval', '0 NaN 1000 1000\n'), rows3)
      return gradientTable(g.bvals, g.bvecs)
    },
  },

  // gradient tables
  { name: 'gradientTable: count mismatch', code: 'ERR_GRADIENTS', run: () => gradientTable([0, 1000], [0, 0, 0]) },
  { name: 'gradientTable: NaN b-value', code: 'ERR_GRADIENTS', run: () => gradientTable([0, NaN], [0, 0, 0, 1, 0, 0]) },
  { name: 'gradientTable: Infinity b-value', code: 'ERR_GRADIENTS', run: () => gradientTable([0, Infinity], [0, 0, 0, 1, 0, 0]) },
  { name: 'gradientTable: negative b-value', code: 'ERR_GRADIENTS', run: () => gradientTable([0, -5], [0, 0, 0, 1, 0, 0]) },
  { name: 'gradientTable: zero b-vector at b > 0', code: 'ERR_GRADIENTS', run: () => gradientTable([0, 1000], [0, 0, 0, 0, 0, 0]) },
  { name: 'gradientTable: non-unit b-vector', code: 'ERR_GRADIENTS', run: () => gradientTable([0, 1000], [0, 0, 0, 0.5, 0, 0]) },
  {
    name: 'gradientTable: negative b0Threshold',
    code: 'ERR_GRADIENTS',
    run: () => gradientTable([0, 1000], [0, 0, 0, 1, 0, 0], { b0Threshold: -1 }),
  },
  { name: 'gradientTable: NaN atol', code: 'ERR_GRADIENTS', run: () => gradientTable([0, 1000], [0, 0, 0, 1, 0, 0], { atol: NaN }) },
  { name: 'gradientTable: empty arrays', code: 'ERR_GRADIENTS', run: () => gradientTable([], []) },
  { name: 'gradientTable: ragged bvec rows', code: 'ERR_GRADIENTS', run: () => gradientTable([0, 1000], [[0, 0, 0], [1, 0]]) },
  { name: 'gradientTable: strings as b-values', code: 'ERR_GRADIENTS', run: () => gradientTable(['0', '1000'] as never, [0, 0, 0, 1, 0, 0]) },

  // fitDti: shapes and element types
  { name: 'fitDti: shape does not match the data length', code: 'ERR_SHAPE', run: () => fitDti(dwiWith({ shape: [6, 6, 2, 66] }), gtab) },
  { name: 'fitDti: 1-D dwi', code: 'ERR_SHAPE', run: () => fitDti(dwiWith({ shape: [36 * 66] }), gtab) },
  { name: 'fitDti: empty shape', code: 'ERR_SHAPE', run: () => fitDti(dwiWith({ shape: [] }), gtab) },
  { name: 'fitDti: fractional shape', code: 'ERR_SHAPE', run: () => fitDti(dwiWith({ shape: [6, 6, 0.5, 132] }), gtab) },
  { name: 'fitDti: volumes do not match the gradient table', code: 'ERR_SHAPE', run: () => fitDti(dwiWith({ shape: [6, 6, 66, 1] }), gtab) },
  { name: 'fitDti: dwi is null', code: 'ERR_SHAPE', run: () => fitDti(null as never, gtab) },
  { name: 'fitDti: gtab is not a GradientTable', code: 'ERR_GRADIENTS', run: () => fitDti(dwi, { length: 66 } as never) },
  { name: 'fitDti: mask array of the wrong size', code: 'ERR_SHAPE', run: () => fitDti(dwi, gtab, { mask: new Uint8Array(35) }) },
  {
    name: 'fitDti: mask Volume of the wrong shape',
    code: 'ERR_SHAPE',
    run: () => fitDti(dwi, gtab, { mask: { data: new Uint8Array(36), shape: [36] } }),
  },
  { name: 'fitDti: Uint8ClampedArray data', code: 'ERR_DTYPE', run: () => fitDti(dwiWith({ data: new Uint8ClampedArray(dwi.data.length) as never }), gtab) },
  {
    name: 'fitDti: BigInt64Array data',
    code: 'ERR_DTYPE',
    run: () => fitDti(dwiWith({ data: new BigInt64Array(dwi.data.length) }), gtab),
  },
  {
    name: 'fitDti: BigUint64Array data',
    code: 'ERR_DTYPE',
    run: () => fitDti(dwiWith({ data: new BigUint64Array(dwi.data.length) }), gtab),
  },
  {
    name: 'fitDti: plain Array data',
    code: 'ERR_DTYPE',
    run: () => fitDti(dwiWith({ data: Array.from(dwi.data) as unknown as Int16Array }), gtab),
  },
  // fitDti: options
  { name: 'fitDti: unknown option name', code: 'ERR_SETTING', run: () => fitDti(dwi, gtab, { tolerance: 3 } as never) },
  { name: 'fitDti: options is not an object', code: 'ERR_SETTING', run: () => fitDti(dwi, gtab, 'WLS' as never) },
  { name: "fitDti: method 'FOO'", code: 'ERR_SETTING', run: () => fitDti(dwi, gtab, { method: 'FOO' as never }) },
  { name: "fitDti: method 'wls' (case matters)", code: 'ERR_SETTING', run: () => fitDti(dwi, gtab, { method: 'wls' as never }) },
  // the non-linear fits' options
  { name: 'fitDti NLLS: weights of the wrong length', code: 'ERR_SHAPE', run: () => fitDti(dwi, gtab, { method: 'NLLS', weights: [1, 2, 3] }) },
  ...[-1, NaN, Infinity].map((w) => ({
    name: `fitDti NLLS: a weight ${w}`,
    code: 'ERR_SETTING' as const,
    run: () => fitDti(dwi, gtab, { method: 'NLLS', weights: Array.from({ length: gtab.length }, (_, i) => (i === 3 ? w : 1)) }),
  })),
  {
    name: 'fitDti NLLS: positive weights on too few volumes',
    code: 'ERR_SETTING',
    run: () => fitDti(dwi, gtab, { method: 'NLLS', weights: Array.from({ length: gtab.length }, (_, i) => (i < 5 ? 1 : 0)) }),
  },
  { name: "fitDti NLLS: weights 'x'", code: 'ERR_SETTING', run: () => fitDti(dwi, gtab, { method: 'NLLS', weights: 'x' as never }) },
  { name: 'fitDti WLS: weights', code: 'ERR_SETTING', run: () => fitDti(dwi, gtab, { weights: new Float64Array(gtab.length).fill(1) }) },
  { name: 'fitDti RESTORE: weights', code: 'ERR_SETTING', run: () => fitDti(dwi, gtab, { method: 'RESTORE', weights: new Float64Array(gtab.length).fill(1) }) },
  ...[0, -1, NaN, Infinity, -Infinity].map((sigma) => ({
    name: `fitDti RESTORE: sigma ${sigma}`,
    code: 'ERR_SETTING' as const,
    run: () => fitDti(dwi, gtab, { method: 'RESTORE', sigma }),
  })),
  { name: 'fitDti RESTORE: sigma of the wrong length', code: 'ERR_SHAPE', run: () => fitDti(dwi, gtab, { method: 'RESTORE', sigma: [1, 2] }) },
  { name: 'fitDti RESTORE: empty sigma', code: 'ERR_SHAPE', run: () => fitDti(dwi, gtab, { method: 'RESTORE', sigma: [] }) },
  {
    name: 'fitDti RESTORE: a NaN in a per-volume sigma',
    code: 'ERR_SETTING',
    run: () => fitDti(dwi, gtab, { method: 'RESTORE', sigma: Array.from({ length: gtab.length }, (_, i) => (i ? 10 : NaN)) }),
  },
  { name: "fitDti RESTORE: sigma '10'", code: 'ERR_SETTING', run: () => fitDti(dwi, gtab, { method: 'RESTORE', sigma: '10' as never }) },
  { name: 'fitDti NLLS: sigma', code: 'ERR_SETTING', run: () => fitDti(dwi, gtab, { method: 'NLLS', sigma: 10 }) },
  { name: 'fitDti WLS: sigma', code: 'ERR_SETTING', run: () => fitDti(dwi, gtab, { sigma: 10 }) },
  { name: 'fitDti OLS: failIsNan', code: 'ERR_SETTING', run: () => fitDti(dwi, gtab, { method: 'OLS', failIsNan: true }) },
  { name: "fitDti RESTORE: failIsNan 'yes'", code: 'ERR_SETTING', run: () => fitDti(dwi, gtab, { method: 'RESTORE', failIsNan: 'yes' as never }) },
  ...[0, -1, NaN, Infinity].map((minSignal) => ({
    name: `fitDti: minSignal ${minSignal}`,
    code: 'ERR_SETTING' as const,
    run: () => fitDti(dwi, gtab, { minSignal }),
  })),
  { name: "fitDti: returnS0 'yes'", code: 'ERR_SETTING', run: () => fitDti(dwi, gtab, { returnS0: 'yes' as never }) },
  ...[0, -1, 1.5, 1e9, NaN, '4'].map((threads) => ({
    name: `fitDti: threads ${typeof threads === 'string' ? `'${threads}'` : threads}`,
    code: 'ERR_SETTING' as const,
    run: () => fitDti(dwi, gtab, { threads: threads as number }),
  })),
  { name: 'fitDti: already-aborted signal', code: 'ERR_ABORTED', run: () => fitDti(dwi, gtab, { signal: aborted() }) },
  {
    name: 'fitDti: signal that is not an AbortSignal',
    code: 'ERR_SETTING',
    run: () => fitDti(dwi, gtab, { signal: { aborted: false, addEventListener() {} } as never }),
  },
  { name: 'fitDti: onProgress not a function', code: 'ERR_SETTING', run: () => fitDti(dwi, gtab, { onProgress: 'log' as never }) },
  { name: "fitDti: outputType 'int8'", code: 'ERR_SETTING', run: () => fitDti(dwi, gtab, { outputType: 'int8' as never }) },
  {
    name: 'fitDtiSync: async-only option (signal)',
    code: 'ERR_SETTING',
    run: () => fitDtiSync(dwi, gtab, { signal: new AbortController().signal } as never),
  },

  // predict
  { name: 'predict: negative s0', code: 'ERR_SETTING', run: () => fit.predict(gtab, { s0: -1 }) },
  { name: 'predict: NaN s0', code: 'ERR_SETTING', run: () => fit.predict(gtab, { s0: NaN }) },
  {
    name: 'predict: s0 Volume of the wrong size',
    code: 'ERR_SHAPE',
    run: () => fit.predict(gtab, { s0: { data: new Float64Array(3), shape: [3] } }),
  },
  { name: 'predict: already-aborted signal', code: 'ERR_ABORTED', run: () => fit.predict(gtab, { signal: aborted() }) },
  { name: 'predictSync: unknown option', code: 'ERR_SETTING', run: () => fit.predictSync(gtab, { foo: 1 } as never) },

  // writeVolume
  { name: 'writeVolume: affine of length 15', code: 'ERR_SHAPE', run: () => writeVolume(join(dir, 'w.nii'), vol({ affine: Array(15).fill(1) })) },
  {
    name: 'writeVolume: affine with NaN',
    code: 'ERR_SHAPE',
    run: () => writeVolume(join(dir, 'w.nii'), vol({ affine: [NaN, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1] })),
  },
  {
    name: 'writeVolume: singular affine',
    code: 'ERR_SETTING',
    run: () => writeVolume(join(dir, 'w.nii'), vol({ affine: Array(16).fill(0) })),
  },
  { name: 'writeVolume: shape mismatch', code: 'ERR_SHAPE', run: () => writeVolume(join(dir, 'w.nii'), vol({ shape: [2, 2, 3] })) },
  { name: 'writeVolume: 8-D volume', code: 'ERR_SHAPE', run: () => writeVolume(join(dir, 'w.nii'), vol({ data: new Float32Array(256), shape: Array(8).fill(2) })) },
  {
    name: 'writeVolume: BigInt64Array data',
    code: 'ERR_DTYPE',
    run: () => writeVolume(join(dir, 'w.nii'), vol({ data: new BigInt64Array(8) })),
  },
  { name: 'writeVolume: unknown extension', code: 'ERR_FORMAT', run: () => writeVolume(join(dir, 'w.txt'), vol({})) },
  { name: 'writeVolume: missing directory', code: 'ERR_IO', run: () => writeVolume(join(dir, 'no', 'such', 'w.nii'), vol({})) },
  { name: 'writeVolumeSync: a directory as path', code: 'ERR_IO', run: () => writeVolumeSync(bvalDir + '.nii', vol({})) },

  // values a message cannot print with String() or JSON.stringify (they threw a TypeError)
  { name: 'fitDtiSync: a BigInt option value', code: 'ERR_SETTING', run: () => fitDtiSync(dwi, gtab, { threads: 2n } as never) },
  { name: 'fitDti: an option value without a prototype', code: 'ERR_DTYPE', run: () => fitDti(dwi, gtab, { mask: Object.create(null) } as never) },
  { name: 'fitDtiSync: options without a prototype', code: 'ERR_SETTING', run: () => fitDtiSync(dwi, gtab, Object.assign(Object.create(null), { threads: 'x' })) },
  { name: 'readVolume: a path without a prototype', code: 'ERR_SETTING', run: () => readVolume(Object.create(null)) },
  { name: 'setThreads(BigInt)', code: 'ERR_SETTING', run: () => setThreads(4n as never) },

  // global settings
  { name: 'setThreads(-1)', code: 'ERR_SETTING', run: () => setThreads(-1) },
  { name: 'setThreads(2.5)', code: 'ERR_SETTING', run: () => setThreads(2.5) },
  { name: 'setThreads(1e9)', code: 'ERR_SETTING', run: () => setThreads(1e9) },
]

function outcomeSync(run: () => unknown): string {
  try {
    run()
  } catch (e) {
    return e instanceof VoxelkitError ? e.code : `not a VoxelkitError: ${String(e)}`
  }
  return 'no error'
}

async function outcome(run: () => unknown): Promise<{ code: string; error?: unknown }> {
  try {
    await run() // sync throws and async rejections alike
  } catch (e) {
    return { code: e instanceof VoxelkitError ? e.code : `not a VoxelkitError: ${String(e)}`, error: e }
  }
  return { code: 'no error' }
}

const names = new Set(cases.map((c) => c.name))

test('the table holds at least 40 distinct cases', (t) => {
  t.is(names.size, cases.length, 'case names are unique')
  t.true(cases.length >= 40)
  t.log(`${cases.length} distinct bad inputs`)
})

for (const c of cases) {
  test.serial(c.name, async (t) => {
    const rssBefore = process.memoryUsage().rss
    const t0 = performance.now()
    const { code, error } = await outcome(c.run)
    const ms = performance.now() - t0
    t.is(code, c.code, error instanceof Error ? error.message : undefined)
    if (process.env.VOXELKIT_SHOW_ERRORS) t.log(`${code}: ${error instanceof Error ? error.message : String(error)}`)
    if (error instanceof VoxelkitError) {
      t.is(error.name, 'VoxelkitError')
      t.true(error.message.length > 0, 'the message says what went wrong')
    }
    if (ms > 100) t.log(`slow: ${ms.toFixed(0)} ms`)
    const grew = (process.memoryUsage().rss - rssBefore) / 2 ** 20
    if (grew > 64) t.log(`RSS grew by ${grew.toFixed(0)} MiB (other tests run concurrently)`)
    t.true(alive(), 'the module still works')
  })
}
