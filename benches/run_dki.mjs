#!/usr/bin/env node
// Cross-language DKI benchmark: voxelkit against DIPY 1.12.1, side by side on one machine.
// See benches/README.md and shared/design/BENCHMARKS.md.
//
//   node benches/run_dki.mjs [filters...] [--samples N] [--warmup N] [--threads N]
//                            [--out FILE] [--timeout S] [--keep-tmp]
//
// filters: `dki` (everything), an input (`dki-3shell`, `dki-3shell-cls`), a row
// (`dki-3shell/WLS`, `/fit`, `/maps`, `/predict`, `/OLS`, `dki-3shell-cls/CLS`, `/CWLS`) or a
// row name alone (`predict`, `CLS`); `*` is a wildcard.
import { rmSync } from 'node:fs'
import { join } from 'node:path'
import { BenchError, REQUIREMENTS, ROOT, baseSettings, begin, cli, compareDumps, contender, dataFiles, efficiencyLine } from './lib.mjs'
import { finishMachine, fitRow, generate, header, markdownTable, matcher, needShared, parallelEfficiency, readF64 } from './lib.mjs'
import { rssCell, runnerArgs, say, sci, threadSet, versusCells, versusHead, withTmp, writeRecord } from './lib.mjs'

const INPUTS = ['dki-3shell', 'dki-3shell-cls']
// The constrained fits' requirements (cvxpy and its solvers), pinned with their fixtures
const CLS_REQUIREMENTS = join(ROOT, 'fixtures', 'dipy_dki_cls', 'requirements.txt')
// DIPY as a user calls it, and for the constrained fits also DIPY made to solve its SDPs well:
// b in ms/µm² (well-scaled problems) and Clarabel (an interior-point solver, as voxelkit uses)
const DIPY_PLAIN = [{ key: 'dipy', label: 'DIPY', args: [] }]
const DIPY_CONSTRAINED = [
  { key: 'dipy', label: 'DIPY default (s/mm², cvxpy picks SCS)', args: [] },
  { key: 'dipy-ms-clarabel', label: 'DIPY b in ms/µm² + Clarabel', args: ['--units', 'ms', '--solver', 'CLARABEL'] },
]
// mode: what the contender scripts time (see dipy_dki.py / voxelkit_dki.mjs)
const ROWS = [
  { name: 'WLS', mode: 'all', method: 'WLS', kernel: 'DKI WLS fit + FA/MD/MK/AK/RK/KFA' },
  { name: 'fit', mode: 'fit', method: 'WLS', kernel: 'DKI WLS fit' },
  { name: 'maps', mode: 'maps', method: 'WLS', kernel: 'MK/AK/RK/KFA on a WLS fit' },
  { name: 'predict', mode: 'predict', method: 'WLS', kernel: 'predict (S0 = 1) on a WLS fit' },
  { name: 'OLS', mode: 'all', method: 'OLS', kernel: 'DKI OLS fit + FA/MD/MK/AK/RK/KFA' },
  { name: 'CLS', input: 'dki-3shell-cls', mode: 'fit', method: 'CLS', kernel: 'DKI CLS fit', dipy: DIPY_CONSTRAINED },
  { name: 'CWLS', input: 'dki-3shell-cls', mode: 'fit', method: 'CWLS', kernel: 'DKI CWLS fit', dipy: DIPY_CONSTRAINED },
].map((r) => ({ input: 'dki-3shell', dipy: DIPY_PLAIN, ...r }))
const constrainedRow = (r) => r.method === 'CLS' || r.method === 'CWLS'
const TIMED = {
  all: {
    dipy: 'DiffusionKurtosisModel(gtab, fit_method=M).fit(data); fit.fa, fit.md, fit.mk(), fit.ak(), fit.rk(), fit.kfa',
    voxelkit: 'fitDkiSync(dwi, gtab, { method, threads }); .fa() .md() .mk() .ak() .rk() .kfa()',
  },
  fit: { dipy: 'DiffusionKurtosisModel(gtab, fit_method=M).fit(data)', voxelkit: 'fitDkiSync(dwi, gtab, { method, threads })' },
  maps: { dipy: 'fit.mk(), fit.ak(), fit.rk(), fit.kfa', voxelkit: 'fit.mk() .ak() .rk() .kfa()' },
  predict: { dipy: 'fit.predict(gtab)', voxelkit: 'fit.predictSync(gtab, { threads })' },
}
// The issue's DIPY figures (1 thread, 20,000 voxels), µs per voxel, for context only
const ISSUE_DIPY_US = { WLS: 550, fit: 280, maps: 210, predict: 215 }
// The issue's targets
const TARGET_RATIO = { WLS: 30, predict: 30 }
const TARGET_EFFICIENCY = 0.8
const TARGET_OVERHEAD_MIB = 64

