// The generated napi loader (native/index.js). Internal: the façade re-exports nothing raw.
// (An ES import, so that the browser bundle can put the WASI loader, an ES module with a
// top-level await, in its place.)
import * as native from '../native/index.js'
export default native
export type * from '../native/index.js'
