#!/usr/bin/env node
// SyN bench: voxelkit registerSyN against DIPY 1.12.1 SymmetricDiffeomorphicRegistration with the
// CC, SSD and EM metrics (DIPY's defaults), side by side on one machine
// (shared/design/BENCHMARKS.md). Run by hand.
//
//   node benches/syn.mjs [--size N] [--level-iters 10,10,5] [--metrics CC,SSD,EM] [--samples N] [--warmup N] [--threads N] [--out FILE]
//
// Input: a synthetic 3D pair of N^3 voxels (default 80: a textured ball and its warp by a known
// smooth field, benches/dipy_syn.py gen), read by both sides. DIPY runs at 1 thread
// (OMP/OPENBLAS/MKL_NUM_THREADS=1), voxelkit at 1 thread and at all cores, each in its own process
// (peak RSS reported). The correctness check rides along: the largest difference between DIPY's
// and voxelkit's mapping.forward (voxels), and the iteration counts.
import { join } from 'node:path'
import { existsSync, mkdirSync } from 'node:fs'
import { BenchError, DATA, VENV_PY, baseSettings, begin, cli, contender, finishMachine, header } from './lib.mjs'
import { markdownTable, pythonJson, readF64, rssCell, runnerArgs, say, threadSet, versusCells, versusHead, withTmp, writeRecord } from './lib.mjs'

function main() {
  const o = runnerArgs(import.meta.url, {
    options: { size: { type: 'string', default: '80' }, 'level-iters': { type: 'string', default: '10,10,5' }, metrics: { type: 'string', default: 'CC,SSD,EM' } },
    defaults: { samples: '3', warmup: '0' },
    omit: ['shared'],
  })
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

cli(main)