// ---------------------------------------------------------------- measuring
/** One contender process (DIPY in `variant`, or voxelkit at `threads`); outputs dumped to tmp/tag. */
function runContender(kind, row, inp, threads, o, tmp, tag, variant = DIPY_PLAIN[0]) {
  const dump = join(tmp, tag)
  const argv = [row.mode, '--data', inp.nii, '--bval', inp.bval, '--bvec', inp.bvec, '--method', row.method, '--dump', dump]
  const r =
    kind === 'dipy'
      ? contender('DIPY', 'dipy_dki.py', [...argv, ...variant.args], { o, tmp, tag })
      : contender('voxelkit', 'voxelkit_dki.mjs', [...argv, '--threads', String(threads)], { o, tmp, tag })
  r.dump = dump
  return r
}

function compare(row, dirA, dirB) {
  const c = compareDumps(dirA, dirB, { scalars: ['fa', 'mk'], ...(row.mode === 'predict' ? { signal: 'pred' } : {}) })
  if (constrainedRow(row)) {
    // the voxels the constraint moved: the same ones on both sides?
    const a = readF64(join(dirA, 'moved.f64'))
    const b = readF64(join(dirB, 'moved.f64'))
    if (a.length !== b.length) throw new BenchError(`output sizes differ: moved ${a.length} / ${b.length}`)
    let differ = 0
    for (let i = 0; i < a.length; i++) if (a[i] !== b[i]) differ++
    c.moved_voxels_differ = differ
    if (differ) c.bitwise_identical = false
  }
  return c
}

// ---------------------------------------------------------------- formatting
function diffCell(r) {
  const c = r.diff
  const nan = c.nan_mismatches ? ` (${c.nan_mismatches} NaN mismatches)` : ''
  if (r.mode === 'predict') return `signal ${sci(c.max_rel_diff_pred)} (rel.)${nan}`
  return `${sci(c.max_rel_diff_evals)} / ${sci(c.max_abs_diff_fa)} / ${sci(c.max_abs_diff_mk)}${nan}`
}

function table(rows) {
  const cls = rows.some((r) => constrainedRow(r))
  const head = [
    'row',
    'kernel',
    ...(cls ? ['reference', 'moved by the constraint DIPY / vk (differ)', 'failed DIPY / vk'] : []),
    ...versusHead(),
    'µs/voxel DIPY / vk',
    'peak RSS MiB DIPY / vk',
    'in / out MiB',
    'max diff evals / FA / MK',
  ]
  const cells = rows.map((r) => [
    `${r.input}/${r.name}`,
    r.kernel,
    ...(cls ? [r.reference, `${r.dipy.moved_voxels} / ${r.voxelkit.moved_voxels} (${r.diff.moved_voxels_differ})`, `${r.dipy.failed_voxels} / ${r.voxelkit.failed_voxels}`] : []),
    ...versusCells(r.voxels, r.dipy, r.voxelkit),
    `${r.dipy.us_per_voxel.toFixed(1)} / ${r.voxelkit.us_per_voxel.toFixed(r.voxelkit.us_per_voxel >= 100 ? 0 : 2)}`,
    rssCell(r.dipy, r.voxelkit),
    `${r.input_mib.toFixed(1)} / ${r.output_mib.toFixed(1)}`,
    diffCell(r),
  ])
  return markdownTable(head, cells, ['row', 'kernel', 'reference', 'threads DIPY / vk'])
}

