// Shared by the DKI fixture suites (dki-dipy.spec.ts on fixtures/dipy_dki, dki-cls.spec.ts on
// fixtures/dipy_dki_cls; same JSON format): a case's gradient table and the set-up of one
// method's test.
import type { ExecutionContext } from 'ava'
import { caseInput, nums, type DtiCase } from './fixtures'
import { gradientTable, type DkiMethod } from '../../ts/index'

/** DIPY's result for one method: the fitted quantities, or the error DIPY raised. */
export type DipyResult = Record<string, unknown> & { error?: string }

export function gtabOf(c: DtiCase) {
  return gradientTable(nums(c.input.bvals), c.input.bvecs.map((r) => Array.from(nums(r))), { b0Threshold: c.input.b0_threshold })
}

/**
 * The input of case `c`, DIPY's result for `method` and the fit options of DIPY's call (mask,
 * min_signal, S0 returned); undefined when the input lives in ../shared and that is absent, in
 * which case the test is logged as skipped and passes.
 */
export function dkiCase<M extends DkiMethod>(t: ExecutionContext, c: DtiCase, method: M) {
  const dwi = caseInput(c)
  if (!dwi) {
    t.log(`SKIPPED: ${c.input.source} is absent (../shared not beside the repository)`)
    t.pass()
    return undefined
  }
  const r = (c.results as Record<string, unknown>)[method] as DipyResult
  const opts = {
    method,
    returnS0: true,
    ...(c.input.mask ? { mask: Uint8Array.from(c.input.mask) } : {}),
    ...(c.input.min_signal !== null ? { minSignal: c.input.min_signal } : {}),
  }
  return { dwi, r, opts }
}
