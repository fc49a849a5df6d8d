// The error code a call ends with, for tables of bad inputs: the VoxelkitError's code, or a
// string that says what happened instead (so that assertions show it).
import { VoxelkitError } from '../../ts/index'

const codeOfError = (e: unknown) => (e instanceof VoxelkitError ? e.code : `not a VoxelkitError: ${String(e)}`)

/** The code `f()` throws with, or 'no error'. */
export function code(f: () => unknown): string {
  try {
    f()
  } catch (e) {
    return codeOfError(e)
  }
  return 'no error'
}

/** The code the promise `p()` rejects with (or `p` throws with), or 'no error'. */
export async function acode(p: () => Promise<unknown>): Promise<string> {
  try {
    await p()
  } catch (e) {
    return codeOfError(e)
  }
  return 'no error'
}