// ---------------------------------------------------------------- main
function main() {
  const o = runnerArgs(import.meta.url)
  const match = matcher(o.filters)

  const plan = []
  for (const input of INPUTS) {
    const rows = ROWS.filter((r) => r.input === input && match('dki', input, `${input}/${r.name}`, r.name))
    if (rows.length) plan.push({ input, rows })
  }
  if (plan.length === 0) {
    throw new BenchError(`no bench matches ${o.filters.join(' ')} (inputs: ${INPUTS.join(', ')}; rows: ${ROWS.map((r) => r.name).join(', ')})`)
  }
  needShared(o.shared)
  const { t0, m, unset, notes } = begin(o, { requirements: [REQUIREMENTS, ...(plan.some((p) => p.rows.some(constrainedRow)) ? [CLS_REQUIREMENTS] : [])] })
  const manifest = generate(o, plan.map((p) => p.input))

  const rows = []
  const efficiency = []
  withTmp(o, 'voxelkit-bench-dki-', (tmp) => {
    for (const p of plan) {
      const mf = manifest[p.input]
      const inp = dataFiles(p.input)
      for (const row of p.rows) {
        say(`\n== ${p.input}/${row.name}: ${row.kernel} (${mf.voxels.toLocaleString('en-US')} voxels x ${mf.volumes} volumes, ${o.warmup} warm-up + ${o.samples} samples each)`)
        const tag = `${p.input}-${row.name}`
        const ds = row.dipy.map((variant) => ({ variant, r: runContender('dipy', row, inp, 1, o, tmp, `${tag}-${variant.key}`, variant) }))
        const vks = threadSet(o).map((threads) => runContender('voxelkit', row, inp, threads, o, tmp, `${tag}-vk${threads}`))
        for (const [k, { variant, r: d }] of ds.entries()) for (const v of vks) {
          rows.push({
            reference: variant.label,
            first_reference: k === 0,
            kernel: row.kernel,
            name: row.name,
            mode: row.mode,
            method: row.method,
            input: p.input,
            ...fitRow(mf, d, v),
            diff: compare(row, v.dump, d.dump),
          })
        }
        if (vks.length > 1) efficiency.push(parallelEfficiency({ input: p.input, row: row.name }, vks[0], vks[1], compare(row, vks[0].dump, vks[1].dump).bitwise_identical))
        if (!o.keepTmp) for (const r of [...ds.map((x) => x.r), ...vks]) rmSync(r.dump, { recursive: true, force: true })
      }
    }
  })

  // the issue's targets, checked on this run
  const targets = []
  for (const r of rows.filter((x) => x.first_reference)) {
    if (r.voxelkit.threads === 1 && TARGET_RATIO[r.name] !== undefined) {
      targets.push({ what: `${r.input}/${r.name} ratio at 1 thread`, target: `>= ${TARGET_RATIO[r.name]}x`, value: `${r.ratio.toFixed(1)}x`, met: r.ratio >= TARGET_RATIO[r.name] })
    }
    targets.push({
      what: `${r.input}/${r.name} voxelkit ${r.voxelkit.threads} thr peak RSS - in - out`,
      target: `<= ${TARGET_OVERHEAD_MIB} MiB`,
      value: `${r.voxelkit.overhead_mib.toFixed(0)} MiB`,
      met: r.voxelkit.overhead_mib <= TARGET_OVERHEAD_MIB,
    })
  }
  for (const e of efficiency) {
    targets.push({ what: `${e.input}/${e.row} parallel efficiency at ${e.threads} threads`, target: `>= ${TARGET_EFFICIENCY}`, value: e.efficiency.toFixed(2), met: e.efficiency >= TARGET_EFFICIENCY })
  }

  finishMachine(m, t0)
  const inputLines = plan.map((p) => {
    const mf = manifest[p.input]
    return `Input ${p.input}: ${mf.shape.join('x')} ${mf.dtype}, multi-compartment kurtosis phantom on ${mf.source.split('/').pop()} (b = ${Object.keys(mf.shells).join('/')}; ${Object.values(mf.shells).join('/')} volumes), Rician noise, SNR ${mf.settings.snr} at S0 ${mf.settings.s0}, seed ${mf.settings.seed} (benches/gen_data.py).`
  })
  const effLines = efficiency.map((e) => efficiencyLine(e, `${e.input}/${e.row}`))
  const issueLines = rows
    .filter((r) => r.voxelkit.threads === 1 && ISSUE_DIPY_US[r.name] !== undefined)
    .map((r) => `${r.name} ${r.dipy.us_per_voxel.toFixed(0)} µs/voxel (issue: ~${ISSUE_DIPY_US[r.name]})`)
  const md = [
    header(
      `DKI: voxelkit ${m.voxelkit} vs DIPY ${m.dipy}`,
      m,
      `${o.warmup} warm-up + ${o.samples} timed samples per contender, each contender in its own process; no mask; DIPY with OMP/OPENBLAS/MKL_NUM_THREADS=1, voxelkit with threads = setThreads = 1 or ${o.allThreads} (fit, maps and predict).`,
      { notes, extra: inputLines },
    ),
    ...(rows.some((r) => !constrainedRow(r)) ? [table(rows.filter((r) => !constrainedRow(r)))] : []),
    ...(rows.some(constrainedRow)
      ? [
          '',
          `Constrained fits (CLS, CWLS) on ${rows.find(constrainedRow).input}, against DIPY as a user calls it and against DIPY with b in ms/µm² and Clarabel (which solves its SDPs to a tight tolerance: the answer to compare with). Moved by the constraint: voxels whose fit differs from the unconstrained OLS/WLS one (DIPY) or whose status is Constrained (voxelkit), and in brackets the voxels where the two sides disagree on that; failed: all-zero parameters (DIPY) or SolverFailed (voxelkit).`,
          '',
          table(rows.filter(constrainedRow)),
        ]
      : []),
    '',
    "Ratio = DIPY median / voxelkit median (DIPY always at 1 thread). Peak RSS of each contender's process includes the runtime, the input and the outputs held (in / out MiB: the data as stored / fit parameters (evals, evecs, kt: 27 float64 per voxel) plus the row's maps or prediction); memory overhead = peak - in - out. Max diff, voxelkit vs DIPY on the last sample: eigenvalues relative to the voxel's largest |λ|, FA and MK absolute; predict: the signal relative to the larger of the two values.",
    ...(effLines.length ? ['', 'Parallel efficiency (speed-up at all cores / cores):', ...effLines] : []),
    ...(targets.length ? ['', "The issue's targets on this run:", ...targets.map((t) => `- ${t.what}: ${t.value} (target ${t.target}): ${t.met ? 'met' : 'NOT met'}`)] : []),
    ...(issueLines.length ? ['', `DIPY on this machine vs the issue's figures: ${issueLines.join('; ')}.`] : []),
    '',
  ].join('\n')

  writeRecord(o, 'dki', {
    machine: m,
    settings: {
      ...baseSettings(o, unset),
      rows: Object.fromEntries(ROWS.map((r) => [r.name, { kernel: r.kernel, method: r.method, timed_region: TIMED[r.mode] }])),
    },
    inputs: Object.fromEntries(plan.map((p) => [p.input, manifest[p.input]])),
    rows,
    parallel_efficiency: efficiency,
    targets,
    markdown: md,
  })
}

cli(main)
