#!/usr/bin/env node
// SyN bench: voxelkit registerSyN against DIPY 1.12.1 SymmetricDiffeomorphicRegistration with the
// CC, SSD and EM metrics (DIPY's defaults), side by side on one machine
// (shared/design/BENCHMARKS.md). Run by hand.
//
//   node benches/syn.mjs [--size N] [--level-iters 10,10,5] [--metrics CC,SSD,EM] [--samples N] [--warmup N] [--threads N] [--out FILE]
//   node benches/syn.mjs --pair brain [--level-iters 10,10,5] [--samples N] [--threads N]
//
// Input: a synthetic 3D pair of N^3 voxels (default 80: a textured ball and its warp by a known
// smooth field, benches/dipy_syn.py gen), read by both sides. DIPY runs at 1 thread
// (OMP/OPENBLAS/MKL_NUM_THREADS=1), voxelkit at 1 thread and at all cores, each in its own process
// (peak RSS reported). The correctness check rides along: the largest difference between DIPY's
// and voxelkit's mapping.forward (voxels), and the iteration counts.
//
// --pair brain: PyRadiomics' brain1 (static, 256x256x25) and brain2 (moving, 256x256x23) MR images
// from ../shared/reference/pyradiomics at full resolution, pre-aligned once by DIPY's
// affine_registration (dipy_syn.py gen-brain, cached in benches/data/brain-pair.json), CC only:
// DIPY, voxelkit and ANTs (antspyx SyNOnly from the same prealign, benches/ants_syn.py, in
// benches/.venv-ants from benches/requirements-ants.txt; ANTs at 1 thread and at all cores). The
// quality check rides along: the normalised cross-correlation of each contender's warped moving
// image with the static image over the static grid (the prealigned image's NCC beside them).
import { join } from 'node:path'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { BenchError, DATA, HERE, SHARED_REFERENCE, VENV_PY, baseSettings, begin, cli, contender, finishMachine, header, setupVenv, venvPython } from './lib.mjs'
import { markdownTable, pythonJson, readF64, rssCell, runnerArgs, say, threadSet, versusCells, versusHead, withTmp, writeRecord } from './lib.mjs'

function main() {
  const o = runnerArgs(import.meta.url, {
    options: { size: { type: 'string', default: '80' }, 'level-iters': { type: 'string', default: '10,10,5' }, metrics: { type: 'string', default: 'CC,SSD,EM' }, pair: { type: 'string' } },
    defaults: { samples: '3', warmup: '0' },
    omit: ['shared'],
  })
  if (o.values.pair !== undefined) {
    if (o.values.pair !== 'brain') throw new BenchError('--pair takes brain')
    return brainPair(o)
  }
  const n = Number(o.values.size)
  if (!Number.isSafeInteger(n) || n < 36) throw new BenchError('--size must be an integer >= 36 (three levels of a radius-4 CC window)')
  const iters = o.values['level-iters']
  const metrics = o.values.metrics.split(',')
  if (!metrics.every((x) => ['CC', 'SSD', 'EM'].includes(x))) throw new BenchError('--metrics lists CC, SSD and/or EM')
  const { t0, m, unset, notes } = begin(o)
  mkdirSync(DATA, { recursive: true })
  const name = `syn-${n}`
  const input = join(DATA, name)
  if (!existsSync(`${input}.static.f64`)) {
    say(`generating ${name} with DIPY`)
    pythonJson(VENV_PY, 'dipy_syn.py', ['gen', '--out', DATA, '--size', String(n)], { what: 'dipy_syn.py gen' })
  }
  const shape = [n, n, n]
  const rows = withTmp(o, 'vk-syn-', (tmp) =>
    metrics.flatMap((metric) => {
      const argv = ['--input', input, '--shape', shape.join(','), '--level-iters', iters, '--metric', metric]
      const d = contender('DIPY', 'dipy_syn.py', ['run', ...argv, '--dump', join(tmp, `dipy-${metric}.f64`)], { o, tmp, tag: `dipy-${metric}` })
      const ref = readF64(join(tmp, `dipy-${metric}.f64`))
      return threadSet(o).map((threads) => {
        const tag = `vk${threads}-${metric}`
        const v = contender('voxelkit', 'voxelkit_syn.mjs', [...argv, '--threads', String(threads), '--dump', join(tmp, `${tag}.f64`)], { o, tmp, tag })
        const out = readF64(join(tmp, `${tag}.f64`))
        let worst = 0
        for (let i = 0; i < out.length; i++) worst = Math.max(worst, Math.abs(out[i] - ref[i]))
        return { metric, dipy: d, voxelkit: v, max_diff_voxel: worst, iterations: v.iterations }
      })
    }),
  )
  const voxels = n * n * n
  const head = ['metric', 'input', ...versusHead(), 'peak RSS MiB DIPY / vk', 'iterations', 'max |forward diff| (voxel)']
  const cells = rows.map((r) => [r.metric, `${n}³ synthetic, levelIters [${iters}]`, ...versusCells(voxels, r.dipy, r.voxelkit, { unit: 's', digits: 2 }), rssCell(r.dipy, r.voxelkit), `[${r.iterations}]`, r.max_diff_voxel === 0 ? '0 (identical)' : r.max_diff_voxel.toExponential(1)])
  finishMachine(m, t0)
  const markdown = `${header(`SyN registration (${metrics.join(', ')})`, m, `median of ${o.samples} runs per contender, each in its own process.`, { notes })}${markdownTable(head, cells, ['metric', 'input', 'threads DIPY / vk'])}\n`
  writeRecord(o, 'syn', { machine: m, settings: { ...baseSettings(o, unset), size: n, level_iters: iters, metrics }, rows, markdown }, { t0 })
}

