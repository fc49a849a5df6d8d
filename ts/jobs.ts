import native from './native'
import type { JobHandle } from './native'
import { VoxelkitError, toVoxelkitError } from './errors'

/** Options every long-running async call accepts. */
export interface AsyncOptions {
  /** Cancels the call: the promise rejects with `ERR_ABORTED` and the work stops at the next tile. */
  signal?: AbortSignal
  /** Called with (done, total) units of work (voxels), at most every 50 ms and once at the end. */
  onProgress?: (done: number, total: number) => void
  /** Threads for this call (1 to 1024); default: {@link getThreads}. */
  threads?: number
}

/** Options of the synchronous twins. */
export interface SyncOptions {
  /** Threads for this call (1 to 1024); default: {@link getThreads}. */
  threads?: number
}

const MAX_THREADS = 1024

/** @internal */
export function checkThreads(t: unknown): number | undefined {
  if (t === undefined) return undefined
  if (typeof t !== 'number' || !Number.isInteger(t) || t < 1 || t > MAX_THREADS) {
    throw new VoxelkitError('ERR_SETTING', `threads must be an integer from 1 to ${MAX_THREADS}, got ${JSON.stringify(t) ?? String(t)}`)
  }
  return t
}

/** Rejects option names the call does not know. @internal */
export function checkKeys(opts: object, known: readonly string[], fn: string): void {
  if (opts === null || typeof opts !== 'object') {
    throw new VoxelkitError('ERR_SETTING', `${fn} options must be an object, got ${String(opts)}`)
  }
  for (const k of Object.keys(opts)) {
    if (!known.includes(k)) {
      throw new VoxelkitError('ERR_SETTING', `${fn}: unknown option '${k}' (known: ${[...new Set(known)].join(', ')})`)
    }
  }
}

/** @internal */
export const ASYNC_KEYS = ['signal', 'onProgress', 'threads'] as const

/**
 * Runs a native async task with cancellation and progress wiring. @internal
 */
export async function runJob<T>(opts: AsyncOptions, start: (job: JobHandle) => Promise<T>): Promise<T> {
  const { signal, onProgress } = opts
  if (signal !== undefined && !(signal instanceof AbortSignal)) {
    throw new VoxelkitError('ERR_SETTING', 'signal must be an AbortSignal')
  }
  if (onProgress !== undefined && typeof onProgress !== 'function') {
    throw new VoxelkitError('ERR_SETTING', 'onProgress must be a function (done, total) => void')
  }
  if (signal?.aborted) throw new VoxelkitError('ERR_ABORTED', 'the operation was aborted before it started')
  const job = new native.JobHandle()
  const onAbort = () => job.cancel()
  signal?.addEventListener('abort', onAbort, { once: true })
  let last = -1
  const report = () => {
    const [done, total] = job.progress()
    if (done !== last && total > 0) {
      last = done
      onProgress?.(done, total)
    }
  }
  const timer = onProgress ? setInterval(report, 50) : undefined
  try {
    const out = await start(job)
    if (onProgress) report()
    return out
  } catch (e) {
    throw toVoxelkitError(e)
  } finally {
    if (timer) clearInterval(timer)
    signal?.removeEventListener('abort', onAbort)
  }
}

/** Sets the default number of threads for every call (0 = all cores). */
export function setThreads(n: number): void {
  if (n !== 0) checkThreads(n)
  native.setThreads(n)
}

/** The default number of threads (all logical cores unless {@link setThreads} changed it). */
export function getThreads(): number {
  return native.getThreads()
}
