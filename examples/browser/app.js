// voxelkit browser example, the page's side: UI and NiiVue. voxelkit itself runs in a Web Worker
// (worker.js: the browser's main thread may not wait on the locks the threaded WASI build uses).
// A plain ES module; `npm run build:browser` writes ./dist/, and `node examples/browser/serve.mjs`
// serves this folder with the COOP/COEP headers that threads need.
import { Niivue, NVImage } from './dist/niivue.mjs'

const $ = (id) => document.getElementById(id)
const isolated = globalThis.crossOriginIsolated === true
// Threaded WebAssembly needs SharedArrayBuffer, which browsers give only to cross-origin
// isolated pages. voxelkit's default in WASI is 1 thread, so the page asks for all cores.
const defaultThreads = isolated ? Math.max(1, navigator.hardwareConcurrency || 1) : 1
$('threads').value = defaultThreads

// What the page did, for scripts/test-browser.mjs (and the console).
const state = {
  status: 'loading',
  crossOriginIsolated: isolated,
  hardwareConcurrency: navigator.hardwareConcurrency,
  threads: defaultThreads,
  runs: [],
}
window.__voxelkit = state

function setStatus(text) {
  $('status').textContent = text
}

function showError(message) {
  state.status = 'error'
  state.error = message
  $('error').hidden = false
  $('error').textContent = message
  setStatus('failed')
  console.error(message)
}

if (!isolated) {
  $('isolation').hidden = false
  $('isolation').innerHTML =
    'This page is not <b>cross-origin isolated</b> (<code>crossOriginIsolated</code> is false), so the browser ' +
    "withholds <code>SharedArrayBuffer</code>, which voxelkit's threaded WebAssembly build needs to share its memory " +
    'with its threads. Serve the page with <code>Cross-Origin-Opener-Policy: same-origin</code> and ' +
    '<code>Cross-Origin-Embedder-Policy: require-corp</code>, as <code>node examples/browser/serve.mjs</code> does. ' +
    '(A build without threads, wasm32-wasip1, does not exist yet.)'
}

async function viewer(id) {
  const nv = new Niivue({ backColor: [0, 0, 0, 1], crosshairWidth: 0, loadingText: '' })
  await nv.attachToCanvas($(id))
  nv.setSliceType(nv.sliceTypeAxial)
  return nv
}

async function show(nv, bytes, name, opts) {
  for (const v of [...nv.volumes]) nv.removeVolume(v)
  const img = await NVImage.loadFromUrl({ url: name, buffer: bytes.buffer, name, ...opts })
  nv.addVolume(img)
}

function download(bytes, name, label) {
  const a = document.createElement('a')
  a.href = URL.createObjectURL(new Blob([bytes], { type: 'application/gzip' }))
  a.download = name
  a.textContent = label
  return a
}

function toBase64(a) {
  const u8 = new Uint8Array(a.buffer, a.byteOffset, a.byteLength)
  let s = ''
  for (let i = 0; i < u8.length; i += 0x8000) s += String.fromCharCode(...u8.subarray(i, i + 0x8000))
  return btoa(s)
}

const [faView, cfaView] = await Promise.all([viewer('faView'), viewer('cfaView')])
const worker = new Worker(new URL('./worker.js', import.meta.url), { type: 'module' })
let busy = true
let fitStart = 0

function setBusy(b) {
  busy = b
  for (const id of ['phantom', 'fitFiles']) $(id).disabled = b
}

async function done(m) {
  $('progress').value = 1
  await show(faView, m.faNii, 'fa.nii', { colormap: 'gray', cal_min: 0, cal_max: 1 })
  await show(cfaView, m.cfaNii, 'cfa.nii', {})
  $('downloads').replaceChildren(
    download(m.faGz, 'fa.nii.gz', 'download FA (.nii.gz)'),
    download(m.cfaGz, 'color_fa.nii.gz', 'download colour FA (.nii.gz, [x, y, z, 3])'),
  )
  const t = `${m.threads} thread${m.threads > 1 ? 's' : ''}`
  setStatus(`${m.source}: ${m.dwiShape.join(' x ')} fitted in ${m.ms.toFixed(0)} ms with ${t} (${(performance.now() - fitStart).toFixed(0)} ms with reading and display)`)
  state.runs.push({ source: m.source, ms: m.ms, threads: m.threads })
  Object.assign(state, { status: 'done', source: m.source, ms: m.ms, threads: m.threads, fa: m.fa, faBase64: toBase64(m.fa), shape: m.shape })
}

worker.onmessage = (e) => {
  const m = e.data
  if (m.type === 'ready') {
    state.version = m.version
    fit('phantom')
  } else if (m.type === 'progress') {
    if (m.shape) setStatus(`fitting ${m.shape.join(' x ')} with ${state.threads} thread${state.threads > 1 ? 's' : ''}…`)
    $('progress').value = m.total > 0 ? m.done / m.total : 0
  } else if (m.type === 'done') {
    done(m)
      .catch((err) => showError(String(err)))
      .finally(() => setBusy(false))
  } else if (m.type === 'error') {
    showError(m.message)
    setBusy(!state.version)
  }
}
worker.onerror = (e) => {
  showError(`the voxelkit worker failed to start: ${e.message || 'see the console'}`)
}

async function fit(source) {
  if (busy && state.status !== 'loading') return
  const threads = Number($('threads').value) || defaultThreads
  const msg = { type: 'fit', source, threads }
  const transfer = []
  if (source === 'files') {
    const [dwi, bval, bvec] = ['dwi', 'bval', 'bvec'].map((id) => $(id).files[0])
    if (!dwi || !bval || !bvec) {
      showError('choose a DWI (.nii, .nii.gz, .nrrd) and its .bval and .bvec files')
      return
    }
    msg.dwi = { bytes: await dwi.arrayBuffer(), name: dwi.name }
    msg.bval = await bval.text()
    msg.bvec = await bvec.text()
    transfer.push(msg.dwi.bytes)
  }
  setBusy(true)
  fitStart = performance.now()
  Object.assign(state, { status: 'running', threads })
  $('error').hidden = true
  $('progress').value = 0
  setStatus('reading…')
  worker.postMessage(msg, transfer)
}

$('phantom').addEventListener('click', () => fit('phantom'))
$('fitFiles').addEventListener('click', () => fit('files'))
setStatus('loading the WebAssembly module…')
