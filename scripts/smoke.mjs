// Cross-platform smoke run: loads the built package (dist/ + native/) on whatever platform runs
// it and prints, as JSON, summaries of one call per kernel family on deterministic inputs, so two
// platforms' outputs can be compared (scripts/compare-smoke.mjs).
//
//   node scripts/smoke.mjs [PACKAGE_DIR] > out.json    (default: the repository root)
//
// Inputs: the built-in DTI and DKI phantoms (small grids), PyRadiomics' brain1 case from
// ../shared/reference/pyradiomics when present, a smooth analytic displacement field.
import { existsSync } from 'node:fs'
import { createRequire } from 'node:module'
import { dirname, join, resolve } from 'node:path'
import { fileURLToPath } from 'node:url'

const root = resolve(process.argv[2] ?? join(dirname(fileURLToPath(import.meta.url)), '..'))
const vk = createRequire(import.meta.url)(join(root, 'dist', 'index.js'))

const arr = (a) => Array.from(a, Number)
const binding = createRequire(import.meta.url)(join(root, 'native', 'index.js')).__napiBindingTarget
const out = { platform: `${process.platform}-${process.arch}${binding === 'wasm32-wasi' ? ' (wasm32-wasi)' : ''}`, node: process.version, results: {} }
const put = (k, v) => (out.results[k] = arr(v))

// DTI and DKI on their phantoms, WLS (the default) and OLS, with maps and prediction
const dti = vk.simulateDtiPhantom({ shape: [12, 12, 3], snr: 30, seed: 7 })
const dgt = vk.gradientTable(dti.bvals, dti.bvecs)
for (const method of ['WLS', 'OLS']) {
  const f = vk.fitDtiSync(dti.dwi, dgt, { method, mask: dti.mask, returnS0: true })
  put(`dti.${method}.evals`, f.evals.data)
  put(`dti.${method}.fa`, f.fa().data)
  put(`dti.${method}.predict`, f.predictSync(dgt).data)
}
const dki = vk.simulateDkiPhantom({ shape: [8, 8, 2], snr: 30, seed: 7 })
const kgt = vk.gradientTable(dki.bvals, dki.bvecs)
const kf = vk.fitDkiSync(dki.dwi, kgt, { mask: dki.mask })
put('dki.WLS.evals', kf.evals.data)
put('dki.WLS.kt', kf.kt.data)
put('dki.WLS.mk', kf.mk().data)
put('dki.WLS.rk', kf.rk().data)

// a smooth field: inversion, composition and a linear warp
const [nx, ny, nz] = [16, 14, 10]
const n = nx * ny * nz
const field = new Float64Array(3 * n)
for (let z = 0, v = 0; z < nz; z++) {
  for (let y = 0; y < ny; y++) {
    for (let x = 0; x < nx; x++, v++) {
      field[v] = 0.8 * Math.sin((2 * Math.PI * y) / ny)
      field[n + v] = 0.6 * Math.cos((2 * Math.PI * z) / nz)
      field[2 * n + v] = 0.5 * Math.sin((2 * Math.PI * x) / nx)
    }
  }
}
const f = { data: field, shape: [nx, ny, nz, 3] }
const inv = vk.invertFieldSync(f)
put('fields.invert', inv.data)
out.results['fields.invert.iterations'] = [inv.stats.iterations]
put('fields.compose', vk.composeFieldsSync(f, inv).data)
const img = { data: Float64Array.from({ length: n }, (_, i) => Math.sin(i / 7)), shape: [nx, ny, nz] }
put('fields.warp', vk.warpVolumeSync(img, f).data)

// radiomics on PyRadiomics' brain1 when the shared reference data are there
const ref = join(root, '..', 'shared', 'reference', 'pyradiomics')
if (existsSync(join(ref, 'brain1_image.nrrd'))) {
  const image = vk.readVolumeSync(join(ref, 'brain1_image.nrrd'))
  const mask = vk.readVolumeSync(join(ref, 'brain1_label.nrrd'))
  const feats = vk.extractFeaturesSync(image, mask, { binWidth: 25 })
  out.results['radiomics.brain1'] = Object.keys(feats).sort().map((k) => feats[k])
}

// bytes round trip (builds that have it)
if (vk.parseVolumeSync) {
  const bytes = vk.serializeVolumeSync({ data: Int16Array.from({ length: 24 }, (_, i) => i - 12), shape: [4, 3, 2] }, 'a.nii.gz')
  put('io.parse', vk.parseVolumeSync(bytes, 'a.nii.gz').data)
}

process.stdout.write(JSON.stringify(out) + '\n')
