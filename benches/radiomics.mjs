#!/usr/bin/env node
// Radiomics benchmark: voxelkit against PyRadiomics (pyradiomics-bhklab 3.1.4, the fixtures' pin),
// side by side on one machine, on the same files. See shared/design/BENCHMARKS.md.
//
//   node benches/radiomics.mjs [--samples N] [--warmup N] [--threads N] [--cases a,b]
//                              [--sets all,glcm+glrlm,...] [--out FILE] [--shared DIR] [--timeout S]
//
// Cases: brain1, brain2, breast1 (PyRadiomics' test cases, default settings: binWidth 25, 13
// directions) and synthetic-128 (a 128^3-voxel ROI). Class sets (--sets): 'all' (first order,
// shape and the five texture classes: PyRadiomics' default extraction), 'glcm+glrlm', and each
// of firstorder, glszm, gldm, ngtdm, shape alone; 'all@2mm' is 'all' with
// resampledPixelSpacing [2, 2, 2] (B-spline, PyRadiomics' default interpolator); 'all+log+wavelet'
// (by name only: --sets all+log+wavelet --cases brain1,brain2,breast1): 'all' on the original,
// LoG (sigma 1, 3 mm) and the 8 wavelet images. Timed: from loaded image and mask to the features of
// the set (PyRadiomics: RadiomicsFeatureExtractor.execute on SimpleITK images, in its own
// process, pyradiomics_bench.py; voxelkit: extractFeatures on Volumes, in this process).
// voxelkit runs with 1 thread and with all cores; PyRadiomics with OMP/OPENBLAS/MKL at 1 thread
// (it has no parallelism inside a case). The venv is fixtures/radiomics/.venv, made from
// fixtures/radiomics/requirements.txt when missing or off the pins. --shared: the PyRadiomics
// test cases (default ../shared/reference/pyradiomics). Correctness rides along: the max
// relative difference of every feature from PyRadiomics'.
//
// Voxel-based: --cases brain1-sub --sets voxel-glcm (voxel-glrlm, voxel-glszm) times PyRadiomics'
// execute(voxelBased=True) and voxelkit's extractFeatureMaps, GLCM (GLRLM, GLSZM) with
// kernelRadius 1, on brain1 with its label
// restricted to a 5x13x13 box around the ROI's median voxel (636 ROI voxels, the same mask file
// for both; PyRadiomics would take hours on the whole ROI): one PyRadiomics sample, no warm-up;
// the difference is taken over every map's ROI voxels.
import { join } from 'node:path'
import { BenchError, DATA, ROOT, SHARED_REFERENCE, begin, cli, contender, finishMachine, header, markdownTable, needShared } from './lib.mjs'
import { pythonJson, runnerArgs, say, stats, venvPython, withTmp, writeRecord } from './lib.mjs'
import { timeSamples } from './contender.mjs'

const VENV = join(ROOT, 'fixtures', 'radiomics', '.venv')
const PY = venvPython(VENV)
const REQUIREMENTS = join(ROOT, 'fixtures', 'radiomics', 'requirements.txt')
const CASES = ['brain1', 'brain2', 'breast1', 'synthetic-128', 'brain1-sub']
const DEFAULT_CASES = CASES.filter((c) => c !== 'brain1-sub')
// class sets: name -> classes (PyRadiomics' names, in its order)
const SETS = {
  all: ['firstorder', 'glcm', 'gldm', 'glrlm', 'glszm', 'ngtdm', 'shape'],
  'glcm+glrlm': ['glcm', 'glrlm'],
  firstorder: ['firstorder'],
  glszm: ['glszm'],
  gldm: ['gldm'],
  ngtdm: ['ngtdm'],
  shape: ['shape'],
  'all@2mm': ['firstorder', 'glcm', 'gldm', 'glrlm', 'glszm', 'ngtdm', 'shape'],
  'all+log+wavelet': ['firstorder', 'glcm', 'gldm', 'glrlm', 'glszm', 'ngtdm', 'shape'],
  'voxel-glcm': ['glcm'],
  'voxel-glrlm': ['glrlm'],
  'voxel-glszm': ['glszm'],
}
// voxel-based sets: maps (extractFeatureMaps / execute(voxelBased=True)), kernelRadius 1
const VOXEL_SETS = new Set(['voxel-glcm', 'voxel-glrlm', 'voxel-glszm'])
const VOXEL_RADIUS = 1
// settings of a set beyond the defaults (both contenders get them)
const SET_SETTINGS = { 'all@2mm': { resampledPixelSpacing: [2, 2, 2] } }
// image types per set (default: Original only); sigma as strings so that voxelkit names the
// images as PyRadiomics names its float sigmas (log-sigma-1-0-mm-3D)
const IMAGE_TYPES = {
  'all+log+wavelet': { Original: {}, LoG: { sigma: ['1.0', '3.0'] }, Wavelet: {} },
}
// sets run unless --sets names them: the image-type sets take PyRadiomics tens of seconds a case
const DEFAULT_SETS = Object.keys(SETS).filter((k) => !IMAGE_TYPES[k] && !VOXEL_SETS.has(k))
const REPORT = ['pyradiomics-bhklab', 'numpy', 'SimpleITK']
const DATA_R = join(DATA, 'radiomics')
const SYNTHETIC_SAMPLES = 3 // PyRadiomics takes seconds a sample on the 128^3 ROI: at most 3, no warm-up

