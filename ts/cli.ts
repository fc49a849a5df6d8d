#!/usr/bin/env node
// The `voxelkit` command line.
import { join } from 'node:path'
import { runDtiJob } from './dtiJob'
import { getThreads, setThreads } from './jobs'
import { writeVolume } from './io'
import { simulateDtiPhantom } from './phantom'
import type { DtiMethod } from './dti'
import { FitStatus } from './fit'
import { version } from './index'
import { FIELDS_USAGE, cmdInvertField, cmdWarp } from './cliFields'
import { REGISTER_USAGE, cmdRegister } from './cliSyn'
import { RADIOMICS_USAGE, cmdRadiomics } from './cliRadiomics'
import { COHORT_USAGE, cmdCohort } from './cliCohort'
import {
  UsageError,
  makeOutputDir,
  parseCommandLine,
  printWritten,
  progressBar,
  runCli,
  seconds,
  secondsSince,
  threadsOption,
  writeLines,
} from './cliKit'

const HELP = `voxelkit ${version}: quantitative medical imaging (DIPY-equivalent DTI and DKI, Rust kernels)

Usage:
  voxelkit dti <dwi.nii[.gz]> --bval FILE --bvec FILE --out DIR [--mask FILE] [--method WLS|OLS|NLLS|RESTORE] [--sigma S] [--threads N]
      Fits the diffusion tensor (DIPY TensorModel semantics) and writes fa, md, ad, rd, evals,
      evecs and color_fa NIfTI files (float32) and preview.png (mid-slice FA | colour FA) to DIR.
      RESTORE also writes rejected (uint16: volumes rejected as outliers per voxel); --sigma sets
      its noise level (one number, or one per volume separated by commas; default: estimated).
  voxelkit dki <dwi.nii[.gz]> --bval FILE --bvec FILE --out DIR [--mask FILE] [--method WLS|OLS|CLS|CWLS] [--threads N]
      Fits the diffusion kurtosis model (DIPY DiffusionKurtosisModel semantics) and writes the
      DTI maps plus mk, ak, rk, kfa, mkt and kt NIfTI files (float32) and preview.png
      (mid-slice MK | colour FA) to DIR. Needs at least 3 distinct b-values (b=0 counts).
  voxelkit demo [--out DIR] [--threads N]
      Generates a synthetic DTI phantom (int16, 6 b0 + 60 directions, Rician noise), writes it to
      DIR (default ./voxelkit-demo), runs the dti job on it and prints a summary.
${FIELDS_USAGE}${REGISTER_USAGE}${RADIOMICS_USAGE}${COHORT_USAGE}  voxelkit --version | --help
`

async function cmdDti(args: string[], model: 'dti' | 'dki' = 'dti'): Promise<void> {
  const { values, positionals } = parseCommandLine(args, {
    options: ['bval', 'bvec', 'mask', 'method', 'threads', 'out', ...(model === 'dti' ? ['sigma'] : [])],
    defaults: { method: 'WLS' },
    positionals: true,
  })
  if (positionals.length !== 1) throw new UsageError(`${model} needs exactly one input series <dwi.nii[.gz]>`)
  for (const k of ['bval', 'bvec', 'out'] as const) if (!values[k]) throw new UsageError(`${model} needs --${k}`)
  let sigma: number[] | undefined
  if (values.sigma !== undefined) {
    if (values.method !== 'RESTORE') throw new UsageError('--sigma is an option of --method RESTORE')
    sigma = values.sigma.split(',').map((x) => {
      const v = Number(x.trim())
      if (x.trim() === '' || !Number.isFinite(v) || v <= 0) throw new UsageError(`--sigma must be numbers > 0 separated by commas, got '${values.sigma}'`)
      return v
    })
  }
  const started = performance.now()
  const r = await runDtiJob({
    dwi: positionals[0],
    bval: values.bval!,
    bvec: values.bvec!,
    mask: values.mask,
    model,
    method: values.method as DtiMethod,
    sigma,
    threads: threadsOption(values.threads),
    out: values.out!,
    onProgress: progressBar('fitting'),
  })
  const nvox = r.fit.status.data.length
  const count = (...codes: number[]) => r.fit.status.data.filter((s) => codes.includes(s)).length
  const { Ok, PinvFallback, Constrained, SolverFailed, NotConverged, StartFallback } = FitStatus
  const fitted = count(Ok, PinvFallback, Constrained, NotConverged, StartFallback)
  const notes: string[] = []
  if (count(Constrained)) notes.push(`${count(Constrained)} moved by the constraint`)
  if (count(SolverFailed)) notes.push(`${count(SolverFailed)} failed (zero parameters)`)
  if (count(NotConverged)) notes.push(`${count(NotConverged)} not converged`)
  if (count(StartFallback)) notes.push(`${count(StartFallback)} left with too few volumes (last reweighted fit)`)
  if (r.rejected) notes.push(`${r.rejected.voxels} with outliers, ${r.rejected.volumes} volumes rejected in all`)
  const extra = notes.length ? `; ${notes.join(', ')}` : ''
  console.log(`fitted ${fitted} of ${nvox} voxels (${values.method}${extra}) in ${seconds(r.timings.fit)} s`)
  printWritten(r.files)
  console.log(`total ${secondsSince(started)} s`)
}

