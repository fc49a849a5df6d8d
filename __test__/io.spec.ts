// NIfTI I/O and gradient files through the public API.
import test from 'ava'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { VoxelkitError, readBvalsBvecs, readVolume, readVolumeSync, writeVolume, writeVolumeSync, type Volume } from '../ts/index'
import { SHARED } from './helpers/fixtures'
import { acode } from './helpers/errors'

const dir = mkdtempSync(join(tmpdir(), 'voxelkit-io-'))
test.after.always(() => rmSync(dir, { recursive: true, force: true }))

const affine = [1.5, 0, 0, -10, 0, 2, 0, 20, 0, 0, 2.5, -30, 0, 0, 0, 1]
const ctors = [Uint8Array, Int8Array, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array] as const

for (const ext of ['.nii', '.nii.gz']) {
  for (const Ctor of ctors) {
    test(`round trip ${Ctor.name} ${ext}`, async (t) => {
      const shape = [5, 4, 3, 2]
      const data = Ctor.from({ length: 120 }, (_, i) => (i * 7) % 97)
      const path = join(dir, `${Ctor.name}${ext}`)
      await writeVolume(path, { data, shape, affine })
      const v = await readVolume(path)
      t.true(v.data instanceof Ctor)
      t.deepEqual([...v.data], [...data])
      t.deepEqual(v.shape, shape)
      t.deepEqual(v.affine, affine)
      t.deepEqual(v.spacing, [1.5, 2, 2.5])
      const s = readVolumeSync(path)
      t.deepEqual([...s.data], [...data])
    })
  }
}

test('writing without an affine uses the spacing', (t) => {
  const path = join(dir, 'spacing.nii')
  writeVolumeSync(path, { data: new Float32Array(8), shape: [2, 2, 2], spacing: [2, 3, 4] })
  t.deepEqual(readVolumeSync(path).affine, [2, 0, 0, 0, 0, 3, 0, 0, 0, 0, 4, 0, 0, 0, 0, 1])
})

test('real data from DIPY: small_64D and small_101D', async (t) => {
  const base = join(SHARED, 'reference', 'dipy')
  if (!existsSync(base)) {
    t.log('SKIPPED: ../shared/reference/dipy is not present')
    t.pass()
    return
  }
  const a = await readVolume(join(base, 'small_64D.nii'))
  t.deepEqual(a.shape, [10, 10, 10, 65])
  t.true(a.data instanceof Int16Array)
  const b = await readVolume(join(base, 'small_101D.nii.gz'))
  t.deepEqual(b.shape, [6, 10, 10, 102])
  t.true(b.data instanceof Uint16Array)
  const g = readBvalsBvecs(join(base, 'small_64D.bval'), join(base, 'small_64D.bvec'))
  t.is(g.bvals.length, 65)
  t.is(g.bvecs.length, 65 * 3)
})

test('malformed files give coded errors', async (t) => {
  const junk = join(dir, 'junk.nii')
  writeFileSync(junk, Buffer.from(Array.from({ length: 1000 }, (_, i) => (i * 31) % 256)))
  t.is(await acode(() => readVolume(junk)), 'ERR_FORMAT')
  // a valid file cut short in the data
  const good = join(dir, 'good.nii')
  writeVolumeSync(good, { data: new Int16Array(1000), shape: [10, 10, 10] })
  const cut = join(dir, 'cut.nii')
  writeFileSync(cut, readFileSync(good).subarray(0, 1000))
  t.is(await acode(() => readVolume(cut)), 'ERR_FORMAT')
  const hdrOnly = join(dir, 'hdr.nii')
  writeFileSync(hdrOnly, readFileSync(good).subarray(0, 100))
  t.is(await acode(() => readVolume(hdrOnly)), 'ERR_FORMAT')
  // corrupt gzip
  const gz = join(dir, 'corrupt.nii.gz')
  writeVolumeSync(gz, { data: new Float32Array(4096).map((_, i) => Math.sin(i)), shape: [16, 16, 16] })
  const bytes = readFileSync(gz)
  for (let i = 40; i < bytes.length - 20; i += 7) bytes[i] ^= 0x5a
  writeFileSync(gz, bytes)
  t.is(await acode(() => readVolume(gz)), 'ERR_FORMAT')
  t.is(await acode(() => readVolume(join(dir, 'missing.nii'))), 'ERR_IO')
  t.is(await acode(() => readVolume(join(dir, 'x.png'))), 'ERR_FORMAT')
  t.is(await acode(() => readVolume(join(dir, 'x.nrrd'))), 'ERR_IO')
  t.is(await acode(() => readVolume('' as string)), 'ERR_SETTING')
})

