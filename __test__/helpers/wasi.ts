// Whether the suite runs against the WebAssembly build (scripts/test-wasi.sh sets
// NAPI_RS_FORCE_WASI=error, which makes native/index.js load only the WASI binding).
import { createRequire } from 'node:module'
import { join } from 'node:path'

const ROOT = join(__dirname, '..', '..')
const native = createRequire(__filename)(join(ROOT, 'native', 'index.js')) as { __napiBindingTarget?: string }

/** True when the loaded binding is voxelkit-wasm32-wasi. */
export const WASI = native.__napiBindingTarget === 'wasm32-wasi'
