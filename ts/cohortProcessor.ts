// The sandboxed processor of `voxelkit cohort worker`: BullMQ forks one child process per worker
// slot and runs each case here, so a crash ends this process and not the worker. It reads the
// inputs, runs the kernel with the job's AbortSignal and a throttled progress report, writes
// outputs under a temporary name and renames them, and returns the small result (features,
// summary). Failures keep voxelkit's `[CODE] message`; input errors are marked unrecoverable
// (BullMQ fails them without retries).
import { randomBytes } from 'node:crypto'
import { existsSync, mkdirSync, readdirSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { CaseJob } from './cohort'
import type { DtiMethod } from './dti'
import type { DkiMethod } from './dki'
import { runDtiJob } from './dtiJob'
import { VoxelkitError } from './errors'
import { FitStatus } from './fit'
import { readVolume } from './io'
import { extractFeatures, type RadiomicsSettings } from './radiomics'

// the worker that forked this process is gone (SIGKILL, a lost machine): stop at once, its job
// goes back to the queue through the stalled-job check and no orphan keeps running
process.on('disconnect', () => process.exit(1))

/** Codes that say the case itself is wrong: failed at once, never retried. */
const INPUT_ERRORS: ReadonlySet<string> = new Set(['ERR_SHAPE', 'ERR_DTYPE', 'ERR_GRADIENTS', 'ERR_FORMAT', 'ERR_SETTING', 'ERR_UNSUPPORTED', 'ERR_ABORTED'])

/** What BullMQ hands a sandboxed processor. */
interface SandboxJob {
  id?: string
  data: CaseJob
  updateProgress(progress: number): Promise<void>
}

const threads = (): number | undefined => {
  const t = Number(process.env.VOXELKIT_COHORT_THREADS)
  return Number.isInteger(t) && t > 0 ? t : undefined
}

/**
 * `onProgress` -> `job.updateProgress(percent)`: the kernels' first report past 0, then at most
 * once a second; not the last one (the result follows at once).
 */
function progress(job: SandboxJob): (done: number, total: number) => void {
  let last = 0
  let lastPct = -1
  return (done, total) => {
    if (total <= 0 || done <= 0 || done >= total) return
    const pct = Math.floor((100 * done) / total)
    const now = Date.now()
    if (pct === lastPct || now - last < 1000) return
    last = now
    lastPct = pct
    job.updateProgress(pct).catch(() => undefined)
  }
}

/** The failure BullMQ records: `[CODE] message`, named UnrecoverableError for input errors. */
function failure(e: unknown, inputs: string[]): Error {
  const ve = e instanceof VoxelkitError ? e : undefined
  const code = ve?.code ?? ((e as NodeJS.ErrnoException)?.syscall ? 'ERR_IO' : 'ERR_INTERNAL')
  const message = e instanceof Error ? e.message : String(e)
  const err = new Error(`[${code}] ${message}`) as Error & { code: string }
  err.code = code
  // an absent input will not appear by retrying: fix it, then `voxelkit cohort retry-failed`
  if (INPUT_ERRORS.has(code) || (code === 'ERR_IO' && inputs.some((p) => !existsSync(p)))) err.name = 'UnrecoverableError'
  return err
}

/** Non-finite numbers and -0 as strings: the result travels as JSON. */
function encode(f: Record<string, number>): Record<string, number | string> {
  const out: Record<string, number | string> = {}
  for (const [k, v] of Object.entries(f)) out[k] = Number.isFinite(v) && !Object.is(v, -0) ? v : Object.is(v, -0) ? '-0' : String(v)
  return out
}

const token = () => `${process.pid}-${randomBytes(4).toString('hex')}`

/** Renames `tmp` to `final`, moving an older `final` aside first (a rerun of the same case). */
function publish(tmp: string, final: string, aside: string): void {
  if (!existsSync(final)) return renameSync(tmp, final)
  renameSync(final, aside)
  renameSync(tmp, final)
  rmSync(aside, { recursive: true, force: true })
}

/** Removes what a killed run of this case left in `dir` (`.<name>.partial-*`). */
function removeLeftovers(dir: string, name: string): void {
  for (const f of readdirSync(dir)) if (f.startsWith(`.${name}.partial-`) || f.startsWith(`.${name}.old-`)) rmSync(join(dir, f), { recursive: true, force: true })
}

async function radiomics(job: SandboxJob, signal: AbortSignal | undefined) {
  const d = job.data
  let s: RadiomicsSettings = d.settings ?? {}
  // as `voxelkit radiomics cases.csv`: the Label cell, as a number (NaN, 0, … fail as settings)
  if (d.label !== undefined) s = { ...s, label: Number(d.label) }
  const [img, msk] = await Promise.all([readVolume(d.inputs.image), readVolume(d.inputs.mask)])
  const f = await extractFeatures(img, msk, s, { threads: threads(), signal, onProgress: progress(job) })
  if (d.out !== undefined) {
    mkdirSync(d.out, { recursive: true })
    const tmp = join(d.out, `.${d.name}.partial-${token()}`)
    writeFileSync(tmp, `${JSON.stringify({ Image: d.inputs.image, Mask: d.inputs.mask, ...f }, null, 1)}\n`)
    renameSync(tmp, join(d.out, `${d.name}.json`))
  }
  return { features: encode(f) }
}

async function maps(job: SandboxJob, signal: AbortSignal | undefined) {
  const d = job.data
  const out = d.out!
  mkdirSync(out, { recursive: true })
  removeLeftovers(out, d.name)
  const tmp = join(out, `.${d.name}.partial-${token()}`)
  try {
    const r = await runDtiJob({
      dwi: d.inputs.dwi,
      bval: d.inputs.bval,
      bvec: d.inputs.bvec,
      mask: d.inputs.mask,
      model: d.task === 'dki' ? 'dki' : 'dti',
      method: d.method as DtiMethod | DkiMethod,
      threads: threads(),
      out: tmp,
      onProgress: progress(job),
      signal,
    })
    const final = join(out, d.name)
    publish(tmp, final, join(out, `.${d.name}.old-${token()}`))
    const st = r.fit.status.data
    let fitted = 0
    for (let i = 0; i < st.length; i++) if (st[i] === FitStatus.Ok || st[i] === FitStatus.PinvFallback || st[i] === FitStatus.Constrained) fitted++
    return { out: final, files: r.files.map((f) => f.slice(tmp.length + 1)), fitted, voxels: st.length }
  } catch (e) {
    rmSync(tmp, { recursive: true, force: true })
    throw e
  }
}

/** Runs one case (BullMQ's sandboxed processor). */
export default async function processCase(job: SandboxJob, _token: string | undefined, signal?: AbortSignal): Promise<unknown> {
  const d = job.data
  try {
    if (d.v !== 1) throw new VoxelkitError('ERR_UNSUPPORTED', `job ${job.id} was written by another voxelkit (data version ${String(d.v)})`)
    if (d.task === 'radiomics') return await radiomics(job, signal)
    if (d.task === 'dti' || d.task === 'dki') return await maps(job, signal)
    throw new VoxelkitError('ERR_UNSUPPORTED', `unknown task '${String(d.task)}'`)
  } catch (e) {
    throw failure(e, Object.values(d.inputs ?? {}))
  }
}