// stats as the JSON has them: min, median, max and `samples` (the count)
const withCount = (st) => ({ ...st, samples: st.n })
const fmt = (s) => (s < 0.01 ? `${(s * 1000).toFixed(2)} ms` : s < 1 ? `${(s * 1000).toFixed(0)} ms` : `${s.toFixed(2)} s`)

/** Each map's values at the ROI's voxels (label 1), x slowest as numpy's C order, over the maps' box (the ROI's bounding box grown by r, clipped). */
function roiValues(maps, mask, r) {
  const [nx, ny, nz] = mask.shape
  const lo = [Infinity, Infinity, Infinity]
  const hi = [-1, -1, -1]
  for (let z = 0; z < nz; z++)
    for (let y = 0; y < ny; y++)
      for (let x = 0; x < nx; x++)
        if (mask.data[(z * ny + y) * nx + x] === 1) {
          ;[x, y, z].forEach((v, k) => {
            lo[k] = Math.min(lo[k], v)
            hi[k] = Math.max(hi[k], v)
          })
        }
  const b0 = lo.map((v) => Math.max(v - r, 0))
  const b1 = hi.map((v, k) => Math.min(v + r, mask.shape[k] - 1))
  const [sx, sy] = [b1[0] - b0[0] + 1, b1[1] - b0[1] + 1]
  const out = {}
  for (const [k, m] of Object.entries(maps)) {
    const v = []
    for (let z = b0[2]; z <= b1[2]; z++)
      for (let y = b0[1]; y <= b1[1]; y++)
        for (let x = b0[0]; x <= b1[0]; x++)
          if (mask.data[(z * ny + y) * nx + x] === 1) v.push(m.data[((z - b0[2]) * sy + (y - b0[1])) * sx + (x - b0[0])])
    out[k] = v
  }
  return out
}

