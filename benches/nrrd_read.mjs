#!/usr/bin/env node
// NRRD read benchmark: voxelkit's readVolumeSync against pynrrd and SimpleITK, side by side on
// one machine and the same files (see shared/design/BENCHMARKS.md). Needs `npm run build` and
// fixtures/nrrd/.venv (bash fixtures/nrrd/generate.sh creates it).
//
//   node benches/nrrd_read.mjs [--samples N]
//
// Inputs: the PyRadiomics volumes brain1_image.nrrd (256x256x25 int16, gzip) and
// breast1_image.nrrd (45x120x21 int16, gzip) from ../shared/reference/pyradiomics, and a
// 256x256x128 float32 volume that voxelkit writes once as raw and as gzip NRRD in a temp folder.
// Time = reading the file into an array in memory (SimpleITK: ReadImage + GetArrayViewFromImage,
// one ITK thread; pynrrd: nrrd.read). Median (min-max) of N samples after one warm-up.
// Correctness rides along as "sum diff": voxelkit's sequential sum in file order against numpy's
// cumulative sum of pynrrd's array in the same order, and pynrrd's sum against SimpleITK's
// (0: the same voxels). Prints a Markdown table and writes benches/results/nrrd_read-<date>.json.
import { execFileSync } from 'node:child_process'
import { createRequire } from 'node:module'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'
import os from 'node:os'

const HERE = dirname(fileURLToPath(import.meta.url))
const ROOT = resolve(HERE, '..')
const PY = join(ROOT, 'fixtures', 'nrrd', '.venv', 'bin', 'python')
const SHARED = resolve(ROOT, '..', 'shared', 'reference', 'pyradiomics')
const i = process.argv.indexOf('--samples')
const N = i > 0 ? Number(process.argv[i + 1]) : 7
const require = createRequire(import.meta.url)
const vk = require(join(ROOT, 'dist', 'index.js'))
if (!existsSync(PY)) throw new Error('fixtures/nrrd/.venv missing: run bash fixtures/nrrd/generate.sh')

const tmp = mkdtempSync(join(os.tmpdir(), 'voxelkit-nrrd-bench-'))
process.on('exit', () => rmSync(tmp, { recursive: true, force: true }))
const shape = [256, 256, 128]
const n = shape[0] * shape[1] * shape[2]
const big = new Float32Array(n)
for (let k = 0; k < n; k++) big[k] = Math.sin(k * 0.001) * 1000 + (k % 97)
const files = []
for (const f of ['brain1_image.nrrd', 'breast1_image.nrrd']) if (existsSync(join(SHARED, f))) files.push([f, join(SHARED, f)])
for (const enc of ['raw', 'gzip']) {
  const p = join(tmp, `synthetic_${enc}.nrrd`)
  vk.writeVolumeSync(p, { data: big, shape, affine: [0.9, 0, 0, -100, 0, 0.9, 0, -120, 0, 0, 1.2, -60, 0, 0, 0, 1] }, { encoding: enc })
  files.push([`256x256x128 float32 ${enc}`, p])
}

const stats = (a) => {
  const s = [...a].sort((x, y) => x - y)
  return { median: s[Math.floor(s.length / 2)], min: s[0], max: s[s.length - 1] }
}
const PYCODE = `
import json, sys, time
import numpy as np, nrrd, SimpleITK as sitk
sitk.ProcessObject.SetGlobalDefaultNumberOfThreads(1)
path, n = sys.argv[1], int(sys.argv[2])
out = {}
def run(f):
    f()
    ts = []
    for _ in range(n):
        t = time.perf_counter(); a = f(); ts.append((time.perf_counter() - t) * 1e3)
    return ts, a
ts, a = run(lambda: nrrd.read(path)[0])
out["pynrrd"] = ts
out["pynrrd_fsum"] = float(np.asarray(a, dtype=np.float64).flatten(order="F").cumsum()[-1])
def sitk_read():
    img = sitk.ReadImage(path)
    return img, sitk.GetArrayViewFromImage(img)  # the view lives as long as the image
ts, (img, a) = run(sitk_read)
out["simpleitk"] = ts
out["simpleitk_sum"] = float(np.asarray(a, dtype=np.float64).T.flatten(order="F").cumsum()[-1])
print(json.dumps(out))
`
const rows = []
for (const [name, path] of files) {
  vk.readVolumeSync(path)
  const ts = []
  let v
  for (let k = 0; k < N; k++) {
    const t = performance.now()
    v = vk.readVolumeSync(path)
    ts.push(performance.now() - t)
  }
  let sum = 0
  for (let k = 0; k < v.data.length; k++) sum += Number(v.data[k])
  const py = JSON.parse(execFileSync(PY, ['-c', PYCODE, path, String(N)], { env: { ...process.env, OMP_NUM_THREADS: '1' } }).toString())
  rows.push({ name, voxels: v.data.length, voxelkit: stats(ts), pynrrd: stats(py.pynrrd), simpleitk: stats(py.simpleitk), sumDiff: Math.max(Math.abs(sum - py.pynrrd_fsum), Math.abs(py.pynrrd_fsum - py.simpleitk_sum)) })
}
const f = (s) => `${s.median.toFixed(1)} ms (${s.min.toFixed(1)}–${s.max.toFixed(1)})`
const lines = [
  `Machine: ${os.cpus()[0].model}, ${os.cpus().length} cores, Node ${process.version}; ${N} samples after 1 warm-up; load ${os.loadavg().map((x) => x.toFixed(2)).join(' ')}.`,
  '',
  '| file | voxels | voxelkit | pynrrd | SimpleITK (1 thread) | pynrrd / vk | SimpleITK / vk | sum diff |',
  '| --- | ---: | --- | --- | --- | ---: | ---: | ---: |',
  ...rows.map((r) => `| ${r.name} | ${r.voxels.toLocaleString('en')} | ${f(r.voxelkit)} | ${f(r.pynrrd)} | ${f(r.simpleitk)} | ${(r.pynrrd.median / r.voxelkit.median).toFixed(1)}x | ${(r.simpleitk.median / r.voxelkit.median).toFixed(1)}x | ${r.sumDiff} |`),
]
console.log(lines.join('\n'))
mkdirSync(join(HERE, 'results'), { recursive: true })
writeFileSync(join(HERE, 'results', `nrrd_read-${new Date().toISOString().slice(0, 10)}.json`), JSON.stringify({ machine: os.cpus()[0].model, cores: os.cpus().length, samples: N, rows }, null, 1) + '\n')
