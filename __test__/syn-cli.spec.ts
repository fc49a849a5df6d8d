// `voxelkit register` end to end on the DIPY fixture syn3d_grids (different grids, float32,
// a prealign): the warped image equals the API's on the volumes as stored in NIfTI (the header
// keeps affines in float32, so the CLI's numbers are compared with the API run on the files, and
// with DIPY's warped image within 1e-3); the fields come out in the RAS 4D layout (ras) or the
// ITK 5D LPS layout (itk), and `voxelkit warp` with the backward field gives the same image when
// there is no prealign. Usage errors exit 2.
import test from 'ava'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { readVolumeSync, registerSyNSync, writeVolumeSync, type Volume } from '../ts/index'
import { cli, scratchDir } from './helpers/cli'
import { ROOT } from './helpers/fixtures'

const FIX = join(ROOT, 'fixtures', 'dipy_syn')
const dir = scratchDir('syn-cli')

function fixture(name: string) {
  const m = JSON.parse(readFileSync(join(FIX, `${name}.json`), 'utf8'))
  const load = (k: string) => {
    const b = readFileSync(join(FIX, m.arrays[k].file))
    const buf = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)
    return m.arrays[k].dtype === 'float64' ? new Float64Array(buf) : new Float32Array(buf)
  }
  return { m, load }
}

const maxDiff = (a: ArrayLike<number>, b: ArrayLike<number>) => {
  let w = 0
  for (let i = 0; i < a.length; i++) w = Math.max(w, Math.abs(a[i] - b[i]))
  return w
}

test('register: warped image and fields (ras and itk)', async (t) => {
  const { m, load } = fixture('syn3d_grids')
  const sPath = join(dir, 'static.nii.gz')
  const mPath = join(dir, 'moving.nii.gz')
  writeVolumeSync(sPath, { data: load('static'), shape: m.static_shape, affine: m.static_affine })
  writeVolumeSync(mPath, { data: load('moving'), shape: m.moving_shape, affine: m.moving_affine })
  const pre = join(dir, 'prealign.txt')
  writeFileSync(pre, `# static world -> moving world\n${(m.prealign as number[]).join(' ')}\n`)
  const out = join(dir, 'warped.nii.gz')
  const fwd = join(dir, 'fwd.nii.gz')
  const bwd = join(dir, 'bwd.nii.gz')
  const r = await cli('register', sPath, mPath, '--out', out, '--level-iters', (m.level_iters as number[]).join(','), '--prealign', pre, '--forward', fwd, '--backward', bwd)
  t.is(r.code, 0, r.stderr)
  t.regex(r.stdout, new RegExp(`iterations per level \\[${(m.iterations as number[]).join(', ')}\\]`))
  // the API on the volumes as stored
  const s = readVolumeSync(sPath)
  const mv = readVolumeSync(mPath)
  const map = registerSyNSync(s, mv, { levelIters: m.level_iters, prealign: m.prealign, threads: 1 })
  const w = readVolumeSync(out)
  t.deepEqual(w.shape, m.static_shape)
  t.true(maxDiff(w.data, map.transformSync(mv).data) === 0)
  t.true(maxDiff(w.data, load('warped')) < 1e-3)
  const f = readVolumeSync(fwd)
  t.deepEqual(f.shape, [...m.static_shape, 3])
  t.true(maxDiff(f.data, map.forward.data) === 0)
  t.true(readVolumeSync(bwd).data.length === map.backward.data.length)
  const itk = join(dir, 'bwd_itk.nii.gz')
  const r2 = await cli('register', sPath, mPath, '--out', join(dir, 'w2.nii.gz'), '--level-iters', '1', '--backward', itk, '--convention', 'itk')
  t.is(r2.code, 0, r2.stderr)
  const b5 = readVolumeSync(itk)
  t.deepEqual(b5.shape, [...m.static_shape, 1, 3])
  // without a prealign, warp with the backward field reproduces the registered image
  const w3 = join(dir, 'w3.nii.gz')
  const r3 = await cli('warp', mPath, itk, '--out', w3, '--reference', sPath)
  t.is(r3.code, 0, r3.stderr)
  const a = readVolumeSync(w3).data
  const b = readVolumeSync(join(dir, 'w2.nii.gz')).data
  t.true(maxDiff(a, b) < 1e-5, `${maxDiff(a, b)}`)
})

test('register --metric SSD / EM with metric options: as the API', async (t) => {
  for (const [name, args, opts] of [
    ['ssd3d_gn_grids', ['--metric', 'SSD', '--step-type', 'gauss_newton'], { metric: 'SSD', stepType: 'gauss_newton' }],
    ['em3d_demons_grids', ['--metric', 'EM', '--step-type', 'demons', '--double-gradient', 'false'], { metric: 'EM', stepType: 'demons', doubleGradient: false }],
  ] as const) {
    const { m, load } = fixture(name)
    const sPath = join(dir, `${name}.s.nii.gz`)
    const mPath = join(dir, `${name}.m.nii.gz`)
    writeVolumeSync(sPath, { data: load('static'), shape: m.static_shape, affine: m.static_affine })
    writeVolumeSync(mPath, { data: load('moving'), shape: m.moving_shape, affine: m.moving_affine })
    const out = join(dir, `${name}.w.nii.gz`)
    const r = await cli('register', sPath, mPath, '--out', out, '--level-iters', (m.level_iters as number[]).join(','), ...args)
    t.is(r.code, 0, r.stderr)
    t.regex(r.stdout, new RegExp(`iterations per level \\[${(m.iterations as number[]).join(', ')}\\]`))
    const s = readVolumeSync(sPath)
    const mv = readVolumeSync(mPath)
    const map = registerSyNSync(s, mv, { levelIters: m.level_iters, threads: 1, ...opts })
    t.true(maxDiff(readVolumeSync(out).data, map.transformSync(mv).data) === 0, name)
  }
})

test('register: usage and input errors', async (t) => {
  const img: Volume = { data: new Float32Array(27), shape: [3, 3, 3] }
  const p = join(dir, 'tiny.nii.gz')
  writeVolumeSync(p, img)
  t.is((await cli('register', p, '--out', join(dir, 'x.nii.gz'))).code, 2)
  t.is((await cli('register', p, p)).code, 2)
  t.is((await cli('register', p, p, '--out', join(dir, 'x.nii.gz'), '--metric', 'MI')).code, 2)
  t.is((await cli('register', p, p, '--out', join(dir, 'x.nii.gz'), '--level-iters', '1,x')).code, 2)
  const bad = join(dir, 'bad.txt')
  writeFileSync(bad, '1 0 0')
  const r = await cli('register', p, p, '--out', join(dir, 'x.nii.gz'), '--prealign', bad)
  t.not(r.code, 0)
  t.regex(r.stderr, /ERR_FORMAT|16 finite numbers/)
  t.is((await cli('register', p, p, '--out', join(dir, 'x.nii.gz'), '--metric', 'SSD', '--step-type', 'newton')).code, 2)
  t.is((await cli('register', p, p, '--out', join(dir, 'x.nii.gz'), '--metric', 'EM', '--q-levels', 'x')).code, 2)
  const r2 = await cli('register', p, p, '--out', join(dir, 'x.nii.gz'), '--metric', 'EM', '--q-levels', '1')
  t.not(r2.code, 0)
  t.regex(r2.stderr, /ERR_SETTING/)
  const r3 = await cli('register', p, p, '--out', join(dir, 'x.nii.gz'), '--smooth', '2')
  t.not(r3.code, 0)
  t.regex(r3.stderr, /ERR_SETTING/)
})
