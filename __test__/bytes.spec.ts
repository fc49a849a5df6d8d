// Volume files held in memory (browsers, WASI): parseVolume / serializeVolume and their twins.
import test from 'ava'
import { existsSync, mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import {
  parseVolume,
  parseVolumeSync,
  readVolume,
  serializeVolume,
  serializeVolumeSync,
  writeVolume,
  type Volume,
} from '../ts/index'
import { SHARED } from './helpers/fixtures'
import { acode, code } from './helpers/errors'

const dir = mkdtempSync(join(tmpdir(), 'voxelkit-bytes-'))
test.after.always(() => rmSync(dir, { recursive: true, force: true }))

const affine = [1.5, 0, 0, -10, 0, 2, 0, 20, 0, 0, 2.5, -30, 0, 0, 0, 1]
const ctors = [Uint8Array, Int8Array, Int16Array, Uint16Array, Int32Array, Uint32Array, Float32Array, Float64Array] as const

function same(t: { deepEqual: (a: unknown, b: unknown, m?: string) => void }, a: Volume, b: Volume, what: string) {
  t.deepEqual(a.data.constructor, b.data.constructor, `${what}: type`)
  t.deepEqual([...a.data], [...b.data], `${what}: data`)
  t.deepEqual(a.shape, b.shape, `${what}: shape`)
  t.deepEqual(a.affine, b.affine, `${what}: affine`)
  t.deepEqual(a.spacing, b.spacing, `${what}: spacing`)
}

for (const name of ['v.nii', 'v.nii.gz', 'v.nrrd']) {
  test(`serialize -> parse round trip and equality with the file path, ${name}`, async (t) => {
    for (const Ctor of ctors) {
      const v: Volume = { data: Ctor.from({ length: 60 }, (_, i) => (i * 13) % 89), shape: [5, 4, 3], affine }
      const bytes = await serializeVolume(v, name)
      t.true(bytes instanceof Uint8Array)
      same(t, await parseVolume(bytes, name), { ...v, spacing: [1.5, 2, 2.5] }, `${Ctor.name} async`)
      same(t, parseVolumeSync(serializeVolumeSync(v, name), name), { ...v, spacing: [1.5, 2, 2.5] }, `${Ctor.name} sync`)
      // what writeVolume puts on disk parses to what readVolume reads, and an ArrayBuffer works too
      const path = join(dir, `${Ctor.name}-${name}`)
      await writeVolume(path, v)
      const disk = readFileSync(path)
      const ab = disk.buffer.slice(disk.byteOffset, disk.byteOffset + disk.byteLength)
      same(t, await parseVolume(ab, name), await readVolume(path), `${Ctor.name} file bytes`)
    }
  })
}

test('NRRD encodings: raw and gzip', async (t) => {
  const v: Volume = { data: Float32Array.from({ length: 24 }, (_, i) => i / 3), shape: [4, 3, 2], affine }
  const raw = await serializeVolume(v, 'a.nrrd', { encoding: 'raw' })
  const gz = await serializeVolume(v, 'a.nrrd')
  t.true(new TextDecoder().decode(raw.subarray(0, 400)).includes('encoding: raw'))
  t.true(new TextDecoder().decode(gz.subarray(0, 400)).includes('encoding: gzip'))
  t.deepEqual([...(await parseVolume(raw, 'a.nrrd')).data], [...v.data])
  t.deepEqual([...(await parseVolume(gz, 'a.nrrd')).data], [...v.data])
})

test('every reference NIfTI and attached NRRD parses from bytes exactly as it reads from disk', async (t) => {
  const roots = [join(SHARED, 'reference', 'dipy'), join(SHARED, 'reference', 'pyradiomics')]
  if (!roots.every(existsSync)) {
    t.log(`../shared/reference not found: skipping (looked in ${roots.join(', ')})`)
    t.pass()
    return
  }
  let n = 0
  for (const root of roots) {
    for (const f of readdirSync(root).filter((f) => /\.(nii|nii\.gz|nrrd)$/.test(f))) {
      const p = join(root, f)
      same(t, parseVolumeSync(readFileSync(p), f), await readVolume(p), f)
      n++
    }
  }
  t.true(n >= 6, `compared ${n} files`)
})

test('bad inputs give coded errors', async (t) => {
  const v: Volume = { data: new Int16Array(8), shape: [2, 2, 2] }
  const good = serializeVolumeSync(v, 'a.nii')
  t.is(code(() => parseVolumeSync(good, 'a.txt')), 'ERR_FORMAT')
  t.is(code(() => parseVolumeSync(good, 'a.nhdr')), 'ERR_UNSUPPORTED')
  t.is(code(() => parseVolumeSync(good.subarray(0, 100), 'a.nii')), 'ERR_FORMAT')
  t.is(code(() => parseVolumeSync(new Uint8Array([1, 2, 3]), 'a.nrrd')), 'ERR_FORMAT')
  t.is(code(() => parseVolumeSync(good, 'a.nii', { maxBytes: 4 })), 'ERR_FORMAT')
  t.is(code(() => parseVolumeSync('abc' as never, 'a.nii')), 'ERR_SETTING')
  t.is(code(() => parseVolumeSync(good, 42 as never)), 'ERR_SETTING')
  t.is(code(() => parseVolumeSync(good, 'a.nii', { maxBytes: 'x' } as never)), 'ERR_SETTING')
  t.is(await acode(() => parseVolume(good, 'a.nii', { foo: 1 } as never)), 'ERR_SETTING')
  t.is(code(() => serializeVolumeSync(v, 'a.nhdr')), 'ERR_UNSUPPORTED')
  t.is(code(() => serializeVolumeSync(v, 'a.vtk')), 'ERR_FORMAT')
  t.is(code(() => serializeVolumeSync(v, 'a.nii', { encoding: 'gzip' })), 'ERR_SETTING')
  t.is(code(() => serializeVolumeSync({ ...v, shape: [3, 3] }, 'a.nii')), 'ERR_SHAPE')
  t.is(code(() => serializeVolumeSync({ ...v, data: new BigInt64Array(8) }, 'a.nii')), 'ERR_DTYPE')
  t.is(await acode(() => serializeVolume(v, '')), 'ERR_SETTING')
  // the module keeps working
  t.deepEqual([...parseVolumeSync(good, 'a.nii').data], [...v.data])
})