function mean(a: ArrayLike<number>, keep: (i: number) => boolean): number {
  let s = 0
  let n = 0
  for (let i = 0; i < a.length; i++) if (keep(i)) (s += a[i]), n++
  return n ? s / n : NaN
}

async function cmdDemo(args: string[]): Promise<void> {
  const { values } = parseCommandLine(args, { options: ['out', 'threads'], defaults: { out: 'voxelkit-demo' } })
  const threads = threadsOption(values.threads)
  if (threads !== undefined) setThreads(threads)
  const out = makeOutputDir(values.out)
  console.log(`voxelkit ${version} demo: synthetic DTI phantom -> DTI maps (${getThreads()} threads)`)
  const t0 = performance.now()
  const p = simulateDtiPhantom({ shape: [96, 96, 24], snr: 30, seed: 1 })
  const dwiPath = join(out, 'dwi.nii.gz')
  await writeVolume(dwiPath, p.dwi)
  await writeVolume(join(out, 'mask.nii.gz'), p.mask)
  writeLines(join(out, 'dwi.bval'), [Array.from(p.bvals).join(' ')])
  const rows = [0, 1, 2].map((c) => Array.from({ length: p.bvals.length }, (_, i) => p.bvecs[3 * i + c].toFixed(6)).join(' '))
  writeLines(join(out, 'dwi.bvec'), rows)
  const t1 = performance.now()
  const [nx, ny, nz, nvol] = p.dwi.shape
  console.log(`  phantom ${nx}x${ny}x${nz} voxels x ${nvol} volumes (int16, SNR 30) written in ${seconds(t1 - t0)} s`)
  const r = await runDtiJob({
    dwi: dwiPath,
    bval: join(out, 'dwi.bval'),
    bvec: join(out, 'dwi.bvec'),
    mask: join(out, 'mask.nii.gz'),
    out: join(out, 'dti'),
    onProgress: progressBar('  fitting'),
  })
  const nvox = nx * ny * nz
  const fitted = p.mask.data.reduce((a, b) => a + b, 0)
  const fa = r.fit.fa().data
  const md = r.fit.md().data
  const tf = p.trueFa.data
  const wm = (i: number) => p.mask.data[i] === 1 && tf[i] > 0.6
  const gm = (i: number) => p.mask.data[i] === 1 && tf[i] > 0.02 && tf[i] < 0.2
  const csf = (i: number) => p.mask.data[i] === 1 && tf[i] === 0
  let err = 0
  for (let i = 0; i < nvox; i++) if (p.mask.data[i]) err += Math.abs(fa[i] - tf[i])
  console.log(`  read ${seconds(r.timings.read)} s, WLS fit of ${fitted} voxels ${seconds(r.timings.fit, 3)} s ` +
    `(${((r.timings.fit * 1000) / fitted).toFixed(2)} µs/voxel), maps ${seconds(r.timings.maps, 3)} s, write ${seconds(r.timings.write)} s`)
  console.log(`  white matter: FA ${mean(fa, wm).toFixed(3)} (true ${mean(tf, wm).toFixed(3)}), MD ${mean(md, wm).toExponential(2)} mm²/s`)
  console.log(`  grey matter:  FA ${mean(fa, gm).toFixed(3)} (true ${mean(tf, gm).toFixed(3)}), MD ${mean(md, gm).toExponential(2)} mm²/s`)
  console.log(`  CSF:          FA ${mean(fa, csf).toFixed(3)} (true 0.000), MD ${mean(md, csf).toExponential(2)} mm²/s (true 3.00e-3)`)
  console.log(`  mean |FA - true FA| in the head: ${(err / fitted).toFixed(4)}`)
  console.log(`outputs in ${out}:`)
  console.log(`  inputs: dwi.nii.gz, dwi.bval, dwi.bvec, mask.nii.gz`)
  console.log(`  maps:   ${r.files.map((f) => f.slice(out.length + 1)).join(', ')}`)
}

runCli(process.argv.slice(2), {
  help: HELP,
  version,
  commands: {
    dti: (args) => cmdDti(args),
    dki: (args) => cmdDti(args, 'dki'),
    demo: cmdDemo,
    'invert-field': cmdInvertField,
    warp: cmdWarp,
    register: cmdRegister,
    radiomics: cmdRadiomics,
    cohort: cmdCohort,
  },
}).then((code) => {
  process.exitCode = code
})
