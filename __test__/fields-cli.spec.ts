// `voxelkit invert-field` and `voxelkit warp` end to end on DIPY fixtures: an ITK/ANTs-style 5D
// field (LPS vectors) in, the inverse out in the same convention, matching DIPY's inverse to
// 1e-6 voxel (NIfTI stores the affine in float32, which moves results by ~1e-7 voxel); a warp
// equal to the API's on the volumes as stored; usage errors exit 2.
import test from 'ava'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { readVolumeSync, warpVolumeSync, writeVolumeSync, type DisplacementField } from '../ts/index'
import { cli, scratchDir } from './helpers/cli'
import { ROOT } from './helpers/fixtures'

const FIX = join(ROOT, 'fixtures', 'dipy_fields')
const dir = scratchDir('fields-cli')

function fixture(name: string) {
  const m = JSON.parse(readFileSync(join(FIX, `${name}.json`), 'utf8'))
  const load = (k: string) => {
    const b = readFileSync(join(FIX, m.arrays[k].file))
    return new Float64Array(b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength))
  }
  return { m, load }
}

/** RAS field planes -> LPS (x and y negated), as ITK stores displacement vectors. */
function flipXY(a: Float64Array): Float64Array {
  const o = a.slice()
  const n = a.length / 3
  for (let i = 0; i < 2 * n; i++) o[i] = -o[i]
  return o
}

test('invert-field: ITK 5D field in and out, equal to DIPY', async (t) => {
  const { m, load } = fixture('inv3d_rot_aniso')
  const [nx, ny, nz] = m.shape
  const input = join(dir, 'warp.nii.gz')
  writeVolumeSync(input, { data: flipXY(load('field')), shape: [nx, ny, nz, 1, 3], affine: m.affine })
  const out = join(dir, 'inverse.nii.gz')
  const r = await cli('invert-field', input, '--out', out, '--max-iter', String(m.max_iter), '--tolerance', String(m.tolerance))
  t.is(r.code, 0, r.stderr)
  t.regex(r.stdout, new RegExp(`${m.iterations} iterations`))
  const inv = readVolumeSync(out)
  t.deepEqual(inv.shape, [nx, ny, nz, 1, 3])
  const got = flipXY(inv.data as Float64Array)
  const want = load('inverse')
  let worst = 0
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(got[i] - want[i]))
  t.true(worst <= 1e-6 * 0.8, `off by ${worst} mm`) // smallest voxel size is 0.8 mm
})

test('warp: the CLI gives the API result on the stored volumes', async (t) => {
  const { m, load } = fixture('warp3d_linear')
  const mov = join(dir, 'moving.nii.gz')
  const fld = join(dir, 'field.nii.gz')
  writeVolumeSync(mov, { data: load('moving'), shape: m.moving_shape, affine: m.moving_affine })
  writeVolumeSync(fld, { data: load('field'), shape: [...m.field_shape, 3], affine: m.field_affine })
  const out = join(dir, 'warped.nii.gz')
  const r = await cli('warp', mov, fld, '--out', out)
  t.is(r.code, 0, r.stderr)
  const w = readVolumeSync(out)
  t.deepEqual(w.shape, m.field_shape)
  t.true(w.data instanceof Float64Array, 'float64 moving image: float64 output')
  const api = warpVolumeSync(readVolumeSync(mov), readVolumeSync(fld) as DisplacementField)
  t.deepEqual(Array.from(w.data), Array.from(api.data))
  // and close to DIPY's (whose affines were not rounded to float32)
  const want = load('warped')
  const scale = load('moving').reduce((a, v) => Math.max(a, Math.abs(v)), 0)
  let worst = 0
  for (let i = 0; i < want.length; i++) worst = Math.max(worst, Math.abs(w.data[i] - want[i]) / scale)
  t.true(worst <= 1e-5, `off by ${worst}`)
  t.log(`max |CLI warp - DIPY| / max|moving| = ${worst.toExponential(2)} (float32 affines in the files)`)
})

test('invert-field and warp: usage errors exit 2, bad files exit 1 with a code', async (t) => {
  t.is((await cli('invert-field')).code, 2)
  t.is((await cli('invert-field', 'a.nii.gz')).code, 2)
  t.is((await cli('invert-field', 'a.nii.gz', '--out', 'b.nii.gz', '--max-iter', 'x')).code, 2)
  t.is((await cli('warp', 'a.nii.gz', '--out', 'b.nii.gz')).code, 2)
  t.is((await cli('warp', 'a', 'b', '--out', 'c', '--interpolation', 'cubic')).code, 2)
  const r = await cli('invert-field', join(dir, 'missing.nii.gz'), '--out', join(dir, 'x.nii.gz'))
  t.is(r.code, 1)
  t.regex(r.stderr, /ERR_IO/)
  const img = join(dir, 'int.nii.gz')
  writeVolumeSync(img, { data: new Int16Array(2 * 2 * 2 * 3), shape: [2, 2, 2, 3] })
  const r2 = await cli('invert-field', img, '--out', join(dir, 'y.nii.gz'))
  t.is(r2.code, 1)
  t.regex(r2.stderr, /ERR_DTYPE/)
})
