// The schemas of scripts/fuzz-options.mjs: per public entry point, its inputs (arguments and
// an option object: per key [valid generator, hostile generator of the key's kind]), its
// synchronous and async twins, the error codes its documentation allows, and a check of a
// result that returns a digest (equal digests = the same result) or 'BAD:why'.
import { createHash } from 'node:crypto'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import * as vk from '../dist/index.mjs'
import { paramsFromText, settingsFromParams } from '../dist/radiomics.js'

/** A digest of values (typed arrays by their bytes), or 'BAD:' when a map that must be finite is not. */
function digest(...parts) {
  const h = createHash('sha1')
  for (const p of parts) {
    if (ArrayBuffer.isView(p)) h.update(Buffer.from(p.buffer, p.byteOffset, p.byteLength))
    else h.update(JSON.stringify(p, (k, v) => (typeof v === 'number' && !Number.isFinite(v) ? String(v) : typeof v === 'bigint' ? String(v) : v)) ?? 'undefined')
    h.update('|')
  }
  return h.digest('hex')
}
const finite = (a) => {
  for (const x of a) if (!Number.isFinite(x)) return false
  return true
}
const prod = (s) => s.reduce((a, b) => a * b, 1)
/** A Volume's well-formedness: data length = product of the shape; 'BAD:…' or undefined. */
function volumeBad(v, name, shape, mustBeFinite = true) {
  if (!v || !ArrayBuffer.isView(v.data) || !Array.isArray(v.shape)) return `BAD:${name} is not a Volume`
  if (shape && v.shape.join() !== shape.join()) return `BAD:${name} has shape [${v.shape}], expected [${shape}]`
  if (v.data.length !== prod(v.shape)) return `BAD:${name} holds ${v.data.length} values for shape [${v.shape}]`
  if (mustBeFinite && !finite(v.data)) return `BAD:${name} holds a non-finite value`
  return undefined
}

