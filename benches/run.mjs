#!/usr/bin/env node
// Cross-language DTI benchmark: voxelkit against DIPY 1.12.1, side by side on one machine.
// See benches/README.md and shared/design/BENCHMARKS.md.
//
//   node benches/run.mjs [filters...] [--samples N] [--warmup N] [--methods WLS,OLS]
//                        [--threads N] [--no-io] [--out FILE] [--timeout S] [--keep-tmp]
//
// filters: `dti` (everything), an input (`dti-64`, `dti-101`, `dti-101x4`), an input and
// method (`dti-64/WLS`), or `io` (only the I/O rows); `*` is a wildcard (`dti-101*`).
import { existsSync, mkdirSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { dirname, join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import os from 'node:os'
import {
  BenchError,
  COMMON_OPTIONS,
  DATA,
  HERE,
  ONE_THREAD,
  RESULTS,
  VENV_PY,
  cli,
  commonSettings,
  compareDumps,
  dayStamp,
  environmentNotes,
  f1,
  generate,
  helpAndExit,
  loadVoxelkit,
  loadavgText,
  machine,
  machineLine,
  matcher,
  refEnv,
  rel,
  run,
  say,
  sci,
  setupVenv,
  span,
  stats,
} from './lib.mjs'

const INPUTS = ['dti-64', 'dti-101', 'dti-101x4']
const ALL_METHODS = ['WLS', 'OLS']

// ---------------------------------------------------------------- arguments
function args() {
  const { values, positionals } = parseArgs({
    allowPositionals: true,
    options: {
      ...COMMON_OPTIONS,
      methods: { type: 'string', default: ALL_METHODS.join(',') },
      'no-io': { type: 'boolean', default: false },
    },
  })
  if (values.help) helpAndExit(import.meta.url, 9)
  const methods = values.methods.split(',').map((m) => m.trim().toUpperCase()).filter(Boolean)
  for (const m of methods) if (!ALL_METHODS.includes(m)) throw new BenchError(`--methods: unknown method ${m} (WLS, OLS)`)
  return { filters: positionals, methods, io: !values['no-io'], ...commonSettings(values) }
}

// ---------------------------------------------------------------- measuring
function contender(kind, mode, inp, extra, o, tmp, tag) {
  const result = join(tmp, `${tag}.json`)
  const common = ['--data', inp.nii, '--samples', String(o.samples), '--warmup', String(o.warmup), '--result', result]
  const fitArgs = mode === 'fit' ? ['--bval', inp.bval, '--bvec', inp.bvec, '--method', extra.method, '--dump', join(tmp, tag)] : []
  const t0 = Date.now()
  if (kind === 'dipy') {
    run(VENV_PY, [join(HERE, 'dipy_dti.py'), mode, ...common, ...fitArgs], { env: refEnv(), timeoutS: o.timeoutS, what: `DIPY ${tag}` })
  } else {
    const thr = mode === 'fit' ? ['--threads', String(extra.threads)] : []
    run(process.execPath, ['--expose-gc', join(HERE, 'voxelkit_dti.mjs'), mode, ...common, ...fitArgs, ...thr], {
      env: process.env,
      timeoutS: o.timeoutS,
      what: `voxelkit ${tag}`,
    })
  }
  const r = JSON.parse(readFileSync(result, 'utf8'))
  r.stats = stats(r.times_s)
  r.process_wall_s = (Date.now() - t0) / 1000
  r.dump = mode === 'fit' ? join(tmp, tag) : undefined
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
  const head = [
    'kernel',
    'input',
    'voxels',
    'threads DIPY / vk',
    'DIPY median (min–max)',
    'voxelkit median (min–max)',
    'DIPY / voxelkit',
    'µs/voxel DIPY / vk',
    'peak RSS MiB DIPY / vk',
    'in / out MiB',
    'max diff evals / FA',
  ]
  const lines = [`| ${head.join(' | ')} |`, `| ${head.map((h, i) => (i >= 2 && i !== 3 ? '---:' : '---')).join(' | ')} |`]
  for (const r of rows) {
    const perVox = r.kernel === 'io' ? '—' : `${r.dipy.us_per_voxel.toFixed(2)} / ${r.voxelkit.us_per_voxel.toFixed(3)}`
    const rss = r.kernel === 'io' ? `${f1(r.dipy.peak_rss_mib)} / ${f1(r.voxelkit.peak_rss_mib)}` : `${f1(r.dipy.peak_rss_mib)} / ${f1(r.voxelkit.peak_rss_mib)}`
    const io = r.kernel === 'io' ? `${r.input_mib.toFixed(1)} / —` : `${r.input_mib.toFixed(1)} / ${r.output_mib.toFixed(1)}`
    lines.push(
      `| ${[
        r.kernel === 'io' ? 'read .nii' : `DTI ${r.method} + FA/MD/AD/RD`,
        r.input,
        r.voxels.toLocaleString('en-US'),
        `${r.dipy.threads} / ${r.voxelkit.threads}`,
        span(r.dipy.stats),
        span(r.voxelkit.stats),
        `${r.ratio.toFixed(1)}x`,
        perVox,
        rss,
        io,
        diffCell(r.diff),
      ].join(' | ')} |`,
    )
  }
  return lines.join('\n')
}

// ---------------------------------------------------------------- main
function main() {
  const o = args()
  const match = matcher(o.filters)
  const t0 = Date.now()
  const vk = loadVoxelkit()

  // what to run
  const plan = []
  for (const input of INPUTS) {
    const io = o.io && match('dti', input, 'io', `${input}/io`)
    const methods = o.methods.filter((m) => match('dti', input, `${input}/${m}`, m))
    if (io || methods.length) plan.push({ input, io, methods })
  }
  if (plan.length === 0) throw new BenchError(`no bench matches ${o.filters.join(' ')} (inputs: ${INPUTS.join(', ')}; methods: ${ALL_METHODS.join(', ')}; or io)`)
  if (o.samples < 5) say(`note: --samples ${o.samples} is below the 5 samples BENCHMARKS.md asks for: a smoke run, not a claim`)
  if (!existsSync(o.shared)) throw new BenchError(`bench inputs need ../shared/reference/dipy (not found: ${o.shared}; --shared DIR to point elsewhere)`)

  const refVersions = setupVenv(o)
  const manifest = generate(o, plan.map((p) => p.input))
  const m = machine(refVersions, vk)
  const { unset, notes } = environmentNotes(m)
  for (const n of notes) say(`note: ${n}`)

  const tmp = mkdtempSync(join(os.tmpdir(), 'voxelkit-bench-'))
  const rows = []
  const efficiency = []
  try {
    for (const p of plan) {
      const mf = manifest[p.input]
      const inp = { nii: join(DATA, `${p.input}.nii`), bval: join(DATA, `${p.input}.bval`), bvec: join(DATA, `${p.input}.bvec`) }
      const voxels = mf.voxels
      if (p.io) {
        say(`\n== ${p.input}: I/O (${mf.shape.join('x')} ${mf.dtype}, ${mf.data_mib.toFixed(1)} MiB)`)
        const d = contender('dipy', 'io', inp, {}, o, tmp, `${p.input}-io-dipy`)
        const v = contender('voxelkit', 'io', inp, {}, o, tmp, `${p.input}-io-vk`)
        rows.push({
          kernel: 'io',
          input: p.input,
          voxels,
          input_mib: mf.data_mib,
          dipy: { label: 'nibabel.load(mmap=False) + np.asanyarray(dataobj)', threads: 1, stats: d.stats, peak_rss_mib: d.peak_rss_mib },
          voxelkit: { label: 'readVolumeSync', threads: 1, stats: v.stats, peak_rss_mib: v.peak_rss_mib },
          ratio: d.stats.median / v.stats.median,
        })
      }
      for (const method of p.methods) {
        say(`\n== ${p.input}: DTI ${method} (${voxels.toLocaleString('en-US')} voxels x ${mf.volumes} volumes, ${o.warmup} warm-up + ${o.samples} samples each)`)
        const d = contender('dipy', 'fit', inp, { method }, o, tmp, `${p.input}-${method}-dipy`)
        const threadSet = o.allThreads > 1 ? [1, o.allThreads] : [1]
        const vks = threadSet.map((threads) => contender('voxelkit', 'fit', inp, { method, threads }, o, tmp, `${p.input}-${method}-vk${threads}`))
        const side = (r) => ({
          threads: r.threads,
          stats: r.stats,
          us_per_voxel: (r.stats.median / voxels) * 1e6,
          peak_rss_mib: r.peak_rss_mib,
          rss_after_imports_mib: r.rss_after_imports_mib,
          rss_after_load_mib: r.rss_after_load_mib,
          output_mib: r.output_mib,
          overhead_mib: r.peak_rss_mib - r.input_mib - r.output_mib,
          process_wall_s: r.process_wall_s,
          ...(r.env_threads ? { env_seen: r.env_threads } : {}),
        })
        for (const v of vks) {
          const diff = compare(v.dump, d.dump)
          rows.push({
            kernel: 'dti',
            method,
            input: p.input,
            voxels,
            volumes: mf.volumes,
            dtype: mf.dtype,
            input_mib: mf.data_mib,
            output_mib: v.output_mib,
            dipy: side(d),
            voxelkit: side(v),
            ratio: d.stats.median / v.stats.median,
            diff,
          })
        }
        if (vks.length > 1) {
          const [one, all] = vks
          const speedup = one.stats.median / all.stats.median
          const same = compare(one.dump, all.dump).bitwise_identical
          efficiency.push({
            input: p.input,
            method,
            threads: all.threads,
            t1_s: one.stats.median,
            tn_s: all.stats.median,
            speedup,
            efficiency: speedup / all.threads,
            bitwise_identical_across_threads: same,
          })
        }
        if (!o.keepTmp) for (const r of [d, ...vks]) rmSync(r.dump, { recursive: true, force: true })
      }
    }
  } finally {
    if (!o.keepTmp) rmSync(tmp, { recursive: true, force: true })
    else say(`kept ${tmp}`)
  }

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

  m.loadavg_end = os.loadavg()
  m.total_wall_s = (Date.now() - t0) / 1000
  const header = [
    `## DTI: voxelkit ${m.voxelkit} vs DIPY ${m.dipy}`,
    '',
    machineLine(m),
    `Method: ${o.warmup} warm-up + ${o.samples} timed samples per contender, each contender in its own process; time = kernel call (fit + FA, MD, AD, RD), no mask; DIPY with OMP/OPENBLAS/MKL_NUM_THREADS=1. Load average ${loadavgText(m.loadavg_start)} at start, ${loadavgText(m.loadavg_end)} at end.`,
    ...notes.map((n) => `Note: ${n}.`),
    '',
  ].join('\n')
  const effLines = efficiency.map(
    (e) =>
      `- ${e.input} ${e.method}: voxelkit 1 thread ${e.t1_s.toFixed(3)} s -> ${e.threads} threads ${e.tn_s.toFixed(3)} s: speed-up ${e.speedup.toFixed(2)}x, parallel efficiency ${e.efficiency.toFixed(2)}; maps bitwise identical across thread counts: ${e.bitwise_identical_across_threads ? 'yes' : 'NO'}`,
  )
  const scaleLines = scaling.map(
    (s) =>
      `- ${s.method} ${s.who} ${s.threads} thread${s.threads > 1 ? 's' : ''}: ${s.small_us.toFixed(3)} µs/voxel (dti-101) -> ${s.big_us.toFixed(3)} µs/voxel (dti-101x4, 4x voxels): x${(s.big_us / s.small_us).toFixed(2)}`,
  )
  const md = [
    header,
    table(rows),
    '',
    'Ratio = DIPY median / voxelkit median (DIPY always at 1 thread). Peak RSS of the fit process includes the runtime, the input and the outputs (in / out MiB); memory overhead = peak - in - out. Max diff: eigenvalues relative to the voxel\'s largest |λ|, FA absolute, voxelkit vs DIPY on the last sample.',
    ...(effLines.length ? ['', 'Parallel efficiency (speed-up at all cores / cores):', ...effLines] : []),
    ...(scaleLines.length ? ['', 'Per-voxel cost at two sizes:', ...scaleLines] : []),
    '',
  ].join('\n')
  process.stdout.write(`\n${md}`)

  const outPath = o.out ? resolve(o.out) : join(RESULTS, `${dayStamp()}-dti.json`)
  mkdirSync(dirname(outPath), { recursive: true })
  writeFileSync(
    outPath,
    `${JSON.stringify(
      {
        bench: 'dti',
        machine: m,
        settings: {
          filters: o.filters,
          samples: o.samples,
          warmup: o.warmup,
          methods: o.methods,
          threads: o.allThreads,
          reference_env: { ...ONE_THREAD, unset: unset },
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
      },
      null,
      2,
    )}\n`,
  )
  say(`\nwrote ${rel(outPath)} (${m.total_wall_s.toFixed(0)} s in all)`)
}

cli(main)
