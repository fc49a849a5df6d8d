// NRRD reading and writing through the public API, against SimpleITK/pynrrd (fixtures/nrrd,
// written by fixtures/nrrd/generate.py) and the PyRadiomics volumes in ../shared.
import test from 'ava'
import { createHash } from 'node:crypto'
import { existsSync, mkdtempSync, readFileSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { readVolume, readVolumeSync, writeVolume, writeVolumeSync, type Volume } from '../ts/index'
import { ROOT, SHARED } from './helpers/fixtures'
import { acode } from './helpers/errors'

const FIX = join(ROOT, 'fixtures', 'nrrd')
const dir = mkdtempSync(join(tmpdir(), 'voxelkit-nrrd-'))
test.after.always(() => rmSync(dir, { recursive: true, force: true }))

type Num = number | string
interface Case {
  file: string
  note?: string
  shape: number[]
  dtype: string
  affine: Num[]
  spacing: number[]
  sha256: string
  sum: number | string
  samples: [number, Num][]
  values?: Num[]
}
const num = (x: Num): number => (typeof x === 'number' ? x : Number(x))
const load = (f: string): Case[] => (JSON.parse(readFileSync(join(FIX, f), 'utf8')) as { cases: Case[] }).cases

const sha256 = (v: Volume) => createHash('sha256').update(new Uint8Array(v.data.buffer, v.data.byteOffset, v.data.byteLength)).digest('hex')
const same = (a: number, b: number) => a === b || (Number.isNaN(a) && Number.isNaN(b))
// SimpleITK keeps direction (unit columns) and spacing apart; the fixture affine is their
// product, ours the file's vectors as written: equal up to rounding of the largest entry.
const close = (a: number, b: number) => Math.abs(a - b) <= 1e-12 * Math.max(Math.abs(a), Math.abs(b), 1)

function check(t: import('ava').ExecutionContext, v: Volume, c: Case) {
  t.deepEqual(v.shape, c.shape, `${c.file}: shape`)
  t.is(v.data.constructor.name.replace('Array', '').toLowerCase().replace('big', ''), c.dtype, `${c.file}: dtype`)
  const aff = c.affine.map(num)
  t.true(v.affine!.every((x, i) => close(x, aff[i])), `${c.file}: affine ${v.affine} vs ${aff}`)
  t.true(v.spacing!.length === c.spacing.length && v.spacing!.every((x, i) => close(x, c.spacing[i])), `${c.file}: spacing`)
  t.is(sha256(v), c.sha256, `${c.file}: sha256 of the data (little-endian, first axis fastest)`)
  const data = v.data as ArrayLike<number | bigint>
  for (const [i, want] of c.samples) t.true(same(Number(data[i]), num(want)), `${c.file}: voxel ${i}`)
  if (c.values) {
    t.is(data.length, c.values.length)
    t.true(
      c.values.every((w, i) => same(Number(data[i]), num(w))),
      `${c.file}: values`,
    )
  }
}

for (const c of load('files.json')) {
  test(`${c.file} (${c.note}) reads as SimpleITK reads it`, async (t) => {
    const path = join(FIX, 'files', c.file)
    check(t, await readVolume(path), c)
    check(t, readVolumeSync(path), c)
  })
}

test('a NRRD and the NIfTI SimpleITK writes for it give the same Volume', (t) => {
  const a = readVolumeSync(join(FIX, 'files', 'sitk_oblique_gzip.nrrd'))
  const b = readVolumeSync(join(FIX, 'files', 'sitk_oblique_gzip.nii.gz'))
  t.deepEqual(a.shape, b.shape)
  t.deepEqual([...a.data], [...b.data])
  // NIfTI keeps its sform in float32
  t.true(a.affine!.every((x, i) => Math.abs(x - b.affine![i]) <= 1e-6 * Math.max(1, Math.abs(x))), `${a.affine} vs ${b.affine}`)
})

const refCases = load('reference.json')
for (const c of refCases) {
  test(`${c.file} from ../shared reads as SimpleITK and pynrrd read it`, async (t) => {
    const path = join(SHARED, c.file)
    if (!existsSync(path)) {
      t.log(`SKIPPED: ${path} is not present`)
      t.pass()
      return
    }
    check(t, await readVolume(path), c)
  })
}

const ctors = [Uint8Array, Int8Array, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array] as const
const oblique = [-0.6, 0.3, 0.1, 12.5, 0.2, 0.9, -0.05, -7, 0.05, 0.1, 2.5, 33.25, 0, 0, 0, 1]
for (const encoding of ['gzip', 'raw', undefined] as const) {
  for (const Ctor of ctors) {
    test(`round trip ${Ctor.name} .nrrd (${encoding ?? 'default'})`, async (t) => {
      const shape = [5, 4, 3, 2]
      const data = Ctor.from({ length: 120 }, (_, i) => (i * 7) % 97 - (Ctor === Float64Array ? 0.5 : 0))
      const path = join(dir, `${Ctor.name}-${encoding}.nrrd`)
      await writeVolume(path, { data, shape, affine: oblique }, encoding ? { encoding } : {})
      const head = readFileSync(path).subarray(0, 400).toString('latin1')
      t.true(head.includes(`encoding: ${encoding ?? 'gzip'}\n`))
      t.true(head.includes('space: left-posterior-superior\n'))
      const v = await readVolume(path)
      t.true(v.data instanceof Ctor)
      t.deepEqual([...v.data], [...data])
      t.deepEqual(v.shape, shape)
      t.deepEqual(v.affine, oblique)
      const p2 = join(dir, `${Ctor.name}-${encoding}-sync.nrrd`)
      writeVolumeSync(p2, v, encoding ? { encoding } : {})
      t.deepEqual(readFileSync(p2), readFileSync(path))
    })
  }
}

test('the same volume written as NRRD and as NIfTI reads back the same', (t) => {
  const vol = { data: Int16Array.from({ length: 60 }, (_, i) => i * 13 - 200), shape: [5, 4, 3], affine: oblique }
  writeVolumeSync(join(dir, 'same.nrrd'), vol)
  writeVolumeSync(join(dir, 'same.nii'), vol)
  const a = readVolumeSync(join(dir, 'same.nrrd'))
  const b = readVolumeSync(join(dir, 'same.nii'))
  t.deepEqual([...a.data], [...b.data])
  t.deepEqual(a.shape, b.shape)
  t.true(a.affine!.every((x, i) => Math.abs(x - b.affine![i]) < 1e-6), `${a.affine} vs ${b.affine}`)
  t.true(a.spacing!.every((x, i) => Math.abs(x - b.spacing![i]) < 1e-6))
})

test('write options are checked', async (t) => {
  const vol = { data: new Uint8Array(8), shape: [2, 2, 2] }
  t.is(await acode(() => writeVolume(join(dir, 'x.nrrd'), vol, { encoding: 'bzip2' as never })), 'ERR_SETTING')
  t.is(await acode(() => writeVolume(join(dir, 'x.nrrd'), vol, { compress: true } as never)), 'ERR_SETTING')
  t.is(await acode(() => writeVolume(join(dir, 'x.nii'), vol, { encoding: 'raw' })), 'ERR_SETTING')
  t.is(await acode(() => writeVolume(join(dir, 'x.nhdr'), vol)), 'ERR_UNSUPPORTED')
  t.is(await acode(() => writeVolume(join(dir, 'no-such-dir', 'x.nrrd'), vol)), 'ERR_IO')
})

test('maxBytes applies to NRRD', async (t) => {
  const p = join(dir, 'cap.nrrd')
  writeVolumeSync(p, { data: new Int16Array(1000), shape: [10, 10, 10] })
  t.is(await acode(() => readVolume(p, { maxBytes: 1999 })), 'ERR_FORMAT')
  t.is((await readVolume(p, { maxBytes: 2000 })).data.length, 1000)
  t.is(await acode(() => readVolume(join(dir, 'missing.nhdr'))), 'ERR_IO')
})