async function main() {
  const o = runnerArgs(import.meta.url, {
    options: { cases: { type: 'string', default: DEFAULT_CASES.join(',') }, sets: { type: 'string', default: DEFAULT_SETS.join(',') } },
    defaults: { shared: join(SHARED_REFERENCE, 'pyradiomics') },
  })
  const cases = o.values.cases.split(',')
  for (const c of cases) if (!CASES.includes(c)) throw new BenchError(`--cases: unknown case ${c} (${CASES.join(', ')})`)
  const sets = o.values.sets.split(',')
  for (const k of sets) if (!SETS[k]) throw new BenchError(`--sets: unknown set ${k} (${Object.keys(SETS).join(', ')})`)
  needShared(o.shared, '../shared/reference/pyradiomics')
  const { t0, vk, m, notes } = begin(o, { venv: VENV, requirements: [REQUIREMENTS], report: REPORT }, 'PyRadiomics')
  say('preparing inputs (NIfTI copies of the NRRD cases, synthetic ROI) ...')
  const files = pythonJson(PY, 'pyradiomics_bench.py', ['prepare', '--data', DATA_R, '--shared', o.shared], { what: 'pyradiomics_bench.py prepare' })

  const rows = []
  await withTmp(o, 'voxelkit-radiomics-bench-', async (tmp) => {
    for (const c of cases) {
      const image = await vk.readVolume(files[c].image)
      const mask = await vk.readVolume(files[c].mask)
      let roi = 0
      for (let i = 0; i < mask.data.length; i++) roi += mask.data[i] === 1 ? 1 : 0
      const synthetic = c.startsWith('synthetic')
      for (const set of sets) {
        const voxel = VOXEL_SETS.has(set)
        if (voxel !== (c === 'brain1-sub')) {
          say(`${c} [${set}]: skipped (voxel-based sets run on brain1-sub only, brain1-sub on them only)`)
          continue
        }
        const ns = synthetic || voxel ? Math.min(o.samples, voxel ? 1 : SYNTHETIC_SAMPLES) : o.samples
        const classes = SETS[set]
        const extra = SET_SETTINGS[set] ?? {}
        const imageType = IMAGE_TYPES[set]
        say(`${c} [${set}]: ${image.shape.join('x')} voxels, ROI ${roi} voxels; PyRadiomics x${ns} ...`)
        const r = contender('PyRadiomics', 'pyradiomics_bench.py', ['run', '--data', DATA_R, '--case', c, '--classes', classes.join(','), '--settings', JSON.stringify(extra), ...(imageType ? ['--image-types', JSON.stringify(imageType)] : []), ...(voxel ? ['--voxel-based'] : [])], {
          o,
          tmp,
          tag: `${c}-${set}-pyradiomics`,
          python: PY,
          samples: ns,
          warmup: synthetic || voxel ? 0 : o.warmup,
        })
        const settings = { ...extra, classes, ...(imageType ? { imageType } : {}) }
        const run = voxel ? () => vk.extractFeatureMaps(image, mask, settings, { threads: th }) : () => vk.extractFeatures(image, mask, settings, { threads: th })
        let th = 1
        const timeVk = async (threads) => {
          th = threads
          const { times, out } = await timeSamples(o, run, (t, kind) => `${c} [${set}] ${threads} thread(s) ${kind}: ${t.toFixed(4)} s`)
          return { stats: withCount(stats(times)), features: voxel ? roiValues(out, mask, VOXEL_RADIUS) : out }
        }
        const one = await timeVk(1)
        const all = await timeVk(o.allThreads)
        let maxRel = 0
        const rel = (g, w) => (Number.isNaN(g) && Number.isNaN(w) ? 0 : w === 0 ? Math.abs(g) : Math.abs(g - w) / Math.abs(w))
        for (const [k, w] of Object.entries(r.features)) {
          const g = one.features[k]
          if (g === undefined) throw new BenchError(`${c} [${set}]: voxelkit has no ${k}`)
          if (voxel) {
            if (g.length !== w.length) throw new BenchError(`${c} [${set}] ${k}: ${g.length} ROI values, PyRadiomics ${w.length}`)
            // PyRadiomics writes NaN as null in JSON
            w.forEach((x, i) => (maxRel = Math.max(maxRel, rel(g[i], x ?? NaN))))
          } else maxRel = Math.max(maxRel, rel(g, w))
        }
        const rs = withCount(r.stats)
        rows.push({ case: c, set, voxelBased: voxel, classes, shape: image.shape, roi, features: Object.keys(r.features).length, pyradiomics: rs, voxelkit1: one.stats, voxelkitAll: all.stats, maxRel, pyradiomicsVersion: r.versions.radiomics })
        say(`  PyRadiomics ${rs.median.toFixed(3)} s, voxelkit 1 thread ${one.stats.median.toFixed(4)} s, ${o.allThreads} threads ${all.stats.median.toFixed(4)} s, max rel diff ${maxRel.toExponential(1)}`)
      }
    }
  })

  finishMachine(m, t0)
  const head = ['case', 'classes', 'features', 'ROI voxels', 'PyRadiomics (1 thread)', 'voxelkit 1 thread', 'speed-up', `voxelkit ${o.allThreads} threads`, 'speed-up', 'parallel efficiency', 'max rel. diff']
  const cells = rows.map((r) => [
    r.case,
    r.set,
    r.features,
    r.roi,
    fmt(r.pyradiomics.median),
    fmt(r.voxelkit1.median),
    `${(r.pyradiomics.median / r.voxelkit1.median).toFixed(1)}x`,
    fmt(r.voxelkitAll.median),
    `${(r.pyradiomics.median / r.voxelkitAll.median).toFixed(1)}x`,
    (r.voxelkit1.median / r.voxelkitAll.median / o.allThreads).toFixed(2),
    r.maxRel.toExponential(1),
  ])
  const md = [
    header(
      `Radiomics, default settings, per class set: voxelkit ${m.voxelkit} vs PyRadiomics ${rows[0]?.pyradiomicsVersion ?? ''}`,
      m,
      `median of ${o.samples} samples after ${o.warmup} warm-up (synthetic-128: PyRadiomics ${Math.min(o.samples, SYNTHETIC_SAMPLES)}, no warm-up); time = from loaded image and mask to the features; PyRadiomics in its own process with OMP/OPENBLAS/MKL_NUM_THREADS=1, voxelkit in the runner's.`,
      { notes, report: REPORT },
    ),
    markdownTable(head, cells),
    '',
  ].join('\n')
  writeRecord(o, 'radiomics', { machine: m, samples: o.samples, warmup: o.warmup, threads: o.allThreads, rows, markdown: md })
}

cli(main)