test('maxBytes caps the decoded size before anything is allocated', async (t) => {
  const p = join(dir, 'cap.nii.gz')
  writeVolumeSync(p, { data: new Int16Array(1000), shape: [10, 10, 10] })
  t.is(await acode(() => readVolume(p, { maxBytes: 1999 })), 'ERR_FORMAT')
  t.is((await readVolume(p, { maxBytes: 2000 })).data.length, 1000)
  t.is(await acode(() => readVolume(p, { maxBytes: -1 })), 'ERR_SETTING')
  t.is(await acode(() => readVolume(p, { maxbytes: 5 } as never)), 'ERR_SETTING')
})

test('writing checks its arguments', async (t) => {
  const p = join(dir, 'w.nii')
  const vol = (o: Partial<Volume>): Volume => ({ data: new Float32Array(8), shape: [2, 2, 2], ...o })
  t.is(await acode(() => writeVolume(p, vol({ shape: [2, 2, 3] }))), 'ERR_SHAPE')
  t.is(await acode(() => writeVolume(p, vol({ data: new BigInt64Array(8) }))), 'ERR_DTYPE')
  t.is(await acode(() => writeVolume(p, vol({ affine: [1, 2, 3] }))), 'ERR_SHAPE')
  t.is(await acode(() => writeVolume(p, vol({ affine: Array(16).fill(NaN) }))), 'ERR_SHAPE')
  t.is(await acode(() => writeVolume(join(dir, 'w.txt'), vol({}))), 'ERR_FORMAT')
  t.is(await acode(() => writeVolume(join(dir, 'no', 'such', 'dir.nii'), vol({}))), 'ERR_IO')
})

test('bval/bvec files: both orientations, and mismatches', (t) => {
  const bval = join(dir, 'a.bval')
  const rows = join(dir, 'rows.bvec')
  const cols = join(dir, 'cols.bvec')
  writeFileSync(bval, '0 1000 1000 1000\n')
  writeFileSync(rows, '0 1 0 0\n0 0 1 0\n0 0 0 1\n')
  writeFileSync(cols, '0 0 0\n1 0 0\n0 1 0\n0 0 1\n')
  const a = readBvalsBvecs(bval, rows)
  const b = readBvalsBvecs(bval, cols)
  t.deepEqual([...a.bvecs], [0, 0, 0, 1, 0, 0, 0, 1, 0, 0, 0, 1])
  t.deepEqual([...a.bvecs], [...b.bvecs])
  const short = join(dir, 'short.bval')
  writeFileSync(short, '0 1000\n')
  const e = t.throws(() => readBvalsBvecs(short, rows), { instanceOf: VoxelkitError })
  t.is(e!.code, 'ERR_GRADIENTS')
  const bad = join(dir, 'bad.bval')
  writeFileSync(bad, '0 abc 1000\n')
  t.is(t.throws(() => readBvalsBvecs(bad, rows), { instanceOf: VoxelkitError })!.code, 'ERR_FORMAT')
  t.is(t.throws(() => readBvalsBvecs(join(dir, 'none.bval'), rows), { instanceOf: VoxelkitError })!.code, 'ERR_IO')
})
