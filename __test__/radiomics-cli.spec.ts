// `voxelkit radiomics`: one case (CSV on stdout, --out json/csv, --params), batch mode over a
// cases CSV with --jobs (one row per case, failures in the error column, exit status 1).
import test from 'ava'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { extractFeaturesSync, readVolumeSync, writeVolumeSync } from '../ts/index'
import { cli, scratchDir } from './helpers/cli'
import { caseVolumes, parseCsv, radCases } from './helpers/radiomics'

const dir = scratchDir('rad-cli')

const ok = radCases().filter((c) => c.error === undefined && Object.keys(c.settings).length <= 2 && c.image.dtype === 'int16')
const vols = ok.slice(0, 3).map((c, k) => {
  const v = caseVolumes(c)
  writeVolumeSync(join(dir, `img${k}.nii.gz`), v.image)
  writeVolumeSync(join(dir, `msk${k}.nii.gz`), v.mask)
  return v
})

test('one case: CSV on stdout equals extractFeatures', async (t) => {
  const r = await cli('radiomics', join(dir, 'img0.nii.gz'), join(dir, 'msk0.nii.gz'))
  t.is(r.code, 0, r.stderr)
  const rows = parseCsv(r.stdout)
  t.is(rows.length, 2)
  // the volumes as the CLI reads them (NIfTI stores the spacing in float32: TotalEnergy sees it)
  const want = extractFeaturesSync(readVolumeSync(join(dir, 'img0.nii.gz')), readVolumeSync(join(dir, 'msk0.nii.gz')), {})
  for (const [k, v] of Object.entries(want)) {
    const i = rows[0].indexOf(k)
    t.true(i > 0, k)
    t.is(Number(rows[1][i]), v, k)
  }
})

test('one case: --params YAML and --out json', async (t) => {
  writeFileSync(join(dir, 'p.yaml'), 'setting:\n  binWidth: 10\n  distances: [1, 2]\nfeatureClass:\n  glcm:\n')
  const out = join(dir, 'f.json')
  const r = await cli('radiomics', join(dir, 'img1.nii.gz'), join(dir, 'msk1.nii.gz'), '--params', join(dir, 'p.yaml'), '--out', out)
  t.is(r.code, 0, r.stderr)
  const got = JSON.parse(readFileSync(out, 'utf8')) as Record<string, number | string>
  const want = extractFeaturesSync(vols[1].image, vols[1].mask, { binWidth: 10, distances: [1, 2], classes: ['glcm'] })
  t.is(Object.keys(want).length, 24)
  for (const [k, v] of Object.entries(want)) t.is(got[k], v, k)
  t.false('original_glrlm_RunPercentage' in got)
})

test('batch: one row per case, --jobs, failures in the error column', async (t) => {
  writeFileSync(
    join(dir, 'cases.csv'),
    ['ID,Image,Mask', 'a,img0.nii.gz,msk0.nii.gz', 'b,img1.nii.gz,msk1.nii.gz', 'c,img2.nii.gz,missing.nii.gz', 'd,img2.nii.gz,msk2.nii.gz', ''].join('\n'),
  )
  const out = join(dir, 'results.csv')
  const r = await cli('radiomics', join(dir, 'cases.csv'), '--jobs', '3', '--out', out)
  t.is(r.code, 1, 'one case fails')
  t.regex(r.stderr, /1 of 4 cases failed/)
  const rows = parseCsv(readFileSync(out, 'utf8'))
  t.is(rows.length, 5)
  const h = rows[0]
  t.deepEqual(rows.slice(1).map((x) => x[h.indexOf('ID')]), ['a', 'b', 'c', 'd'])
  t.regex(rows[3][h.indexOf('error')], /^\[ERR_IO\]/)
  for (const [row, k] of [
    [1, 0],
    [2, 1],
    [4, 2],
  ]) {
    t.is(rows[row][h.indexOf('error')], '')
    const want = extractFeaturesSync(vols[k].image, vols[k].mask, {})
    t.is(Number(rows[row][h.indexOf('original_glcm_Contrast')]), want.original_glcm_Contrast)
  }
})

test('usage and coded errors', async (t) => {
  const r = await cli('radiomics', join(dir, 'img0.nii.gz'))
  t.is(r.code, 2)
  const r2 = await cli('radiomics', join(dir, 'img0.nii.gz'), join(dir, 'msk0.nii.gz'), '--params', join(dir, 'nope.yaml'))
  t.is(r2.code, 1)
  t.regex(r2.stderr, /ERR_IO/)
  writeFileSync(join(dir, 'bad.yaml'), 'setting:\n  binWidth: 0\n')
  const r3 = await cli('radiomics', join(dir, 'img0.nii.gz'), join(dir, 'msk0.nii.gz'), '--params', join(dir, 'bad.yaml'))
  t.is(r3.code, 1)
  t.regex(r3.stderr, /ERR_SETTING/)
  writeFileSync(join(dir, 'lbp.yaml'), 'imageType:\n  LBP2D: {}\n')
  const r4 = await cli('radiomics', join(dir, 'img0.nii.gz'), join(dir, 'msk0.nii.gz'), '--params', join(dir, 'lbp.yaml'))
  t.regex(r4.stderr, /ERR_UNSUPPORTED/)
})

test('--params with image types: the derived images\' columns, named as PyRadiomics names them', async (t) => {
  writeFileSync(join(dir, 'types.yaml'), 'imageType:\n  Original: {}\n  LoG: {sigma: [1.0, 2]}\n  Square: {}\nfeatureClass:\n  firstorder:\n')
  const r = await cli('radiomics', join(dir, 'img0.nii.gz'), join(dir, 'msk0.nii.gz'), '--params', join(dir, 'types.yaml'))
  t.is(r.code, 0, r.stderr)
  const rows = parseCsv(r.stdout)
  const want = extractFeaturesSync(readVolumeSync(join(dir, 'img0.nii.gz')), readVolumeSync(join(dir, 'msk0.nii.gz')), {
    imageType: { Original: {}, LoG: { sigma: ['1.0', 2] }, Square: {} },
    classes: ['firstorder'],
  })
  const keys = Object.keys(want)
  t.true(keys.includes('log-sigma-1-0-mm-3D_firstorder_Mean') && keys.includes('log-sigma-2-mm-3D_firstorder_Mean') && keys.includes('square_firstorder_Mean'))
  t.deepEqual(rows[0].slice(rows[0].length - keys.length), keys)
  for (const k of keys) t.is(Number(rows[1][rows[0].indexOf(k)]), want[k], k)
})
