#!/usr/bin/env node
// The `voxelkit` command line.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { VoxelkitError } from './errors'
import { runDtiJob } from './dtiJob'
import { checkThreads, getThreads, setThreads } from './jobs'
import { writeVolume } from './io'
import { simulateDtiPhantom } from './phantom'
import { FitStatus, type DtiMethod } from './dti'
import { version } from './index'
import { FIELDS_USAGE, cmdInvertField, cmdWarp } from './cliFields'
import { RADIOMICS_USAGE, cmdRadiomics } from './cliRadiomics'

const HELP = `voxelkit ${version}: quantitative medical imaging (DIPY-equivalent DTI and DKI, Rust kernels)

Usage:
  voxelkit dti <dwi.nii[.gz]> --bval FILE --bvec FILE --out DIR [--mask FILE] [--method WLS|OLS] [--threads N]
      Fits the diffusion tensor (DIPY TensorModel semantics) and writes fa, md, ad, rd, evals,
      evecs and color_fa NIfTI files (float32) and preview.png (mid-slice FA | colour FA) to DIR.
  voxelkit dki <dwi.nii[.gz]> --bval FILE --bvec FILE --out DIR [--mask FILE] [--method WLS|OLS|CLS|CWLS] [--threads N]
      Fits the diffusion kurtosis model (DIPY DiffusionKurtosisModel semantics) and writes the
      DTI maps plus mk, ak, rk, kfa, mkt and kt NIfTI files (float32) and preview.png
      (mid-slice MK | colour FA) to DIR. Needs at least 3 distinct b-values (b=0 counts).
  voxelkit demo [--out DIR] [--threads N]
      Generates a synthetic DTI phantom (int16, 6 b0 + 60 directions, Rician noise), writes it to
      DIR (default ./voxelkit-demo), runs the dti job on it and prints a summary.
${FIELDS_USAGE}${RADIOMICS_USAGE}  voxelkit --version | --help
`

class UsageError extends Error {}

function progressBar(label: string): ((done: number, total: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined
  return (done, total) => {
    const w = 30
    const f = total > 0 ? done / total : 0
    const n = Math.round(f * w)
    process.stderr.write(`\r${label} [${'#'.repeat(n)}${' '.repeat(w - n)}] ${(100 * f).toFixed(0).padStart(3)}%`)
    if (done >= total) process.stderr.write('\n')
  }
}

function threadsOpt(v: string | undefined): number | undefined {
  if (v === undefined) return undefined
  return checkThreads(Number(v))
}

async function cmdDti(args: string[], model: 'dti' | 'dki' = 'dti'): Promise<void> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      bval: { type: 'string' },
      bvec: { type: 'string' },
      mask: { type: 'string' },
      method: { type: 'string', default: 'WLS' },
      threads: { type: 'string' },
      out: { type: 'string' },
    },
  })
  if (positionals.length !== 1) throw new UsageError(`${model} needs exactly one input series <dwi.nii[.gz]>`)
  for (const k of ['bval', 'bvec', 'out'] as const) if (!values[k]) throw new UsageError(`${model} needs --${k}`)
  const started = performance.now()
  const r = await runDtiJob({
    dwi: positionals[0],
    bval: values.bval!,
    bvec: values.bvec!,
    mask: values.mask,
    model,
    method: values.method as DtiMethod,
    threads: threadsOpt(values.threads),
    out: values.out!,
    onProgress: progressBar('fitting'),
  })
  const nvox = r.fit.status.data.length
  const fitted = r.fit.status.data.filter((s) => s === FitStatus.Ok || s === FitStatus.PinvFallback || s === FitStatus.Constrained).length
  const constrained = r.fit.status.data.filter((s) => s === FitStatus.Constrained).length
  const failed = r.fit.status.data.filter((s) => s === FitStatus.SolverFailed).length
  const extra = constrained || failed ? `; ${constrained} moved by the constraint${failed ? `, ${failed} failed (zero parameters)` : ''}` : ''
  console.log(`fitted ${fitted} of ${nvox} voxels (${values.method}${extra}) in ${(r.timings.fit / 1000).toFixed(2)} s`)
  for (const f of r.files) console.log(`  wrote ${f}`)
  console.log(`total ${((performance.now() - started) / 1000).toFixed(2)} s`)
}

function mean(a: ArrayLike<number>, keep: (i: number) => boolean): number {
  let s = 0
  let n = 0
  for (let i = 0; i < a.length; i++) if (keep(i)) (s += a[i]), n++
  return n ? s / n : NaN
}

