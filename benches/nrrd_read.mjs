#!/usr/bin/env node
// NRRD read benchmark: voxelkit's readVolumeSync against pynrrd and SimpleITK, side by side on
// one machine and the same files (see shared/design/BENCHMARKS.md). Needs `npm run build`; the
// venv fixtures/nrrd/.venv (as bash fixtures/nrrd/generate.sh makes it) is made from
// fixtures/nrrd/requirements.txt when missing or off the pins.
//
//   node benches/nrrd_read.mjs [--samples N] [--warmup N] [--out FILE] [--shared DIR] [--timeout S]
//
// Inputs: the PyRadiomics volumes brain1_image.nrrd (256x256x25 int16, gzip) and
// breast1_image.nrrd (45x120x21 int16, gzip) from ../shared/reference/pyradiomics (--shared), and
// a 256x256x128 float32 volume that voxelkit writes once as raw and as gzip NRRD in a temp folder.
// Time = reading the file into an array in memory (SimpleITK: ReadImage + GetArrayViewFromImage,
// one ITK thread; pynrrd: nrrd.read; both in benches/nrrd_read.py, in its own process; voxelkit
// in this process). Median (min-max) of N samples (default 7) after one warm-up.
// Correctness rides along as "sum diff": voxelkit's sequential sum in file order against numpy's
// cumulative sum of pynrrd's array in the same order, and pynrrd's sum against SimpleITK's
// (0: the same voxels). Prints a Markdown table and writes benches/results/nrrd_read-<date>.json.
import { existsSync } from 'node:fs'
import { join } from 'node:path'
import { ROOT, SHARED_REFERENCE, begin, cli, contender, dayStamp, finishMachine, header, markdownTable } from './lib.mjs'
import { runnerArgs, span, stats, venvPython, withTmp, writeRecord } from './lib.mjs'
import { timeSamples } from './contender.mjs'

const VENV = join(ROOT, 'fixtures', 'nrrd', '.venv')
const REPORT = ['pynrrd', 'numpy', 'SimpleITK']
const SHAPE = [256, 256, 128]

// the JSON keeps milliseconds: median, min, max
const inMs = (st) => ({ median: st.median * 1e3, min: st.min * 1e3, max: st.max * 1e3 })

async function main() {
  const o = runnerArgs(import.meta.url, { defaults: { samples: '7', shared: join(SHARED_REFERENCE, 'pyradiomics') } })
  const setup = { venv: VENV, requirements: [join(ROOT, 'fixtures', 'nrrd', 'requirements.txt')], report: REPORT }
  const { t0, vk, m, notes } = begin(o, setup, 'pynrrd/SimpleITK')

  const rows = []
  await withTmp(o, 'voxelkit-nrrd-bench-', async (tmp) => {
    const n = SHAPE[0] * SHAPE[1] * SHAPE[2]
    const big = new Float32Array(n)
    for (let k = 0; k < n; k++) big[k] = Math.sin(k * 0.001) * 1000 + (k % 97)
    const files = []
    for (const f of ['brain1_image.nrrd', 'breast1_image.nrrd']) if (existsSync(join(o.shared, f))) files.push([f, join(o.shared, f)])
    for (const enc of ['raw', 'gzip']) {
      const p = join(tmp, `synthetic_${enc}.nrrd`)
      vk.writeVolumeSync(p, { data: big, shape: SHAPE, affine: [0.9, 0, 0, -100, 0, 0.9, 0, -120, 0, 0, 1.2, -60, 0, 0, 0, 1] }, { encoding: enc })
      files.push([`${SHAPE.join('x')} float32 ${enc}`, p])
    }
    for (const [name, path] of files) {
      const { times, out: v } = await timeSamples(o, () => vk.readVolumeSync(path), (t, kind) => `${name} ${kind}: ${(t * 1e3).toFixed(1)} ms`)
      let sum = 0
      for (let k = 0; k < v.data.length; k++) sum += Number(v.data[k])
      const py = contender('pynrrd/SimpleITK', 'nrrd_read.py', ['--data', path], { o, tmp, tag: name.replace(/\W+/g, '_'), python: venvPython(VENV) })
      rows.push({
        name,
        voxels: v.data.length,
        voxelkit: stats(times),
        pynrrd: stats(py.pynrrd.times_s),
        simpleitk: stats(py.simpleitk.times_s),
        sumDiff: Math.max(Math.abs(sum - py.pynrrd.sum), Math.abs(py.pynrrd.sum - py.simpleitk.sum)),
      })
    }
  })

  finishMachine(m, t0)
  const head = ['file', 'voxels', 'voxelkit', 'pynrrd', 'SimpleITK (1 thread)', 'pynrrd / vk', 'SimpleITK / vk', 'sum diff']
  const cells = rows.map((r) => [
    r.name,
    r.voxels.toLocaleString('en'),
    span(r.voxelkit, 'ms'),
    span(r.pynrrd, 'ms'),
    span(r.simpleitk, 'ms'),
    `${(r.pynrrd.median / r.voxelkit.median).toFixed(1)}x`,
    `${(r.simpleitk.median / r.voxelkit.median).toFixed(1)}x`,
    r.sumDiff,
  ])
  const md = [
    header(`NRRD read: voxelkit ${m.voxelkit} vs pynrrd ${m.pynrrd} and SimpleITK ${m.SimpleITK}`, m, `${o.samples} samples after ${o.warmup} warm-up; time = reading the file into an array in memory.`, { notes, report: REPORT }),
    markdownTable(head, cells, ['file', 'voxelkit', 'pynrrd', 'SimpleITK (1 thread)']),
    '',
  ].join('\n')
  const json = rows.map((r) => ({ ...r, voxelkit: inMs(r.voxelkit), pynrrd: inMs(r.pynrrd), simpleitk: inMs(r.simpleitk) }))
  writeRecord(o, 'nrrd_read', { machine: m, cores: m.cores, samples: o.samples, rows: json, markdown: md }, { file: `nrrd_read-${dayStamp()}.json` })
}

cli(main)
