#!/usr/bin/env node
// Cross-language field bench: voxelkit invertField / composeFields / warpVolume against DIPY
// 1.12.1 dipy.align.vector_fields, side by side on one machine (shared/design/BENCHMARKS.md).
//
//   node benches/fields.mjs [filters...] [--samples N] [--warmup N] [--threads N] [--out FILE]
//
// filters: an input (`field-128`, `field-256`), an op (`invert`, `compose`, `warp`) or both
// (`field-128/invert`); `*` is a wildcard. Inputs: smooth random fields of 128x128x96 and
// 256x256x192 voxels (at most 2 voxels of displacement), written once to benches/data by
// benches/dipy_fields.py gen and read by both sides. DIPY runs at 1 thread
// (OMP/OPENBLAS/MKL_NUM_THREADS=1), voxelkit at 1 thread and at all cores; each contender runs
// in its own process (peak RSS reported). Every row also reports the largest difference from
// DIPY's output (inverse in voxels; composition in voxels; warp relative to the image range).
import { join } from 'node:path'
import { BenchError, DATA, VENV_PY, baseSettings, begin, cli, contender, efficiencyLine, finishMachine, header } from './lib.mjs'
import { markdownTable, matcher, parallelEfficiency, pythonJson, readF64, rel, rssCell, runnerArgs, say } from './lib.mjs'
import { threadSet, versusCells, versusHead, withTmp, writeRecord } from './lib.mjs'

const INPUTS = ['field-128', 'field-256']
const OPS = ['invert', 'compose', 'warp']
const LABEL = { invert: 'invert (maxIter 20, tol 1e-3)', compose: 'compose d1 ∘ d2', warp: 'warp, trilinear' }

/** Largest difference: fields per voxel (vector norm, voxel units on the identity grid), images relative. */
function compare(op, a, b, img) {
  if (a.length !== b.length) throw new BenchError(`output sizes differ: ${a.length} / ${b.length}`)
  let worst = 0
  let identical = true
  if (op === 'warp') {
    let scale = 0
    for (const v of img) scale = Math.max(scale, Math.abs(v))
    for (let i = 0; i < a.length; i++) {
      if (!Object.is(a[i], b[i])) identical = false
      worst = Math.max(worst, Math.abs(a[i] - b[i]) / scale)
    }
  } else {
    const n = a.length / 3
    for (let v = 0; v < n; v++) {
      let s = 0
      for (let c = 0; c < 3; c++) {
        const d = a[c * n + v] - b[c * n + v]
        if (d !== 0) identical = false
        s += d * d
      }
      worst = Math.max(worst, Math.sqrt(s))
    }
  }
  return { max_diff: worst, bitwise_identical: identical }
}

/** One contender process (DIPY, or voxelkit at `threads`); its output dumped to tmp/tag.f64. */
function runContender(kind, op, input, shape, threads, o, tmp) {
  const tag = `${input}-${op}-${kind}${threads}`
  const dump = join(tmp, `${tag}.f64`)
  const argv = ['--op', op, '--input', join(DATA, input), '--dump', dump]
  const r =
    kind === 'dipy'
      ? contender('DIPY', 'dipy_fields.py', ['run', ...argv], { o, tmp, tag })
      : contender('voxelkit', 'voxelkit_fields.mjs', [...argv, '--shape', shape.join(','), '--threads', String(threads)], { o, tmp, tag })
  r.dump = dump
  return r
}