export function schemas(g) {
  const { pick, chance, int, r, num, numbers, junk, options, typed } = g
  const threads = [() => int(1, 3), () => pick([0, -1, 1.5, 1025, NaN, Infinity, 2 ** 32])]
  const bool = (name) => [() => chance(0.5), () => pick([0, 1, 'true', null, name])]
  /** A valid value of a Volume argument, or a mutated one (data type, shape, affine, spacing). */
  const volume = (v) => {
    if (chance(0.85)) return v
    const w = { ...v }
    switch (int(0, 9)) {
      case 0: w.data = typed(Array.from(v.data, Number)); break
      case 1: w.shape = pick([[...v.shape, 1], v.shape.slice(1), v.shape.map(String), [...v.shape.slice(0, -1), v.shape.at(-1) + 1], v.shape.map((s) => s + 0.5), []]); break
      case 2: w.affine = numbers(16, () => pick([1, 0, 0, 0.5]), num); break
      case 3: w.spacing = numbers(pick([2, 3, 4]), () => pick([1, 0.5, 2]), num); break
      case 4: w.data = v.data.subarray(0, Math.max(0, v.data.length - 1)); break
      case 5: w.affine = undefined; w.spacing = undefined; break
      case 6: w.data = Array.from(v.data, Number); break
      case 7: return junk()
      case 8: return Object.assign(Object.create(null), v)
      default: w.data = new v.data.constructor(v.data.length); break
    }
    return w
  }

  // ------------------------------------------------------------------ diffusion
  const dti = vk.simulateDtiPhantom({ shape: [4, 4, 1], seed: 1 })
  const gt = vk.gradientTable(dti.bvals, dti.bvecs)
  const nvol = dti.bvals.length
  const dki = vk.simulateDkiPhantom({ shape: [4, 4, 1], seed: 2 })
  const gk = vk.gradientTable(dki.bvals, dki.bvecs)
  const start = (spatial) => {
    const n = prod(spatial)
    const p = new Float64Array(n * 7)
    for (let i = 0; i < n; i++) p.set([0.0015, 0, 0.001, 0, 0, 0.0008, -Math.log(800)], 7 * i)
    return { data: chance(0.8) ? p : Float32Array.from(p), shape: [...spatial, 7] }
  }
  const mask = (m) => [
    () => (chance(0.5) ? m : chance(0.5) ? m.data : { ...m, data: Float32Array.from(m.data) }),
    () => pick([m.data.subarray(1), { data: m.data, shape: [...m.shape].reverse().concat([1]) }, typed(Array.from(m.data)), { data: m.data, shape: m.shape.map(String) }, Array.from(m.data)]),
  ]
  const fitKeys = (d, methods, own) => ({
    method: [() => pick(methods), () => pick(['wls', 'CLS', 'RESTORE', 'NLLS', '', 'WLS '])],
    mask: mask(d.mask),
    minSignal: [() => pick([1e-4, 1, 0.5]), num],
    returnS0: bool('yes'),
    outputType: [() => pick(['float64', 'float32']), () => pick(['float16', 'Float32', ''])],
    threads,
    ...own,
  })
  const dtiOwn = {
    weights: [() => numbers(nvol, () => pick([1, 0.5, 2, 0]), num), () => pick([[1], ['1'], Array.from({ length: nvol }, () => '1'), new Float64Array(nvol).fill(-1)])],
    sigma: [() => (chance(0.5) ? pick([1, 5, 20]) : numbers(nvol, () => pick([1, 5, 20]), num)), () => pick([0, -1, NaN, '5', ['5'], [5, 5]])],
    failIsNan: bool('no'),
    initParams: [() => start(dti.mask.shape), () => volume(start(chance(0.5) ? dti.mask.shape : [4, 4, 2]))],
  }
  const fitCheck = (shape, kurtosis) => (fit) => {
    const spatial = shape.slice(0, -1)
    const bad =
      volumeBad(fit.evals, 'evals', [...spatial, 3], false) ??
      volumeBad(fit.evecs, 'evecs', [...spatial, 3, 3], false) ??
      volumeBad(fit.status, 'status', spatial) ??
      volumeBad(fit.fa(), 'fa', spatial, false) ??
      (kurtosis ? volumeBad(fit.mk(), 'mk', spatial, false) : undefined)
    if (bad) return bad
    return digest(fit.evals.data, fit.evecs.data, fit.status.data, fit.s0?.data ?? null)
  }
  const fitSchema = (name, d, gtab, methods, own, kurtosis) => ({
    name,
    codes: ['ERR_SETTING', 'ERR_SHAPE', 'ERR_DTYPE', 'ERR_GRADIENTS', 'ERR_UNSUPPORTED'],
    inputs: () => ({ dwi: volume(d.dwi), gtab: chance(0.98) ? gtab : junk(), opts: options(fitKeys(d, methods, own), 0.25) }),
    sync: ({ dwi, gtab, opts }) => vk[`${name}Sync`](dwi, gtab, opts),
    async: ({ dwi, gtab, opts }) => vk[name](dwi, gtab, opts),
    check: fitCheck(d.dwi.shape, kurtosis),
  })
  const dtiFit = vk.fitDtiSync(dti.dwi, gt, { returnS0: true })
  const dkiFit = vk.fitDkiSync(dki.dwi, gk)
  const s0Keys = { s0: [() => (chance(0.5) ? pick([1, 100, 0]) : dtiFit.s0), () => pick([NaN, -1, '1', { data: dtiFit.s0.data, shape: [8, 2] }, dtiFit.evals])], threads }
  const predictCheck = (shape) => (v) => volumeBad(v, 'prediction', shape, false) ?? digest(v.data)

  // ------------------------------------------------------------------ gradient tables
  const bvals = Array.from(dti.bvals)
  const bvecs = Array.from(dti.bvecs)
  const rows = Array.from({ length: nvol }, (_, i) => bvecs.slice(3 * i, 3 * i + 3))
  const fsl = [0, 1, 2].map((c) => rows.map((row) => row[c]))

  // ------------------------------------------------------------------ fields
  const field3 = { data: Float32Array.from({ length: 4 * 4 * 3 * 3 }, (_, i) => 0.4 * Math.sin(i * 0.7)), shape: [4, 4, 3, 3], affine: [1.5, 0, 0, -3, 0, 1.2, 0, 2, 0, 0, 2, 1, 0, 0, 0, 1] }
  const field2 = { data: Float64Array.from({ length: 5 * 4 * 2 }, (_, i) => 0.3 * Math.cos(i)), shape: [5, 4, 2], spacing: [1, 2] }
  const field = () => (chance(0.6) ? field3 : field2)
  const moving = (f) => {
    const spatial = f.shape.length === 4 ? f.shape.slice(0, 3) : f.shape.slice(0, 2)
    const T = pick([Float32Array, Float64Array, Int16Array, Uint8Array])
    return { data: T.from({ length: prod(spatial) }, (_, i) => (i * 7) % 50), shape: spatial, ...(chance(0.5) ? { affine: f.affine ?? undefined } : {}) }
  }
  const fieldCheck = (shapeOf) => (out, inp) => volumeBad(out, 'field', shapeOf(inp)) ?? digest(out.data, out.stats ?? null)

  // ------------------------------------------------------------------ radiomics
  const rshape = [6, 6, 4]
  const image = { data: Int16Array.from({ length: prod(rshape) }, (_, i) => (i * 37) % 101), shape: rshape, spacing: [0.8, 0.8, 2] }
  const rmask = Uint8Array.from({ length: prod(rshape) }, (_, i) => {
    const x = i % 6
    const y = Math.floor(i / 6) % 6
    const z = Math.floor(i / 36)
    return x > 0 && x < 5 && y > 0 && y < 5 && z > 0 && z < 3 ? 1 : 0
  })
  const CLASSES = ['firstorder', 'glcm', 'gldm', 'glrlm', 'glszm', 'ngtdm', 'shape', 'shape2D']
  const settingKeys = {
    label: [() => pick([1, 1, 2]), num],
    binWidth: [() => pick([5, 10, 25]), num],
    binCount: [() => pick([4, 16, 32]), num],
    normalize: bool('x'),
    normalizeScale: [() => pick([1, 100]), num],
    removeOutliers: [() => pick([3, 1]), num],
    resampledPixelSpacing: [() => numbers(3, () => pick([0, 1, 2, 0.8]), num), () => pick([[1, 1], [0, 0, 0], ['1', '1', '1'], [-1, 1, 1]])],
    interpolator: [() => pick(['sitkNearestNeighbor', 'sitkLinear', 'sitkBSpline', 1, 2, 23]), () => pick(['sitkBlackmanWindowedSinc', 3, 0, 'linear', 2.5])],
    padDistance: [() => pick([0, 1, 5]), num],
    distances: [() => numbers(int(1, 2), () => int(1, 2), num), () => pick([[], [0], ['1'], [1.5], [-1]])],
    force2D: bool('x'),
    force2Ddimension: [() => int(0, 2), num],
    resegmentRange: [() => numbers(int(1, 2), () => int(0, 60), num), () => pick([[], [5, 1], [1, 2, 3], ['1']])],
    resegmentMode: [() => pick(['absolute', 'relative', 'sigma']), () => pick(['Absolute', ''])],
    minimumROIDimensions: [() => int(1, 3), num],
    minimumROISize: [() => int(1, 20), num],
    symmetricalGLCM: bool('x'),
    voxelArrayShift: [() => pick([0, 1000]), num],
    gldm_a: [() => int(0, 2), num],
    weightingNorm: [() => pick(['manhattan', 'euclidean', 'infinity', 'no_weighting']), () => pick(['l2', ''])],
    classes: [
      () => (chance(0.5) ? [pick(CLASSES)] : { [pick(CLASSES)]: pick([null, [], ['Mean'], ['Contrast']]) }),
      () => pick([['nope'], { glcm: ['Nope'] }, 'glcm', { glcm: 'Contrast' }, [1], { firstorder: [1] }]),
    ],
    aggregation: [() => pick(['3D_averaged', '3D_merged', '2D_averaged', '2D_slice_merged', '2.5D_direction_merged', '2.5D_merged']), () => pick(['3D', ''])],
    ibsi: bool('x'),
    resegmentShape: bool('x'),
    imageType: [
      () => ({ [pick(['Original', 'Square', 'SquareRoot', 'Logarithm', 'Exponential', 'Gradient', 'Wavelet', 'LoG'])]: pick([{}, null, { binWidth: 10 }]) }),
      () => pick([{ LBP2D: {} }, { Nope: {} }, { Original: 1 }, ['Original'], { LoG: { sigma: [0] } }]),
    ],
    sigma: [() => numbers(1, () => pick([1, 2, '1.0']), num), () => pick([[0], [-1], 'x', [[1]]])],
    wavelet: [() => pick(['haar', 'coif1', 'db2']), () => pick(['db99', '', 'Haar'])],
    level: [() => int(1, 2), num],
    start_level: [() => int(0, 1), num],
    gradientUseSpacing: bool('x'),
    kernelRadius: [() => 1, num],
    maskedKernel: bool('x'),
    initValue: [() => pick([0, NaN, -1]), num],
    voxelBatch: [() => pick([1, 5, 100]), num],
  }
  /** Radiomics settings: a few keys, cheap classes mostly (a run should stay near a millisecond). */
  const settings = (maps) => {
    const o = options(settingKeys, 0.06)
    try {
      if (!('classes' in o) && chance(0.8)) {
        o.classes = maps ? { [pick(['firstorder', 'glcm', 'ngtdm'])]: [pick(['Mean', 'Contrast', 'Coarseness', 'Energy'])] } : [pick(CLASSES)]
      }
      if (maps && 'imageType' in o && chance(0.9)) delete o.imageType
    } catch {
      // a hostile settings object or a primitive: as it is
    }
    return o
  }
  const radiomicsCodes = ['ERR_SETTING', 'ERR_SHAPE', 'ERR_DTYPE', 'ERR_UNSUPPORTED']
  const featuresCheck = (f) => {
    if (!f || typeof f !== 'object') return 'BAD:features are not an object'
    for (const [k, v] of Object.entries(f)) if (typeof v !== 'number') return `BAD:feature ${k} is ${typeof v}`
    return digest(Object.entries(f))
  }
  const matricesCheck = (m) =>
    m?.data instanceof Float64Array && m.shape.length === 3 && m.data.length === prod(m.shape) && finite(m.data)
      ? digest(m.data, m.shape, m.greyLevels, m.runLengths, m.angles)
      : `BAD:matrices not well formed: [${m?.shape}]`
  const radiomics = (name, check, maps) => ({
    name,
    codes: radiomicsCodes,
    inputs: () => ({ image: volume(image), mask: chance(0.9) ? rmask : pick([{ data: rmask, shape: rshape }, rmask.subarray(1), junk()]), settings: settings(maps), options: chance(0.9) ? {} : options({ threads }, 0.8) }),
    sync: ({ image, mask, settings, options }) => vk[`${name}Sync`](image, mask, settings, options),
    async: ({ image, mask, settings, options }) => vk[name](image, mask, settings, options),
    check,
  })

  // ------------------------------------------------------------------ I/O
  const dir = mkdtempSync(join(tmpdir(), 'voxelkit-fuzz-options-'))
  process.on('exit', () => rmSync(dir, { recursive: true, force: true }))
  const small = { data: Int16Array.from({ length: 24 }, (_, i) => i - 5), shape: [4, 3, 2], affine: [2, 0, 0, 1, 0, 2, 0, 2, 0, 0, 3, 3, 0, 0, 0, 1] }
  const NAMES = ['v.nii', 'v.nii.gz', 'v.nrrd', 'v.NII', 'v.nhdr', 'v.foo', '', 'v', '.nii']
  const fileOf = { 'v.nii': vk.serializeVolumeSync(small, 'v.nii'), 'v.nii.gz': vk.serializeVolumeSync(small, 'v.nii.gz'), 'v.nrrd': vk.serializeVolumeSync(small, 'v.nrrd') }
  for (const [n, b] of Object.entries(fileOf)) vk.writeVolumeSync(join(dir, n), small)
  const readKeys = { maxBytes: [() => pick([48, 47, 1 << 20, 0]), num] }
  const writeKeys = { encoding: [() => pick(['gzip', 'raw']), () => pick(['GZIP', 'bzip2', ''])] }
  const volumeCheck = (v) => volumeBad(v, 'volume', undefined, false) ?? digest(v.data, v.shape, v.affine)
  const ioCodes = ['ERR_SETTING', 'ERR_SHAPE', 'ERR_DTYPE', 'ERR_FORMAT', 'ERR_UNSUPPORTED', 'ERR_IO']
  let nwrite = 0

  // ------------------------------------------------------------------ SyN mapping transforms
  const blob = (cx) => Float32Array.from({ length: 100 }, (_, i) => Math.exp(-(((i % 10) - cx) ** 2 + (Math.floor(i / 10) - 5) ** 2) / 6))
  const map = vk.registerSyNSync({ data: blob(4.5), shape: [10, 10] }, { data: blob(5.5), shape: [10, 10] }, { levelIters: [2] })
  const img2 = { data: blob(5), shape: [10, 10] }

  return [
    fitSchema('fitDti', dti, gt, ['WLS', 'OLS', 'NLLS', 'RESTORE'], dtiOwn, false),
    fitSchema('fitDki', dki, gk, ['WLS', 'OLS', 'CLS', 'CWLS'], {}, true),
    {
      name: 'predict',
      codes: ['ERR_SETTING', 'ERR_SHAPE', 'ERR_DTYPE', 'ERR_GRADIENTS'],
      inputs: () => ({ gtab: chance(0.97) ? gt : junk(), opts: options(s0Keys, 0.5) }),
      sync: ({ gtab, opts }) => dtiFit.predictSync(gtab, opts),
      async: ({ gtab, opts }) => dtiFit.predict(gtab, opts),
      check: predictCheck([4, 4, 1, nvol]),
    },
    {
      name: 'kurtosisMaps',
      codes: ['ERR_SETTING'],
      inputs: () => ({ which: pick(['mk', 'ak', 'rk', 'mkt', 'rtk']), opts: options({ minKurtosis: [() => pick([-3 / 7, 0, -1]), num], maxKurtosis: [() => pick([3, 10]), num], analytical: bool('x') }, 0.4) }),
      sync: ({ which, opts }) => dkiFit[which](opts),
      check: (v) => volumeBad(v, 'map', [4, 4, 1], false) ?? digest(v.data),
    },
    {
      name: 'gradientTable',
      codes: ['ERR_GRADIENTS'],
      inputs: () => ({
        bvals: chance(0.7) ? bvals : numbers(nvol, () => pick([0, 1000, 2000]), num),
        bvecs: chance(0.6) ? pick([bvecs, rows, fsl]) : pick([numbers(3 * nvol, () => pick([0, 1, -1]), num), rows.map((row) => (chance(0.2) ? row.map(String) : row)), fsl.map((row) => (chance(0.3) ? row.map(String) : row)), junk()]),
        opts: options({ b0Threshold: [() => pick([0, 50, 100]), num], atol: [() => pick([1e-2, 0.1, 0]), num] }, 0.4),
      }),
      sync: ({ bvals, bvecs, opts }) => vk.gradientTable(bvals, bvecs, opts),
      check: (t) => (t.bvals.length * 3 === t.bvecs.length && t.b0sMask.length === t.bvals.length && finite(t.bvals) && finite(t.bvecs) ? digest(t.bvals, t.bvecs, t.b0sMask) : 'BAD:table not well formed'),
    },
    {
      name: 'invertField',
      codes: ['ERR_SETTING', 'ERR_SHAPE', 'ERR_DTYPE'],
      inputs: () => {
        const f = field()
        return { field: volume(f), opts: options({ maxIter: [() => int(0, 5), () => pick([-1, 1.5, 1e7, NaN, 2 ** 53])], tolerance: [() => pick([1e-3, 0.1, 0]), num], start: [() => f, () => volume(f === field3 ? field2 : field3)], threads }, 0.35) }
      },
      sync: ({ field, opts }) => vk.invertFieldSync(field, opts),
      async: ({ field, opts }) => vk.invertField(field, opts),
      check: fieldCheck((i) => i.field.shape),
    },
    {
      name: 'composeFields',
      codes: ['ERR_SETTING', 'ERR_SHAPE', 'ERR_DTYPE'],
      inputs: () => {
        const f = field()
        return { d1: volume(f), d2: volume(chance(0.9) ? f : field()), opts: options({ timeScaling: [() => pick([1, 0.5, 0, -1]), num], threads }, 0.4) }
      },
      sync: ({ d1, d2, opts }) => vk.composeFieldsSync(d1, d2, opts),
      async: ({ d1, d2, opts }) => vk.composeFields(d1, d2, opts),
      check: fieldCheck((i) => i.d1.shape),
    },
    {
      name: 'warpVolume',
      codes: ['ERR_SETTING', 'ERR_SHAPE', 'ERR_DTYPE'],
      inputs: () => {
        const f = field()
        const ref = () => ({ shape: f.shape.slice(0, f.shape.length - 1).map((s) => s + int(0, 1)), ...(chance(0.5) ? { affine: f.affine ?? [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1] } : { spacing: [1, 1, 1] }) })
        return {
          moving: volume(moving(f)),
          field: volume(f),
          opts: options({ interpolation: [() => pick(['linear', 'nearest']), () => pick(['cubic', 'Linear', ''])], reference: [ref, () => volume({ data: new Uint8Array(prod(ref().shape)), ...ref() })], threads }, 0.4),
        }
      },
      sync: ({ moving, field, opts }) => vk.warpVolumeSync(moving, field, opts),
      async: ({ moving, field, opts }) => vk.warpVolume(moving, field, opts),
      check: (v) => volumeBad(v, 'warped', undefined, false) ?? digest(v.data, v.shape, v.affine),
    },
    {
      name: 'synTransform',
      codes: ['ERR_SETTING', 'ERR_SHAPE', 'ERR_DTYPE'],
      inputs: () => ({ image: volume(img2), inverse: chance(0.5), opts: options({ interpolation: [() => pick(['linear', 'nearest']), () => pick(['cubic', ''])], threads }, 0.4) }),
      sync: ({ image, inverse, opts }) => (inverse ? map.transformInverseSync(image, opts) : map.transformSync(image, opts)),
      async: ({ image, inverse, opts }) => (inverse ? map.transformInverse(image, opts) : map.transform(image, opts)),
      check: (v) => volumeBad(v, 'transformed', [10, 10], false) ?? digest(v.data),
    },
    radiomics('extractFeatures', featuresCheck, false),
    radiomics('extractFeatureMaps', (m) => {
      for (const [k, v] of Object.entries(m ?? {})) {
        const bad = volumeBad(v, k, undefined, false)
        if (bad) return bad
      }
      return digest(Object.entries(m).map(([k, v]) => [k, Array.from(v.data), v.shape]))
    }, true),
    radiomics(pick(['glcm', 'glrlm', 'glszm', 'gldm', 'ngtdm']), matricesCheck, false),
    {
      name: 'paramsFromText',
      codes: ['ERR_FORMAT', 'ERR_SETTING', 'ERR_SHAPE', 'ERR_UNSUPPORTED'],
      inputs: () => {
        const doc = {}
        if (chance(0.8)) doc.setting = options(settingKeys, 0.15)
        if (chance(0.5)) doc.featureClass = { [pick(CLASSES.slice(0, 6))]: pick([null, ['Mean'], ['Contrast']]) }
        if (chance(0.3)) doc.imageType = { Original: {} }
        if (chance(0.1)) doc.voxelSetting = { kernelRadius: 1 }
        const json = chance(0.5)
        let text
        try {
          text = JSON.stringify(doc, (k, v) => (typeof v === 'bigint' ? Number(v) : v)) ?? 'null'
        } catch {
          text = '{'
        }
        return { text, path: json ? 'p.json' : 'p.yaml' }
      },
      sync: ({ text, path }) => {
        const p = paramsFromText(text, path)
        return vk.extractFeaturesSync(image, rmask, { ...settingsFromParams(p), classes: { firstorder: ['Mean'] } })
      },
      check: featuresCheck,
    },
    {
      name: 'parseVolume',
      codes: ioCodes,
      inputs: () => {
        const name = chance(0.85) ? pick(Object.keys(fileOf)) : pick([...NAMES, junk()])
        const bytes = (typeof name === 'string' && fileOf[name]) || fileOf['v.nii']
        return { bytes: chance(0.9) ? bytes : pick([bytes.buffer.slice(0), bytes.subarray(0, 100), new Int16Array(bytes.buffer.slice(0, bytes.length - (bytes.length % 2))), junk()]), name, opts: options(readKeys, 0.5) }
      },
      sync: ({ bytes, name, opts }) => vk.parseVolumeSync(bytes, name, opts),
      async: ({ bytes, name, opts }) => vk.parseVolume(bytes, name, opts),
      check: volumeCheck,
    },
    {
      name: 'readVolume',
      codes: ioCodes,
      inputs: () => ({ path: chance(0.9) ? join(dir, pick(Object.keys(fileOf))) : pick([join(dir, 'missing.nii'), dir, '', junk()]), opts: options(readKeys, 0.5) }),
      sync: ({ path, opts }) => vk.readVolumeSync(path, opts),
      async: ({ path, opts }) => vk.readVolume(path, opts),
      check: volumeCheck,
    },
    {
      name: 'serializeVolume',
      codes: ioCodes,
      inputs: () => ({ volume: volume(small), name: chance(0.85) ? pick(Object.keys(fileOf)) : pick([...NAMES, junk()]), opts: options(writeKeys, 0.4) }),
      sync: ({ volume, name, opts }) => vk.serializeVolumeSync(volume, name, opts),
      async: ({ volume, name, opts }) => vk.serializeVolume(volume, name, opts),
      // gzip output may differ only in nothing: the same input gives the same bytes
      check: (b) => (b instanceof Uint8Array ? digest(b) : 'BAD:not bytes'),
    },
    {
      name: 'writeVolume',
      codes: ioCodes,
      inputs: () => ({ volume: volume(small), ext: chance(0.9) ? pick(['.nii', '.nii.gz', '.nrrd']) : pick(['.foo', '', '.nhdr']), opts: options(writeKeys, 0.4) }),
      sync: ({ volume, ext, opts }) => {
        const p = join(dir, `w${nwrite++ % 4}${ext}`)
        vk.writeVolumeSync(p, volume, opts)
        return vk.readVolumeSync(p)
      },
      async: async ({ volume, ext, opts }) => {
        const p = join(dir, `w${nwrite++ % 4}${ext}`)
        await vk.writeVolume(p, volume, opts)
        return vk.readVolumeSync(p)
      },
      check: volumeCheck,
    },
    {
      name: 'setThreads',
      codes: ['ERR_SETTING'],
      inputs: () => ({ n: chance(0.5) ? int(0, 4) : chance(0.5) ? num() : junk() }),
      sync: ({ n }) => {
        const before = vk.getThreads()
        try {
          vk.setThreads(n)
          return vk.getThreads()
        } finally {
          vk.setThreads(before)
        }
      },
      check: (n) => (Number.isInteger(n) && n >= 1 ? digest(n) : `BAD:getThreads gave ${n}`),
    },
    {
      name: 'simulatePhantom',
      codes: ['ERR_SETTING'],
      inputs: () => {
        const opts = options({ shape: [() => [int(4, 5), int(4, 5), int(1, 2)], () => numbers(3, () => int(3, 5), num)], snr: [() => pick([30, 10, 1000]), num], seed: [() => int(0, 9), num] }, 0.6)
        // the default grid (64 x 64 x 12) takes 100 ms: small ones mostly
        try {
          if (opts.shape === undefined && chance(0.98)) opts.shape = [4, 4, 1]
        } catch {
          // a hostile option object or a primitive: as it is
        }
        return { dki: chance(0.5), opts }
      },
      sync: ({ dki, opts }) => (dki ? vk.simulateDkiPhantom(opts) : vk.simulateDtiPhantom(opts)),
      check: (p) => volumeBad(p.dwi, 'dwi') ?? volumeBad(p.mask, 'mask') ?? digest(p.dwi.data, p.bvals),
    },
  ]
}