async function cmdDemo(args: string[]): Promise<void> {
  const { values } = parseArgs({ args, options: { out: { type: 'string', default: 'voxelkit-demo' }, threads: { type: 'string' } } })
  const out = resolve(values.out!)
  const threads = threadsOpt(values.threads)
  if (threads !== undefined) setThreads(threads)
  mkdirSync(out, { recursive: true })
  console.log(`voxelkit ${version} demo: synthetic DTI phantom -> DTI maps (${getThreads()} threads)`)
  const t0 = performance.now()
  const p = simulateDtiPhantom({ shape: [96, 96, 24], snr: 30, seed: 1 })
  const dwiPath = join(out, 'dwi.nii.gz')
  await writeVolume(dwiPath, p.dwi)
  await writeVolume(join(out, 'mask.nii.gz'), p.mask)
  writeFileSync(join(out, 'dwi.bval'), Array.from(p.bvals).join(' ') + '\n')
  const rows = [0, 1, 2].map((c) => Array.from({ length: p.bvals.length }, (_, i) => p.bvecs[3 * i + c].toFixed(6)).join(' '))
  writeFileSync(join(out, 'dwi.bvec'), rows.join('\n') + '\n')
  const t1 = performance.now()
  const [nx, ny, nz, nvol] = p.dwi.shape
  console.log(`  phantom ${nx}x${ny}x${nz} voxels x ${nvol} volumes (int16, SNR 30) written in ${((t1 - t0) / 1000).toFixed(2)} s`)
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
  console.log(`  read ${(r.timings.read / 1000).toFixed(2)} s, WLS fit of ${fitted} voxels ${(r.timings.fit / 1000).toFixed(3)} s ` +
    `(${((r.timings.fit * 1000) / fitted).toFixed(2)} µs/voxel), maps ${(r.timings.maps / 1000).toFixed(3)} s, write ${(r.timings.write / 1000).toFixed(2)} s`)
  console.log(`  white matter: FA ${mean(fa, wm).toFixed(3)} (true ${mean(tf, wm).toFixed(3)}), MD ${mean(md, wm).toExponential(2)} mm²/s`)
  console.log(`  grey matter:  FA ${mean(fa, gm).toFixed(3)} (true ${mean(tf, gm).toFixed(3)}), MD ${mean(md, gm).toExponential(2)} mm²/s`)
  console.log(`  CSF:          FA ${mean(fa, csf).toFixed(3)} (true 0.000), MD ${mean(md, csf).toExponential(2)} mm²/s (true 3.00e-3)`)
  console.log(`  mean |FA - true FA| in the head: ${(err / fitted).toFixed(4)}`)
  console.log(`outputs in ${out}:`)
  console.log(`  inputs: dwi.nii.gz, dwi.bval, dwi.bvec, mask.nii.gz`)
  console.log(`  maps:   ${r.files.map((f) => f.slice(out.length + 1)).join(', ')}`)
}

async function main(argv: string[]): Promise<number> {
  const [cmd, ...rest] = argv
  try {
    if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
      process.stdout.write(HELP)
      return cmd === undefined ? 2 : 0
    }
    if (cmd === '--version' || cmd === '-v') {
      console.log(version)
      return 0
    }
    if (cmd === 'dti') await cmdDti(rest)
    else if (cmd === 'dki') await cmdDti(rest, 'dki')
    else if (cmd === 'demo') await cmdDemo(rest)
    else if (cmd === 'invert-field') await cmdInvertField(rest)
    else if (cmd === 'warp') await cmdWarp(rest)
    else if (cmd === 'radiomics') return await cmdRadiomics(rest)
    else throw new UsageError(`unknown command '${cmd}'`)
    return 0
  } catch (e) {
    if (e instanceof UsageError || (e as { code?: string }).code?.startsWith('ERR_PARSE_ARGS')) {
      process.stderr.write(`voxelkit: ${(e as Error).message}\n\n${HELP}`)
      return 2
    }
    if (e instanceof VoxelkitError) {
      process.stderr.write(`voxelkit: [${e.code}] ${e.message}\n`)
      return 1
    }
    process.stderr.write(`voxelkit: ${(e as Error).stack ?? String(e)}\n`)
    return 1
  }
}

main(process.argv.slice(2)).then((code) => {
  process.exitCode = code
})
