#!/usr/bin/env node
// Cross-language DTI benchmark: voxelkit against DIPY 1.12.1, side by side on one machine.
// See benches/README.md and shared/design/BENCHMARKS.md.
//
//   node benches/run.mjs [filters...] [--samples N] [--warmup N] [--methods WLS,OLS,NLLS,RESTORE]
//                        [--threads N] [--no-io] [--out FILE] [--timeout S] [--keep-tmp]
//
// filters: `dti` (everything), an input (`dti-64`, `dti-101`, `dti-101x4`, `dti-101-outliers`), an input and
// method (`dti-64/WLS`), or `io` (only the I/O rows); `*` is a wildcard (`dti-101*`).
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { BenchError, baseSettings, begin, cli, compareDumps, contender, dataFiles, efficiencyLine, finishMachine } from './lib.mjs'
import { fitRow, generate, header, markdownTable, matcher, needShared, parallelEfficiency, rssCell, runnerArgs } from './lib.mjs'
import { say, sci, threadSet, versusCells, versusHead, withTmp, writeRecord } from './lib.mjs'

const ALL_METHODS = ['WLS', 'OLS', 'NLLS', 'RESTORE']
// the methods each input is benched with: DIPY's NLLS costs ~0.1 ms and RESTORE ~1 ms per voxel,
// so they run on dti-101 (NLLS) and on the smaller dti-101-outliers (3 % outlier volumes)
const METHODS_OF = {
  'dti-64': ['WLS', 'OLS'],
  'dti-101': ['WLS', 'OLS', 'NLLS'],
  'dti-101x4': ['WLS', 'OLS'],
  'dti-101-outliers': ['NLLS', 'RESTORE'],
}
const INPUTS = Object.keys(METHODS_OF)

// ---------------------------------------------------------------- arguments
function args() {
  const o = runnerArgs(import.meta.url, {
    options: { methods: { type: 'string', default: ALL_METHODS.join(',') }, 'no-io': { type: 'boolean', default: false } },
  })
  const methods = o.values.methods.split(',').map((m) => m.trim().toUpperCase()).filter(Boolean)
  for (const m of methods) if (!ALL_METHODS.includes(m)) throw new BenchError(`--methods: unknown method ${m} (${ALL_METHODS.join(', ')})`)
  return { ...o, methods, io: !o.values['no-io'] }
}

// ---------------------------------------------------------------- measuring
/** One contender process: mode `fit` (extra: method, threads) or `io`; fit outputs dumped to tmp/tag. */
function runContender(kind, mode, inp, extra, o, tmp, tag) {
  const dump = mode === 'fit' ? join(tmp, tag) : undefined
  const argv = [mode, '--data', inp.nii, ...(mode === 'fit' ? ['--bval', inp.bval, '--bvec', inp.bvec, '--method', extra.method, '--dump', dump] : [])]
  const r =
    kind === 'dipy'
      ? contender('DIPY', 'dipy_dti.py', argv, { o, tmp, tag })
      : contender('voxelkit', 'voxelkit_dti.mjs', [...argv, ...(mode === 'fit' ? ['--threads', String(extra.threads)] : [])], { o, tmp, tag })
  r.dump = dump
  return r
}

/** Max |a-b| / max|λ| of the voxel (both sides) for evals, max |a-b| for FA; NaN-aware. */
const compare = (dirA, dirB) => compareDumps(dirA, dirB, { scalars: ['fa'] })

// ---------------------------------------------------------------- formatting
function diffCell(c) {
  if (!c) return '—'
  return `${sci(c.max_rel_diff_evals)} / ${sci(c.max_abs_diff_fa)}${c.nan_mismatches ? ` (${c.nan_mismatches} NaN mismatches)` : ''}`
}

function table(rows) {
  const head = ['kernel', 'input', ...versusHead(), 'µs/voxel DIPY / vk', 'peak RSS MiB DIPY / vk', 'in / out MiB', 'max diff evals / FA']
  const cells = rows.map((r) => {
    const io = r.kernel === 'io'
    return [
      io ? 'read .nii' : `DTI ${r.method} + FA/MD/AD/RD`,
      r.input,
      ...versusCells(r.voxels, r.dipy, r.voxelkit),
      io ? '—' : `${r.dipy.us_per_voxel.toFixed(2)} / ${r.voxelkit.us_per_voxel.toFixed(3)}`,
      rssCell(r.dipy, r.voxelkit),
      io ? `${r.input_mib.toFixed(1)} / —` : `${r.input_mib.toFixed(1)} / ${r.output_mib.toFixed(1)}`,
      diffCell(r.diff),
    ]
  })
  return markdownTable(head, cells, ['kernel', 'input', 'threads DIPY / vk'])
}

