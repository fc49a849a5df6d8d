// Helpers of the CLI suites: the built `voxelkit` command (dist/cli.js, from `npm run build:ts`)
// run as a child process, a scratch folder per test file, and inputs written as the commands
// read them.
import test from 'ava'
import { execFile } from 'node:child_process'
import { mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { promisify } from 'node:util'
import { writeVolumeSync, type Volume } from '../../ts/index'
import { ROOT } from './fixtures'

const run = promisify(execFile)
const CLI = join(ROOT, 'dist', 'cli.js')

/** How a `voxelkit` run ended. */
export interface CliRun {
  code: number
  stdout: string
  stderr: string
}

/** Runs `voxelkit …args` with this Node; a non-zero exit status is a result, not a throw. */
export async function cli(...args: string[]): Promise<CliRun> {
  try {
    const r = await run(process.execPath, [CLI, ...args])
    return { code: 0, ...r }
  } catch (e) {
    const x = e as CliRun
    return { code: x.code, stdout: x.stdout, stderr: x.stderr }
  }
}

/** A new folder under the system's temporary folder, removed after the calling file's tests. */
export function scratchDir(name: string): string {
  const dir = mkdtempSync(join(tmpdir(), `voxelkit-${name}-`))
  test.after.always(() => rmSync(dir, { recursive: true, force: true }))
  return dir
}

/** A diffusion series' files as `voxelkit dti|dki` takes them. */
export interface DwiFiles {
  dwi: string
  mask: string
  bval: string
  bvec: string
}

/**
 * Writes a diffusion series into `dir` (created if missing): dwi.nii.gz, mask.nii, dwi.bval and
 * dwi.bvec (FSL layout: one line per axis; `bvecs` holds one x, y, z triple per volume).
 */
export function writeDwiFiles(dir: string, p: { dwi: Volume; mask: Volume; bvals: ArrayLike<number>; bvecs: ArrayLike<number> }): DwiFiles {
  mkdirSync(dir, { recursive: true })
  const f = { dwi: join(dir, 'dwi.nii.gz'), mask: join(dir, 'mask.nii'), bval: join(dir, 'dwi.bval'), bvec: join(dir, 'dwi.bvec') }
  writeVolumeSync(f.dwi, p.dwi)
  writeVolumeSync(f.mask, p.mask)
  writeFileSync(f.bval, Array.from(p.bvals).join(' '))
  const axes = [0, 1, 2].map((c) => Array.from({ length: p.bvals.length }, (_, i) => p.bvecs[3 * i + c]).join(' '))
  writeFileSync(f.bvec, axes.join('\n'))
  return f
}

/** The arguments of `voxelkit dti|dki` for these files, with the mask, writing to `out`. */
export function fitArgs(f: DwiFiles, out: string): string[] {
  return [f.dwi, '--bval', f.bval, '--bvec', f.bvec, '--mask', f.mask, '--out', out]
}
