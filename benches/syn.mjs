#!/usr/bin/env node
// SyN bench: voxelkit registerSyN against DIPY 1.12.1 SymmetricDiffeomorphicRegistration with the
// CC, SSD and EM metrics (DIPY's defaults), side by side on one machine
// (shared/design/BENCHMARKS.md). Run by hand.
//
//   node benches/syn.mjs [--size N] [--level-iters 10,10,5] [--metrics CC,SSD,EM] [--samples N] [--warmup N] [--threads N] [--out FILE]
//   node benches/syn.mjs --pair brain [--level-iters 10,10,5] [--samples N] [--threads N]
//   node benches/syn.mjs --pair mni [--data DIR] [--ants-threads N] [--level-iters 10,10,5] [--samples N] [--threads N]
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
//
// --pair mni: nilearn's MNI152 2009 template at 2 mm (99x117x95; static) against its warp by a
// known smooth deformation (moving; at most 6 mm), written once by
// `fixtures/dipy_syn/generate.sh --mni-bench DIR` (default DIR benches/data/mni) with the GM / WM
// masks carried through the known deformation, CC only, no prealign: DIPY (1 thread), voxelkit
// (1 thread and all cores) and ANTs (once, --ants-threads, default all cores). Quality per
// contender from its forward displacement (dipy_syn.py quality): Dice of the GM / WM masks mapped
// back from the moving grid, the field error against the known deformation (mean / max mm over
// the brain mask), NCC; the unregistered pair beside them.
import { join } from 'node:path'
import { existsSync, mkdirSync, readFileSync } from 'node:fs'
import { BenchError, DATA, HERE, ROOT, SHARED_REFERENCE, VENV_PY, baseSettings, begin, cli, contender, finishMachine, header, setupVenv, venvPython } from './lib.mjs'
import { markdownTable, pythonJson, readF64, rssCell, run, runnerArgs, say, threadSet, versusCells, versusHead, withTmp, writeRecord } from './lib.mjs'

