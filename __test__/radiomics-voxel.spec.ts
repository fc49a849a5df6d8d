// Per-class feature lists and voxel-based extraction end to end, against pyradiomics-bhklab 3.1.4
// (fixtures/radiomics_voxel, written by its generate.py): featureClass lists through the settings
// and through readParams / `voxelkit radiomics --params`; extractFeatureMaps against
// execute(..., voxelBased=True) (keys, the maps' grid, resampled grids included, values at the
// ROI's voxels, initValue outside), thread invariance, abort and progress, bad inputs, `voxelkit radiomics --voxel-based`.
// Tolerance 1e-9 relative (absolute 1e-12 around 0): the same float64 formulas summed in another
// order (crates/radiomics/tests/voxel_fixtures.rs prints the observed maxima, <= 7.3e-16).
import test from 'ava'
import { readFileSync, readdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import {
  VoxelkitError,
  extractFeatureMaps,
  extractFeatureMapsSync,
  extractFeaturesSync,
  readParams,
  readVolumeSync,
  writeVolumeSync,
  type Volume,
} from '../ts/index'
import { settingsFromParams, type RadiomicsParams } from '../ts/radiomics'
import { cli, scratchDir } from './helpers/cli'

const DIR = join(__dirname, '..', 'fixtures', 'radiomics_voxel')
const scratch = scratchDir('rad-voxel')

type Num = number | string
interface Fixture {
  shape: number[]
  spacing: number[]
  origin: number[]
  image: { dtype: string; data: Num[] }
  mask: { dtype: string; data: number[] }
  params: RadiomicsParams
  keys?: string[]
  values?: Num[]
  error?: string
  maps?: { key: string; size: number[]; origin: number[]; spacing: number[]; inside: Num[]; outside: Num[] }[]
  /** Resampled cases: PyRadiomics' resampled grid and mask (the maps lie on it). */
  grid?: { size: number[]; origin: number[]; spacing: number[]; mask: number[] }
}

const num = (v: Num) => (typeof v === 'number' ? v : v === 'NaN' ? NaN : v === 'Infinity' ? Infinity : -Infinity)

function load(name: string) {
  const c = JSON.parse(readFileSync(join(DIR, `${name}.json`), 'utf8')) as Fixture
  const data = c.image.dtype === 'int16' ? Int16Array.from(c.image.data.map(num)) : Float64Array.from(c.image.data.map(num))
  const [ox, oy, oz] = c.origin
  const [sx, sy, sz] = c.spacing
  const affine = [sx, 0, 0, ox, 0, sy, 0, oy, 0, 0, sz, oz, 0, 0, 0, 1]
  const image: Volume = { data, shape: c.shape, spacing: c.spacing, affine }
  const mask: Volume = { data: Uint8Array.from(c.mask.data), shape: c.shape, spacing: c.spacing, affine }
  // the params dictionary as readParams returns it (a file's float sigma 1.0 spelled '1.0')
  const imageType = JSON.parse(JSON.stringify(c.params.imageType ?? { Original: {} }, (k, v) => (k === 'sigma' ? (v as number[]).map((x) => (Number.isInteger(x) ? `${x}.0` : x)) : v))) as RadiomicsParams['imageType']
  const params: RadiomicsParams = { setting: c.params.setting ?? {}, featureClass: c.params.featureClass, imageType, voxelSetting: c.params.voxelSetting ?? {} }
  return { c, image, mask, settings: settingsFromParams(params) }
}

function close(g: number, w: number): boolean {
  if (Number.isNaN(w) || Number.isNaN(g)) return Number.isNaN(w) && Number.isNaN(g)
  return g === w || Math.abs(g - w) <= 1e-12 || Math.abs(g - w) / Math.abs(w) <= 1e-9
}

for (const name of ['lists', 'deprecated', 'shape2d']) {
  test(`feature lists (${name}): keys, order and values as RadiomicsFeatureExtractor.execute`, (t) => {
    const { c, image, mask, settings } = load(`select_${name}`)
    const got = extractFeaturesSync(image, mask, settings)
    t.deepEqual(Object.keys(got), c.keys)
    c.keys!.forEach((k, i) => t.true(close(got[k], num(c.values![i])), `${k}: ${got[k]} vs ${c.values![i]}`))
  })
}

test('feature lists: names PyRadiomics does not define are ERR_SETTING', (t) => {
  for (const name of ['unknown_feature', 'unknown_class']) {
    const { c, image, mask, settings } = load(`select_${name}`)
    t.regex(c.error!, /^ValueError/)
    const e = t.throws(() => extractFeaturesSync(image, mask, settings), { instanceOf: VoxelkitError })
    t.is(e!.code, 'ERR_SETTING', name)
  }
  const { image, mask } = load('select_lists')
  for (const classes of [{ glcm: 'Contrast' }, { glcm: [3] }, { firstorder: ['Contrast'] }]) {
    const e = t.throws(() => extractFeaturesSync(image, mask, { classes: classes as never }), { instanceOf: VoxelkitError })
    t.is(e!.code, 'ERR_SETTING', JSON.stringify(classes))
  }
})

test('feature lists through a params file: readParams and `voxelkit radiomics --params`', async (t) => {
  const { c, image, mask } = load('select_lists')
  const p = join(scratch, 'lists.yaml')
  writeFileSync(p, ['setting:', '  binWidth: 25', 'featureClass:', '  glcm: [Autocorrelation, JointAverage]', '  firstorder: []', '  shape:', '    - Compactness1', ''].join('\n'))
  const got = extractFeaturesSync(image, mask, settingsFromParams(readParams(p)))
  t.deepEqual(Object.keys(got), c.keys)
  writeVolumeSync(join(scratch, 'img.nii.gz'), image)
  writeVolumeSync(join(scratch, 'msk.nii.gz'), mask)
  const out = join(scratch, 'lists.json')
  const r = await cli('radiomics', join(scratch, 'img.nii.gz'), join(scratch, 'msk.nii.gz'), '--params', p, '--out', out)
  t.is(r.code, 0, r.stderr)
  const cols = Object.keys(JSON.parse(readFileSync(out, 'utf8')) as object).filter((k) => k.startsWith('original_'))
  t.deepEqual(cols, c.keys)
  writeFileSync(join(scratch, 'bad.yaml'), 'featureClass:\n  glcm: [Contrastt]\n')
  const r2 = await cli('radiomics', join(scratch, 'img.nii.gz'), join(scratch, 'msk.nii.gz'), '--params', join(scratch, 'bad.yaml'))
  t.is(r2.code, 1)
  t.regex(r2.stderr, /ERR_SETTING.*Contrastt/)
})

const VOXEL = [
  'default',
  'radius2_unmasked',
  'edge_float',
  'batches',
  'weighted_force2d',
  'types',
  'neighbours',
  'neighbours_unmasked',
  'runs_zones',
  'runs_zones_radius2',
  'runs_zones_radius2_unmasked',
  'runs_zones_force2d',
  'runs_zones_edge_float',
  'runs_zones_sparse',
  // resampledPixelSpacing: the maps on the resampled grid
  'resampled',
  'resampled_linear_radius2',
  'resampled_nearest_normalize',
]

function checkMaps(t: import('ava').ExecutionContext, maps: Record<string, Volume<Float64Array>>, c: Fixture) {
  t.deepEqual(Object.keys(maps), c.maps!.map((m) => m.key))
  const init = Number(c.params.voxelSetting?.initValue ?? 0)
  const label = Number(c.params.setting?.label ?? 1)
  for (const w of c.maps!) {
    const m = maps[w.key]
    t.deepEqual(m.shape, w.size, w.key)
    // the map's world origin and spacing: PyRadiomics' crop
    w.origin.forEach((o, k) => t.true(Math.abs(m.affine![4 * k + 3] - o) <= 1e-9, `${w.key} origin ${k}`))
    // on the resampled grid when the case resamples (spacing to 1e-12: PyRadiomics' grid rule)
    const g = c.grid ?? { size: c.shape, origin: c.origin, spacing: c.spacing, mask: c.mask.data }
    t.true(w.spacing.every((s, k) => Math.abs(m.spacing![k] - s) <= 1e-12 * s), `${w.key} spacing`)
    const o = [0, 1, 2].map((k) => Math.round((m.affine![4 * k + 3] - g.origin[k]) / g.spacing[k]))
    const [sx, sy, sz] = m.shape
    const inside: number[] = []
    let outsideOk = true
    for (let z = 0; z < sz; z++)
      for (let y = 0; y < sy; y++)
        for (let x = 0; x < sx; x++) {
          const v = m.data[(z * sy + y) * sx + x]
          const mi = ((z + o[2]) * g.size[1] + y + o[1]) * g.size[0] + x + o[0]
          if (g.mask[mi] === label) inside.push(v)
          else outsideOk &&= Object.is(v, init)
        }
    t.true(outsideOk, `${w.key}: initValue outside the ROI`)
    t.is(inside.length, w.inside.length)
    const bad = inside.findIndex((g, i) => !close(g, num(w.inside[i])))
    t.is(bad, -1, `${w.key} voxel ${bad}: ${inside[bad]} vs PyRadiomics ${w.inside[bad]}`)
  }
}

for (const name of VOXEL) {
  test(`voxel-based (${name}): extractFeatureMaps equals execute(voxelBased=True)`, async (t) => {
    const { c, image, mask, settings } = load(`voxel_${name}`)
    checkMaps(t, await extractFeatureMaps(image, mask, settings), c)
  })
}

test('voxel-based: bitwise identical at 1 and 3 threads, sync and async', async (t) => {
  for (const name of ['voxel_radius2_unmasked', 'voxel_runs_zones_radius2_unmasked', 'voxel_runs_zones_force2d', 'voxel_resampled_linear_radius2']) {
    const { image, mask, settings } = load(name)
    const a = extractFeatureMapsSync(image, mask, settings, { threads: 1 })
    const b = await extractFeatureMaps(image, mask, settings, { threads: 3 })
    for (const k of Object.keys(a)) t.deepEqual(Buffer.from(a[k].data.buffer, a[k].data.byteOffset, a[k].data.byteLength), Buffer.from(b[k].data.buffer, b[k].data.byteOffset, b[k].data.byteLength), `${name} ${k}`)
  }
})

test('voxel-based: progress, abort', async (t) => {
  const { image, mask, settings } = load('voxel_types')
  let last = [0, 0]
  await extractFeatureMaps(image, mask, settings, { onProgress: (d, n) => (last = [d, n]) })
  // 66 ROI voxels x 3 images (original, square, LoG sigma 1)
  t.deepEqual(last, [198, 198])
  const ac = new AbortController()
  ac.abort()
  const e = await t.throwsAsync(extractFeatureMaps(image, mask, settings, { signal: ac.signal }), { instanceOf: VoxelkitError })
  t.is(e!.code, 'ERR_ABORTED')
})

test('voxel-based: bad settings are coded errors', (t) => {
  const { image, mask, settings } = load('voxel_default')
  const cases: [Record<string, unknown>, string][] = [
    [{ kernelRadius: 0 }, 'ERR_SETTING'],
    [{ kernelRadius: 1.5 }, 'ERR_SETTING'],
    [{ maskedKernel: 'yes' }, 'ERR_SETTING'],
    [{ initValue: 'NaN' }, 'ERR_SETTING'],
    [{ voxelBatch: 0 }, 'ERR_SETTING'],
    [{ aggregation: '3D_merged' }, 'ERR_UNSUPPORTED'],
    [{ resampledPixelSpacing: [2, 2, 2], aggregation: '3D_merged' }, 'ERR_UNSUPPORTED'],
    [{ resampledPixelSpacing: [2, -1, 2] }, 'ERR_SETTING'],
    [{ resampledPixelSpacing: [1e-4, 1e-4, 1e-4] }, 'ERR_SETTING'],
    [{ label: 7 }, 'ERR_SETTING'],
  ]
  for (const [extra, code] of cases) {
    const e = t.throws(() => extractFeatureMapsSync(image, mask, { ...settings, ...extra } as never), { instanceOf: VoxelkitError })
    t.is(e!.code, code, JSON.stringify(extra))
  }
  // maps come from extractFeatureMaps only
  const e = t.throws(() => extractFeaturesSync(image, mask, { voxelBased: true }), { instanceOf: VoxelkitError })
  t.is(e!.code, 'ERR_SETTING')
})

test('`voxelkit radiomics --voxel-based --out-dir`: one NIfTI map per feature', async (t) => {
  const { image, mask } = load('voxel_types')
  writeVolumeSync(join(scratch, 'vimg.nii.gz'), image)
  writeVolumeSync(join(scratch, 'vmsk.nii.gz'), mask)
  const p = join(scratch, 'voxel.yaml')
  writeFileSync(p, 'featureClass:\n  glcm: [Contrast, SumVariance]\n  firstorder: [Mean]\nvoxelSetting:\n  initValue: -1\n')
  const out = join(scratch, 'maps')
  const r = await cli('radiomics', join(scratch, 'vimg.nii.gz'), join(scratch, 'vmsk.nii.gz'), '--params', p, '--voxel-based', '--out-dir', out)
  t.is(r.code, 0, r.stderr)
  const want = extractFeatureMapsSync(readVolumeSync(join(scratch, 'vimg.nii.gz')), readVolumeSync(join(scratch, 'vmsk.nii.gz')), settingsFromParams(readParams(p)))
  t.deepEqual(readdirSync(out).sort(), Object.keys(want).map((k) => `${k}.nii.gz`).sort())
  for (const [k, v] of Object.entries(want)) {
    const got = readVolumeSync(join(out, `${k}.nii.gz`))
    t.deepEqual(got.shape, v.shape)
    t.deepEqual(Array.from(got.data), Array.from(v.data), k)
  }
  const u = await cli('radiomics', join(scratch, 'vimg.nii.gz'), join(scratch, 'vmsk.nii.gz'), '--voxel-based')
  t.is(u.code, 2)
})