function table(rows) {
  const head = ['kernel', 'input', ...versusHead(), 'ns/voxel DIPY / vk', 'peak RSS MiB DIPY / vk', 'max diff vs DIPY']
  const cells = rows.map((r) => [
    `${LABEL[r.op]}${r.vk_stats?.iterations !== undefined ? `, ${r.vk_stats.iterations} it.` : ''}`,
    r.input,
    ...versusCells(r.voxels, r.dipy, r.voxelkit, { unit: 'ms', digits: 2 }),
    `${((r.dipy.stats.median / r.voxels) * 1e9).toFixed(1)} / ${((r.voxelkit.stats.median / r.voxels) * 1e9).toFixed(1)}`,
    rssCell(r.dipy, r.voxelkit),
    r.diff.bitwise_identical ? '0 (identical)' : `${r.diff.max_diff.toExponential(1)}${r.op === 'warp' ? ' (rel.)' : ' voxel'}`,
  ])
  return markdownTable(head, cells, ['kernel', 'input', 'threads DIPY / vk'])
}

function main() {
  const o = runnerArgs(import.meta.url, { omit: ['shared'] })
  const match = matcher(o.filters)
  const plan = []
  for (const input of INPUTS) for (const op of OPS) if (match(input, op, `${input}/${op}`, 'fields')) plan.push({ input, op })
  if (!plan.length) throw new BenchError(`no bench matches ${o.filters.join(' ')} (inputs: ${INPUTS.join(', ')}; ops: ${OPS.join(', ')})`)
  const { t0, m, unset, notes } = begin(o)
  const inputs = [...new Set(plan.map((p) => p.input))]
  say(`inputs: ${inputs.join(', ')} in ${rel(DATA)} (generated if missing)`)
  const manifest = pythonJson(VENV_PY, 'dipy_fields.py', ['gen', '--out', DATA, ...inputs], { what: 'dipy_fields.py gen' })
  const rows = []
  const efficiency = []
  withTmp(o, 'voxelkit-fields-bench-', (tmp) => {
    for (const { input, op } of plan) {
      const mf = manifest[input]
      say(`\n== ${input} ${op} (${mf.shape.join('x')}, ${o.warmup} warm-up + ${o.samples} samples each)`)
      const d = runContender('dipy', op, input, mf.shape, 1, o, tmp)
      const vks = threadSet(o).map((t) => runContender('voxelkit', op, input, mf.shape, t, o, tmp))
      // the outputs are read once every contender has run (the runner's memory stays small meanwhile)
      const img = op === 'warp' ? readF64(join(DATA, `${input}.img.f64`)) : null
      const dOut = readF64(d.dump)
      const outs = vks.map((v) => readF64(v.dump))
      for (const [i, v] of vks.entries()) {
        rows.push({
          input,
          op,
          voxels: mf.voxels,
          dipy: { threads: 1, stats: d.stats, peak_rss_mib: d.peak_rss_mib },
          voxelkit: { threads: v.threads, stats: v.stats, peak_rss_mib: v.peak_rss_mib },
          vk_stats: v.op_stats ?? null,
          ratio: d.stats.median / v.stats.median,
          diff: compare(op, outs[i], dOut, img),
          field_mib: mf.field_mib,
        })
      }
      if (vks.length > 1) efficiency.push(parallelEfficiency({ input, op }, vks[0], vks[1], compare(op, outs[0], outs[1], img).bitwise_identical))
    }
  })
  finishMachine(m, t0)
  const md = [
    header(
      `Registration fields: voxelkit ${m.voxelkit} vs DIPY ${m.dipy}`,
      m,
      `${o.warmup} warm-up + ${o.samples} timed samples per contender, each in its own process, same input files; time = the kernel call. DIPY at 1 thread (OMP/OPENBLAS/MKL_NUM_THREADS=1).`,
      { notes },
    ),
    table(rows),
    '',
    ...(efficiency.length ? ['Parallel efficiency (speed-up at all cores / cores):', ...efficiency.map((e) => efficiencyLine(e, `${e.input} ${e.op}`)), ''] : []),
  ].join('\n')
  writeRecord(o, 'fields', {
    machine: m,
    settings: baseSettings(o, unset),
    inputs: manifest,
    rows,
    parallel_efficiency: efficiency,
    markdown: md,
  })
}

cli(main)
