// The generated napi loader (native/index.js). Internal: the façade re-exports nothing raw.
// eslint-disable-next-line @typescript-eslint/no-require-imports
import native = require('../native/index.js')
export default native
export type { DkiFitOut, DtiFitOut, GradientsIn, VolumeOut, JobHandle, FeaturesOut, MatrixOut } from '../native/index.js'