function main() {
  const o = runnerArgs(import.meta.url, {
    options: { size: { type: 'string', default: '80' }, 'level-iters': { type: 'string', default: '10,10,5' }, metrics: { type: 'string', default: 'CC,SSD,EM' }, pair: { type: 'string' }, data: { type: 'string' }, 'ants-threads': { type: 'string' } },
    defaults: { samples: '3', warmup: '0' },
    omit: ['shared'],
  })
  if (o.values.pair !== undefined) {
    if (o.values.pair === 'mni') return mniPair(o)
    if (o.values.pair !== 'brain') throw new BenchError('--pair takes brain or mni')
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

function mniPair(o) {
  const iters = o.values['level-iters']
  const { t0, m, unset, notes, vk } = begin(o)
  const ants = setupVenv(o, { venv: ANTS_VENV, requirements: [join(HERE, 'requirements-ants.txt')], report: ['antspyx', 'numpy'] })
  m.antspyx = ants.antspyx
  const antsThreads = o.values['ants-threads'] === undefined ? o.allThreads : Number(o.values['ants-threads'])
  if (!Number.isSafeInteger(antsThreads) || antsThreads < 1) throw new BenchError('--ants-threads must be a positive integer')
  const dir = o.values.data === undefined ? join(DATA, 'mni') : o.values.data
  const pair = join(dir, 'mni-pair.json')
  if (!existsSync(pair)) {
    say(`writing the MNI pair into ${dir} (fixtures/dipy_syn/generate.sh --mni-bench, once)`)
    run('bash', [join(ROOT, 'fixtures', 'dipy_syn', 'generate.sh'), '--mni-bench', dir], { env: process.env, timeoutS: o.timeoutS, what: 'generate.sh --mni-bench' })
  }
  const p = JSON.parse(readFileSync(pair, 'utf8'))
  const shape = p.static_shape
  const voxels = shape.reduce((a, b) => a * b, 1)
  const argv = ['--pair', pair, '--level-iters', iters, '--metric', 'CC']
  const row = withTmp(o, 'vk-syn-mni-', (tmp) => {
    const f = (tag) => join(tmp, `${tag}.f64`)
    const w = (tag) => join(tmp, `${tag}-w.f64`)
    const map = (tag) => join(tmp, `${tag}-map.f64`)
    const out = { contenders: [] }
    const add = (label, threads, r, tag) => out.contenders.push({ label, threads, tag, result: r })
    add('DIPY', 1, contender('DIPY', 'dipy_syn.py', ['run', ...argv, '--dump', f('dipy'), '--dump-warped', w('dipy'), '--dump-map', map('dipy')], { o, tmp, tag: 'dipy' }), 'dipy')
    for (const threads of threadSet(o)) {
      const tag = `vk${threads}`
      add('voxelkit', threads, contender('voxelkit', 'voxelkit_syn.mjs', [...argv, '--threads', String(threads), '--dump', f(tag), '--dump-warped', w(tag), '--dump-map', map(tag)], { o, tmp, tag }), tag)
    }
    const at = `ants${antsThreads}`
    const antsArgv = ['run', '--pair', pair, '--level-iters', iters, '--threads', String(antsThreads), '--dump', map(at), '--dump-warped', w(at)]
    add('ANTs', antsThreads, contender('ANTs', 'ants_syn.py', antsArgv, { o, tmp, tag: at, python: venvPython(ANTS_VENV) }), at)
    const q = pythonJson(VENV_PY, 'dipy_syn.py', ['quality', '--pair', pair, '--fields', ['none=', ...out.contenders.map((c) => `${c.tag}=${map(c.tag)}`)].join(',')], { what: 'dipy_syn.py quality' })
    const stat = Float64Array.from(vk.readVolumeSync(p.static).data)
    const ref = readF64(f('dipy'))
    for (const c of out.contenders) {
      c.quality = q[c.tag]
      // the NCC of the contender's own warped image (the quality tool's NCC re-warps with the dumped field)
      c.ncc_own = ncc(stat, readF64(w(c.tag)))
      // the dumped field must be the one the contender's own warped image was made with
      if (Math.abs(c.ncc_own - c.quality.ncc) > 1e-4) throw new BenchError(`${c.tag}: the dumped map gives NCC ${c.quality.ncc}, its warped image ${c.ncc_own}`)
      if (c.label === 'voxelkit') {
        const g = readF64(f(c.tag))
        let worst = 0
        for (let i = 0; i < g.length; i++) worst = Math.max(worst, Math.abs(g[i] - ref[i]))
        c.max_diff_mm = worst
      }
    }
    out.none = q.none
    return out
  })
  const head = ['contender', 'threads', 'wall time', 'peak RSS MiB', 'NCC', 'Dice GM', 'Dice WM', 'field error mean / max (mm)', 'max |forward diff| vs DIPY (mm)']
  const cells = [['none (unregistered)', '', '', '', row.none.ncc.toFixed(4), row.none.dice_gm.toFixed(4), row.none.dice_wm.toFixed(4), `${row.none.error_mm_mean.toFixed(3)} / ${row.none.error_mm_max.toFixed(2)}`, '']]
  for (const c of row.contenders) {
    const q = c.quality
    const diff = c.max_diff_mm === undefined ? '' : c.max_diff_mm === 0 ? '0 (identical)' : c.max_diff_mm.toExponential(1)
    cells.push([c.label, String(c.threads), `${c.result.stats.median.toFixed(2)} s`, c.result.peak_rss_mib.toFixed(0), c.ncc_own.toFixed(4), q.dice_gm.toFixed(4), q.dice_wm.toFixed(4), `${q.error_mm_mean.toFixed(3)} / ${q.error_mm_max.toFixed(2)}`, diff])
  }
  finishMachine(m, t0)
  const markdown = `${header(`SyN, CC, levelIters [${iters}], MNI152 2009 template <- its known deformation (${shape.join('x')}, ${voxels.toLocaleString('en-US')} voxels, 2 mm; deformation at most ${p.max_mm} mm)`, m, `median of ${o.samples} runs per contender, each in its own process; ANTs ${m.antspyx} (antspyx SyNOnly, CC radius 4, ${antsThreads} thread(s)). Dice: the static GM / WM masks (nilearn's probability maps > 0.5) carried by the known deformation to the moving grid, mapped back by the transform each contender warps the moving image with (DIPY's and voxelkit's mapping.backward, ANTs' forward warp); field error: |x + f(x) + d(x + f(x)) - x| over the brain mask (d the known deformation).`, { notes })}${markdownTable(head, cells, ['contender'])}\n`
  writeRecord(o, 'syn-mni', { machine: m, settings: { ...baseSettings(o, unset), pair_name: 'mni', level_iters: iters, ants_threads: antsThreads, pair: { shape, max_mm: p.max_mm, seed: p.seed, jacobian_det: p.jacobian_det } }, rows: row, markdown }, { t0 })
}

cli(main)
