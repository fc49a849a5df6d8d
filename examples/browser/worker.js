// voxelkit runs in this dedicated Web Worker, not on the page's main thread. Two rules for the
// threaded WASI build in a browser (both seen in this example before it followed them):
//
// - The maps (fa(), colorFa(), …) and every *Sync call run on a thread pool and block the calling
//   thread until the pool is done, with Atomics.wait, which a browser forbids on the main thread:
//   there they trap ("Atomics.wait cannot be called in this context"; the first fa() after a fit
//   did, every time). A worker may wait.
// - They use the default pool (setThreads; 1 thread under WASI unless set). A pool that does not
//   exist yet needs new threads, and a new thread whose Web Worker is not ready yet needs the
//   event loop of the very thread that now waits: a deadlock. So the fit (async: its pool is
//   started from a pool thread while this one stays free) and the maps use one pool, setThreads(n).
//
// Messages in:  { type: 'fit', threads, source: 'phantom' }
//               { type: 'fit', threads, source: 'files', dwi: { bytes: ArrayBuffer, name }, bval: string, bvec: string }
// Messages out: { type: 'ready', version } | { type: 'progress', done, total }
//               | { type: 'done', ... maps and files } | { type: 'error', message }
let vk
try {
  vk = await import('./dist/voxelkit.mjs')
} catch (e) {
  postMessage({ type: 'error', message: `loading voxelkit failed: ${e}` })
}

/** Rows of numbers from an FSL .bval/.bvec text. */
function numbers(text) {
  return text
    .trim()
    .split(/\r?\n/)
    .filter((l) => l.trim() !== '')
    .map((l) => l.trim().split(/[\s,]+/).map(Number))
}

/**
 * Colour FA `[nx, ny, nz, 3]` (float, 0 to 1) as NIfTI RGB24 bytes, which NiiVue shows as colour:
 * serializeVolume writes the interleaved bytes as a uint8 volume `[3 nx, ny, nz]`, and the header
 * is then relabelled (dim[1] = nx, datatype = DT_RGB24, bitpix = 24).
 */
async function rgb24Nifti(cfa) {
  const [nx, ny, nz] = cfa.shape
  const n = nx * ny * nz
  const rgb = new Uint8Array(3 * n)
  for (let c = 0; c < 3; c++) {
    for (let i = 0; i < n; i++) rgb[3 * i + c] = Math.round(255 * Math.min(1, Math.max(0, cfa.data[c * n + i])))
  }
  const bytes = await vk.serializeVolume({ data: rgb, shape: [3 * nx, ny, nz], affine: cfa.affine, spacing: cfa.spacing }, 'cfa.nii')
  const h = new DataView(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  if (h.getInt32(0, true) !== 348) throw new Error('colour FA: expected a NIfTI-1 header')
  h.setInt16(42, nx, true) // dim[1]
  h.setInt16(70, 128, true) // datatype DT_RGB24
  h.setInt16(72, 24, true) // bitpix
  return bytes
}

async function load(msg) {
  if (msg.source === 'phantom') {
    const p = vk.simulateDtiPhantom()
    return { dwi: p.dwi, bvals: p.bvals, bvecs: p.bvecs, mask: p.mask }
  }
  return {
    dwi: await vk.parseVolume(new Uint8Array(msg.dwi.bytes), msg.dwi.name),
    bvals: numbers(msg.bval).flat(),
    bvecs: numbers(msg.bvec),
  }
}

async function fit(msg) {
  vk.setThreads(msg.threads)
  const { dwi, bvals, bvecs, mask } = await load(msg)
  const gtab = vk.gradientTable(bvals, bvecs)
  postMessage({ type: 'progress', done: 0, total: 1, shape: dwi.shape })
  const t0 = performance.now()
  const tensor = await vk.fitDti(dwi, gtab, {
    mask,
    onProgress: (done, total) => postMessage({ type: 'progress', done, total }),
  })
  const ms = performance.now() - t0
  const fa = tensor.fa()
  const cfa = tensor.colorFa()
  const files = {
    faNii: await vk.serializeVolume(fa, 'fa.nii'),
    cfaNii: await rgb24Nifti(cfa),
    faGz: await vk.serializeVolume(fa, 'fa.nii.gz'),
    cfaGz: await vk.serializeVolume(cfa, 'color_fa.nii.gz'),
  }
  for (const k of Object.keys(files)) files[k] = own(files[k])
  const out = { type: 'done', source: msg.source, dwiShape: dwi.shape, shape: fa.shape, ms, threads: msg.threads, fa: own(fa.data), ...files }
  postMessage(out, [out.fa.buffer, ...Object.values(files).map((b) => b.buffer)])
}

/** `a`, or a copy of it when it does not own the whole of a transferable ArrayBuffer. */
function own(a) {
  const whole = a.byteOffset === 0 && a.byteLength === a.buffer.byteLength && a.buffer instanceof ArrayBuffer
  return whole ? a : a.slice()
}

self.onmessage = async (e) => {
  if (!vk) return
  try {
    await fit(e.data)
  } catch (err) {
    postMessage({ type: 'error', message: err && err.code ? `${err.code}: ${err.message}` : String((err && err.stack) || err) })
  }
}
if (vk) postMessage({ type: 'ready', version: vk.version })
