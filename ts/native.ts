// The generated napi loader (native/index.js). Internal: the façade re-exports nothing raw.
import native = require('../native/index.js')
export default native
export type * from '../native/index.js'
