import native from './native'

/** Stable error codes carried by {@link VoxelkitError.code}. */
export type ErrorCode =
  | 'ERR_SHAPE'
  | 'ERR_DTYPE'
  | 'ERR_GRADIENTS'
  | 'ERR_FORMAT'
  | 'ERR_SETTING'
  | 'ERR_UNSUPPORTED'
  | 'ERR_ABORTED'
  | 'ERR_IO'
  | 'ERR_INTERNAL'

/**
 * The only error type voxelkit throws or rejects with. `code` is stable; the message says what
 * was expected and what came.
 */
export class VoxelkitError extends Error {
  readonly code: ErrorCode
  constructor(code: ErrorCode, message: string) {
    super(message)
    this.name = 'VoxelkitError'
    this.code = code
  }
}

/**
 * A value a user passed, as an error message shows it: `String(v)`, except that it never throws
 * (a BigInt, an object without a prototype or whose `toString` throws) and a function is not
 * printed as its source. @internal
 */
export function shown(v: unknown): string {
  if (typeof v === 'bigint') return `${v}n`
  if (typeof v === 'function') return 'a function'
  try {
    return String(v)
  } catch {
    try {
      return Object.prototype.toString.call(v)
    } catch {
      return 'an object' // a Proxy whose traps throw
    }
  }
}

/**
 * Reads a user's object (an option object, a Volume, settings) with `read`: a getter or a
 * Proxy trap that throws while voxelkit reads it becomes a `code` error naming `what`, not the
 * user's own exception escaping from deep inside a call (found by scripts/fuzz-options.mjs).
 * @internal
 */
export function readUserValue<T>(read: () => T, code: ErrorCode, what: string): T {
  try {
    return read()
  } catch (e) {
    if (e instanceof VoxelkitError) throw e
    throw new VoxelkitError(code, `${what} could not be read: ${e instanceof Error ? e.message : shown(e)}`)
  }
}

const CODED = /^\[(ERR_[A-Z_]+)\] ([\s\S]*)$/
const ENUM_MISMATCH = /value `(.*)` does not match any variant of enum `(\w+)`/

/** Converts anything thrown by the native layer into a VoxelkitError. @internal */
export function toVoxelkitError(e: unknown): VoxelkitError {
  if (e instanceof VoxelkitError) return e
  const message = e instanceof Error ? e.message : shown(e)
  const m = CODED.exec(message)
  if (m) return new VoxelkitError(m[1] as ErrorCode, m[2])
  if (e && typeof e === 'object' && (e as { code?: string }).code === 'InvalidArg') {
    // a string that is not a value of a generated enum (DtiMethod, Interpolation, …): a setting
    const en = ENUM_MISMATCH.exec(message)
    if (en) {
      const values = Object.values((native as unknown as Record<string, Record<string, string>>)[en[2]] ?? {})
      return new VoxelkitError('ERR_SETTING', `${en[1]} is not a valid ${en[2]} (one of ${values.join(', ')})`)
    }
    // other argument conversion failures: the façade checks JS types first, so these are type slips
    return new VoxelkitError('ERR_DTYPE', message)
  }
  return new VoxelkitError('ERR_INTERNAL', message)
}

/** Runs a native call, mapping its errors. @internal */
export function call<T>(f: () => T): T {
  try {
    return f()
  } catch (e) {
    throw toVoxelkitError(e)
  }
}
