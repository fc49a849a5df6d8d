#!/usr/bin/env node
// Radiomics benchmark: voxelkit against PyRadiomics (pyradiomics-bhklab 3.1.4, the fixtures' pin),
// side by side on one machine, on the same files. See shared/design/BENCHMARKS.md.
//
//   node benches/radiomics.mjs [--samples N] [--warmup N] [--threads N] [--cases a,b] [--out FILE]
//
// Cases: brain1, brain2, breast1 (PyRadiomics' test cases, default settings: binWidth 25, 13
// directions) and synthetic-128 (a 128^3-voxel ROI). Timed: from loaded image and mask to the
// GLCM + GLRLM features (PyRadiomics: RadiomicsFeatureExtractor.execute on SimpleITK images;
// voxelkit: extractFeatures on Volumes). voxelkit runs with 1 thread and with all cores;
// PyRadiomics with OMP/OPENBLAS/MKL at 1 thread (it has no parallelism inside a case).
// Correctness rides along: the max relative difference of the 40 features from PyRadiomics'.
import { spawnSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { existsSync, mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import os from 'node:os'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = resolve(HERE, '..')
const VENV = join(ROOT, 'fixtures', 'radiomics', '.venv')
const PY = join(VENV, 'bin', 'python')
const DATA = join(HERE, 'data', 'radiomics')
const RESULTS = join(HERE, 'results')
const SHARED = resolve(ROOT, '..', 'shared', 'reference', 'pyradiomics')

const { values } = parseArgs({
  options: {
    samples: { type: 'string', default: '5' },
    warmup: { type: 'string', default: '1' },
    threads: { type: 'string', default: String(os.availableParallelism()) },
    cases: { type: 'string', default: 'brain1,brain2,breast1,synthetic-128' },
    out: { type: 'string' },
  },
})
const samples = Number(values.samples)
const warmup = Number(values.warmup)
const allCores = Number(values.threads)
const cases = values.cases.split(',')
const say = (m = '') => process.stderr.write(`${m}\n`)

if (!existsSync(PY)) {
  say('setting up the PyRadiomics venv (fixtures/radiomics/generate.sh does the same)')
  const r = spawnSync('bash', ['-c', `python3 -m venv ${VENV} && ${PY} -m pip install -q -r ${join(ROOT, 'fixtures', 'radiomics', 'requirements.txt')}`], { stdio: 'inherit' })
  if (r.status !== 0) throw new Error('cannot set up the PyRadiomics venv')
}
const refEnv = { ...process.env, OMP_NUM_THREADS: '1', OPENBLAS_NUM_THREADS: '1', MKL_NUM_THREADS: '1' }
delete refEnv.OPENBLAS_CORETYPE
delete refEnv.OPENBLAS_L2_SIZE
const py = (args) => {
  const r = spawnSync(PY, [join(HERE, 'pyradiomics_bench.py'), ...args], { stdio: ['ignore', 'inherit', 'inherit'], env: refEnv })
  if (r.status !== 0) throw new Error(`pyradiomics_bench.py ${args[0]} failed`)
}
say('preparing inputs (NIfTI copies of the NRRD cases, synthetic ROI) ...')
py(['prepare', DATA, SHARED])

const require = createRequire(import.meta.url)
const vk = require(join(ROOT, 'dist', 'index.js'))

function stats(ts) {
  const s = [...ts].sort((a, b) => a - b)
  return { min: s[0], median: s[Math.floor(s.length / 2)], max: s[s.length - 1], samples: s.length }
}

async function timeVk(image, mask, threads) {
  let f
  for (let i = 0; i < warmup; i++) f = await vk.extractFeatures(image, mask, {}, { threads })
  const ts = []
  for (let i = 0; i < samples; i++) {
    const t0 = performance.now()
    f = await vk.extractFeatures(image, mask, {}, { threads })
    ts.push((performance.now() - t0) / 1000)
  }
  return { ...stats(ts), features: f }
}

const rows = []
for (const c of cases) {
  const image = await vk.readVolume(join(DATA, `${c}_image.nii.gz`))
  const mask = await vk.readVolume(join(DATA, `${c}_mask.nii.gz`))
  let roi = 0
  for (let i = 0; i < mask.data.length; i++) roi += mask.data[i] === 1 ? 1 : 0
  const ns = c.startsWith('synthetic') ? Math.min(samples, 3) : samples
  say(`${c}: ${image.shape.join('x')} voxels, ROI ${roi} voxels; PyRadiomics x${ns} ...`)
  const tmp = join(DATA, `${c}-pyradiomics.json`)
  py(['run', DATA, c, String(ns), String(c.startsWith('synthetic') ? 0 : warmup), tmp])
  const ref = JSON.parse(readFileSync(tmp, 'utf8'))
  const one = await timeVk(image, mask, 1)
  const all = await timeVk(image, mask, allCores)
  let maxRel = 0
  for (const [k, w] of Object.entries(ref.features)) {
    const g = one.features[k]
    const d = w === 0 ? Math.abs(g) : Math.abs(g - w) / Math.abs(w)
    if (!(Number.isNaN(g) && Number.isNaN(w))) maxRel = Math.max(maxRel, d)
  }
  const rs = stats(ref.times)
  rows.push({ case: c, shape: image.shape, roi, pyradiomics: rs, voxelkit1: { ...one, features: undefined }, voxelkitAll: { ...all, features: undefined }, maxRel, pyradiomicsVersion: ref.version })
  say(`  PyRadiomics ${rs.median.toFixed(3)} s, voxelkit 1 thread ${one.median.toFixed(4)} s, ${allCores} threads ${all.median.toFixed(4)} s, max rel diff ${maxRel.toExponential(1)}`)
}

const fmt = (s) => (s < 0.01 ? `${(s * 1000).toFixed(2)} ms` : s < 1 ? `${(s * 1000).toFixed(0)} ms` : `${s.toFixed(2)} s`)
const lines = [
  `Radiomics GLCM + GLRLM, default settings; ${os.cpus()[0]?.model ?? 'cpu'}, ${os.availableParallelism()} logical cores; median of ${samples} (synthetic: ${Math.min(samples, 3)}) samples`,
  '',
  `| case | ROI voxels | PyRadiomics (1 thread) | voxelkit 1 thread | speed-up | voxelkit ${allCores} threads | speed-up | parallel efficiency | max rel. diff |`,
  '| --- | ---: | ---: | ---: | ---: | ---: | ---: | ---: | ---: |',
  ...rows.map((r) =>
    `| ${r.case} | ${r.roi} | ${fmt(r.pyradiomics.median)} | ${fmt(r.voxelkit1.median)} | ${(r.pyradiomics.median / r.voxelkit1.median).toFixed(1)}x | ${fmt(r.voxelkitAll.median)} | ${(r.pyradiomics.median / r.voxelkitAll.median).toFixed(1)}x | ${((r.voxelkit1.median / r.voxelkitAll.median) / allCores).toFixed(2)} | ${r.maxRel.toExponential(1)} |`),
]
console.log(lines.join('\n'))
mkdirSync(RESULTS, { recursive: true })
const out = values.out ?? join(RESULTS, `${new Date().toISOString().slice(0, 10)}-radiomics.json`)
writeFileSync(out, JSON.stringify({ machine: { cpu: os.cpus()[0]?.model, cores: os.availableParallelism() }, samples, warmup, threads: allCores, rows }, null, 1) + '\n')
say(`wrote ${out}`)