// ---------------------------------------------------------------- main
function main() {
  const o = args()
  const match = matcher(o.filters)

  // what to run
  const plan = []
  for (const input of INPUTS) {
    const io = o.io && input !== 'dti-101-outliers' && match('dti', input, 'io', `${input}/io`)
    const methods = o.methods.filter((m) => METHODS_OF[input].includes(m) && match('dti', input, `${input}/${m}`, m))
    if (io || methods.length) plan.push({ input, io, methods })
  }
  if (plan.length === 0) throw new BenchError(`no bench matches ${o.filters.join(' ')} (inputs: ${INPUTS.join(', ')}; methods: ${ALL_METHODS.join(', ')}; or io)`)
  needShared(o.shared)
  const { t0, m, unset, notes } = begin(o)
  const manifest = generate(o, plan.map((p) => p.input))

  const rows = []
  const efficiency = []
  withTmp(o, 'voxelkit-bench-', (tmp) => {
    for (const p of plan) {
      const mf = manifest[p.input]
      const inp = dataFiles(p.input)
      if (p.io) {
        say(`\n== ${p.input}: I/O (${mf.shape.join('x')} ${mf.dtype}, ${mf.data_mib.toFixed(1)} MiB)`)
        const d = runContender('dipy', 'io', inp, {}, o, tmp, `${p.input}-io-dipy`)
        const v = runContender('voxelkit', 'io', inp, {}, o, tmp, `${p.input}-io-vk`)
        rows.push({
          kernel: 'io',
          input: p.input,
          voxels: mf.voxels,
          input_mib: mf.data_mib,
          dipy: { label: 'nibabel.load(mmap=False) + np.asanyarray(dataobj)', threads: 1, stats: d.stats, peak_rss_mib: d.peak_rss_mib },
          voxelkit: { label: 'readVolumeSync', threads: 1, stats: v.stats, peak_rss_mib: v.peak_rss_mib },
          ratio: d.stats.median / v.stats.median,
        })
      }
      for (const method of p.methods) {
        say(`\n== ${p.input}: DTI ${method} (${mf.voxels.toLocaleString('en-US')} voxels x ${mf.volumes} volumes, ${o.warmup} warm-up + ${o.samples} samples each)`)
        const d = runContender('dipy', 'fit', inp, { method }, o, tmp, `${p.input}-${method}-dipy`)
        const vks = threadSet(o).map((threads) => runContender('voxelkit', 'fit', inp, { method, threads }, o, tmp, `${p.input}-${method}-vk${threads}`))
        for (const v of vks) {
          rows.push({ kernel: 'dti', method, input: p.input, ...fitRow(mf, d, v), diff: compare(v.dump, d.dump) })
        }
        if (vks.length > 1) efficiency.push(parallelEfficiency({ input: p.input, method }, vks[0], vks[1], compare(vks[0].dump, vks[1].dump).bitwise_identical))
        if (!o.keepTmp) for (const r of [d, ...vks]) rmSync(r.dump, { recursive: true, force: true })
      }
    }
  })

  // per-voxel cost at two sizes (dti-101 vs dti-101x4)
  const scaling = []
  for (const method of o.methods) {
    const small = rows.filter((r) => r.kernel === 'dti' && r.input === 'dti-101' && r.method === method)
    const big = rows.filter((r) => r.kernel === 'dti' && r.input === 'dti-101x4' && r.method === method)
    for (const s of small) {
      const b = big.find((x) => x.voxelkit.threads === s.voxelkit.threads)
      if (!b) continue
      if (s.voxelkit.threads === 1) {
        scaling.push({ method, who: 'DIPY', threads: 1, small_us: s.dipy.us_per_voxel, big_us: b.dipy.us_per_voxel })
      }
      scaling.push({ method, who: 'voxelkit', threads: s.voxelkit.threads, small_us: s.voxelkit.us_per_voxel, big_us: b.voxelkit.us_per_voxel })
    }
  }

  finishMachine(m, t0)
  const effLines = efficiency.map((e) => efficiencyLine(e, `${e.input} ${e.method}`, 'maps'))
  const scaleLines = scaling.map(
    (s) =>
      `- ${s.method} ${s.who} ${s.threads} thread${s.threads > 1 ? 's' : ''}: ${s.small_us.toFixed(3)} µs/voxel (dti-101) -> ${s.big_us.toFixed(3)} µs/voxel (dti-101x4, 4x voxels): x${(s.big_us / s.small_us).toFixed(2)}`,
  )
  const md = [
    header(
      `DTI: voxelkit ${m.voxelkit} vs DIPY ${m.dipy}`,
      m,
      `${o.warmup} warm-up + ${o.samples} timed samples per contender, each contender in its own process; time = kernel call (fit + FA, MD, AD, RD), no mask; DIPY with OMP/OPENBLAS/MKL_NUM_THREADS=1.`,
      { notes },
    ),
    table(rows),
    '',
    'Ratio = DIPY median / voxelkit median (DIPY always at 1 thread). Peak RSS of the fit process includes the runtime, the input and the outputs (in / out MiB); memory overhead = peak - in - out. Max diff: eigenvalues relative to the voxel\'s largest |λ|, FA absolute, voxelkit vs DIPY on the last sample.',
    ...(effLines.length ? ['', 'Parallel efficiency (speed-up at all cores / cores):', ...effLines] : []),
    ...(scaleLines.length ? ['', 'Per-voxel cost at two sizes:', ...scaleLines] : []),
    '',
  ].join('\n')

  writeRecord(o, 'dti', {
    machine: m,
    settings: {
      ...baseSettings(o, unset),
      methods: o.methods,
      timed_region: {
        dipy: 'TensorModel(gtab, fit_method=M).fit(data); fit.fa, fit.md, fit.ad, fit.rd',
        voxelkit: 'fitDtiSync(dwi, gtab, { method, threads }); .fa() .md() .ad() .rd()',
      },
    },
    inputs: Object.fromEntries(plan.map((p) => [p.input, manifest[p.input]])),
    rows,
    parallel_efficiency: efficiency,
    per_voxel_scaling: scaling,
    markdown: md,
  })
}

cli(main)