/** Pearson correlation of a and b over all voxels (the static grid). */
function ncc(a, b) {
  let sa = 0, sb = 0
  for (let i = 0; i < a.length; i++) (sa += a[i]), (sb += b[i])
  const ma = sa / a.length, mb = sb / b.length
  let ab = 0, aa = 0, bb = 0
  for (let i = 0; i < a.length; i++) {
    const x = a[i] - ma, y = b[i] - mb
    ab += x * y
    aa += x * x
    bb += y * y
  }
  return ab / Math.sqrt(aa * bb)
}

const ANTS_VENV = join(HERE, '.venv-ants')

function brainPair(o) {
  const iters = o.values['level-iters']
  const { t0, m, unset, notes, vk } = begin(o)
  const ants = setupVenv(o, { venv: ANTS_VENV, requirements: [join(HERE, 'requirements-ants.txt')], report: ['antspyx', 'numpy'] })
  m.antspyx = ants.antspyx
  mkdirSync(DATA, { recursive: true })
  const pair = join(DATA, 'brain-pair.json')
  if (!existsSync(pair)) {
    const shared = join(SHARED_REFERENCE, 'pyradiomics')
    if (!existsSync(join(shared, 'brain1_image.nrrd'))) throw new BenchError(`missing ${shared}: the brain pair needs ../shared/reference beside the repository`)
    say('pre-aligning brain2 to brain1 with DIPY affine_registration (once)')
    pythonJson(VENV_PY, 'dipy_syn.py', ['gen-brain', '--shared', shared, '--out', pair], { what: 'dipy_syn.py gen-brain' })
  }
  const st = vk.readVolumeSync(JSON.parse(readFileSync(pair, 'utf8')).static)
  const stat = Float64Array.from(st.data)
  const voxels = stat.length
  const argv = ['--pair', pair, '--level-iters', iters]
  const rows = withTmp(o, 'vk-syn-brain-', (tmp) => {
    const d = contender('DIPY', 'dipy_syn.py', ['run', ...argv, '--metric', 'CC', '--dump', join(tmp, 'dipy.f64'), '--dump-warped', join(tmp, 'dipy-w.f64')], { o, tmp, tag: 'dipy' })
    const ref = readF64(join(tmp, 'dipy.f64'))
    const dipyNcc = ncc(stat, readF64(join(tmp, 'dipy-w.f64')))
    const out = []
    for (const threads of threadSet(o)) {
      const tag = `vk${threads}`
      const v = contender('voxelkit', 'voxelkit_syn.mjs', [...argv, '--metric', 'CC', '--threads', String(threads), '--dump', join(tmp, `${tag}.f64`), '--dump-warped', join(tmp, `${tag}-w.f64`)], { o, tmp, tag })
      const f = readF64(join(tmp, `${tag}.f64`))
      let worst = 0
      for (let i = 0; i < f.length; i++) worst = Math.max(worst, Math.abs(f[i] - ref[i]))
      const a = contender('ANTs', 'ants_syn.py', ['run', ...argv, '--threads', String(threads), '--dump-warped', join(tmp, `ants${threads}-w.f64`)], { o, tmp, tag: `ants${threads}`, python: venvPython(ANTS_VENV) })
      out.push({ threads, dipy: d, voxelkit: v, ants: a, max_diff_voxel: worst, iterations: v.iterations, ncc: { dipy: dipyNcc, voxelkit: ncc(stat, readF64(join(tmp, `${tag}-w.f64`))), ants: ncc(stat, readF64(join(tmp, `ants${threads}-w.f64`))) } })
    }
    return out
  })
  const head = ['threads DIPY / vk / ANTs', 'DIPY', 'voxelkit', 'ANTs', 'DIPY / voxelkit', 'ANTs / voxelkit', 'peak RSS MiB DIPY / vk / ANTs', 'NCC DIPY / vk / ANTs', 'max |forward diff| vs DIPY (mm)']
  const sec = (r) => `${r.stats.median.toFixed(2)} s`
  const cells = rows.map((r) => [`1 / ${r.threads} / ${r.threads}`, sec(r.dipy), sec(r.voxelkit), sec(r.ants), `${(r.dipy.stats.median / r.voxelkit.stats.median).toFixed(2)}x`, `${(r.ants.stats.median / r.voxelkit.stats.median).toFixed(2)}x`, [r.dipy, r.voxelkit, r.ants].map((c) => c.peak_rss_mib.toFixed(0)).join(' / '), [r.ncc.dipy, r.ncc.voxelkit, r.ncc.ants].map((x) => x.toFixed(4)).join(' / '), r.max_diff_voxel === 0 ? '0 (identical)' : r.max_diff_voxel.toExponential(1)])
  finishMachine(m, t0)
  const markdown = `${header(`SyN, CC, levelIters [${iters}], brain1 <- brain2 (${st.shape.join('x')}, ${voxels.toLocaleString('en-US')} voxels)`, m, `median of ${o.samples} runs per contender, each in its own process; ANTs ${m.antspyx} (antspyx SyNOnly, CC radius 4, same prealign).`, { notes })}${markdownTable(head, cells, [])}\n`
  writeRecord(o, 'syn-brain', { machine: m, settings: { ...baseSettings(o, unset), pair: 'brain', level_iters: iters }, rows, markdown }, { t0 })
}

cli(main)
