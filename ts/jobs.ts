import native from './native'
import type { JobHandle } from './native'
import { VoxelkitError, call, readUserValue, toVoxelkitError, shown } from './errors'

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

/** JS types of option values, checked by {@link checkOptions}. @internal */
export type OptionType = 'number' | 'boolean' | 'string' | 'object' | 'function'

/** Option types shared by every async call. @internal */
export const ASYNC_OPTIONS = { signal: 'object', onProgress: 'function', threads: 'number' } as const satisfies Record<string, OptionType>

/**
 * Checks an options object against the JS types of the options a call knows: unknown names and
 * values of the wrong JS type are `ERR_SETTING`. Ranges, defaults and meaning are the kernels'
 * (checked once, in Rust); this only catches what napi would otherwise coerce. @internal
 */
export function checkOptions(opts: unknown, known: Record<string, OptionType | readonly OptionType[]>, fn: string): void {
  if (opts === null || typeof opts !== 'object') {
    throw new VoxelkitError('ERR_SETTING', `${fn} options must be an object, got ${shown(opts)}`)
  }
  for (const [k, v] of readUserValue(() => Object.entries(opts), 'ERR_SETTING', `${fn} options`)) {
    const type = known[k]
    if (type === undefined) {
      throw new VoxelkitError('ERR_SETTING', `${fn}: unknown option '${k}' (known: ${Object.keys(known).join(', ')})`)
    }
    const types: readonly string[] = typeof type === 'string' ? [type] : type
    if (v !== undefined && (!types.includes(typeof v) || v === null)) {
      throw new VoxelkitError('ERR_SETTING', `${fn}: ${k} must be a ${types.join(' or ')}, got ${json(v)}`)
    }
  }
}

/** `JSON.stringify(v)`, or {@link shown} where JSON cannot show it (undefined, a BigInt, a cycle). */
function json(v: unknown): string {
  try {
    return JSON.stringify(v) ?? shown(v)
  } catch {
    return shown(v)
  }
}

/** Checks that `value` is one of a generated string enum's values. @internal */
export function checkChoice<T extends string>(value: unknown, choices: Record<string, T>, name: string): T | undefined {
  if (value === undefined) return undefined
  const all = Object.values(choices)
  if (!all.includes(value as T)) {
    throw new VoxelkitError('ERR_SETTING', `${name} must be one of ${all.join(', ')}; got ${shown(value)}`)
  }
  return value as T
}

/**
 * Runs a native async task with cancellation and progress wiring. @internal
 */
export async function runJob<T>(opts: AsyncOptions, start: (job: JobHandle) => Promise<T>): Promise<T> {
  const { signal, onProgress } = opts
  // instanceof runs a Proxy's getPrototypeOf trap: what it throws is a setting error
  if (signal !== undefined && !readUserValue(() => signal instanceof AbortSignal, 'ERR_SETTING', 'signal')) {
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

/** Sets the default number of threads for every call (0 = all cores, else 1 to 1024). */
export function setThreads(n: number): void {
  if (typeof n !== 'number') throw new VoxelkitError('ERR_SETTING', `threads must be a number, got ${shown(n)}`)
  call(() => native.setThreads(n))
}

/** The default number of threads (all logical cores unless {@link setThreads} changed it). */
export function getThreads(): number {
  return native.getThreads()
}

/** Validates a thread count as every call does (an integer from 1 to 1024). @internal */
export function checkThreads(n: number): number {
  if (typeof n !== 'number') throw new VoxelkitError('ERR_SETTING', `threads must be a number, got ${shown(n)}`)
  return call(() => native.checkThreads(n))
}
