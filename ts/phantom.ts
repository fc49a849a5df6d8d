import native from './native'
import { VoxelkitError, call, readUserValue, shown } from './errors'
import { checkOptions } from './jobs'
import type { Volume } from './volume'

/** Options of {@link simulateDtiPhantom} and {@link simulateDkiPhantom}. */
export interface PhantomOptions {
  /** Grid size. @defaultValue [64, 64, 12] */
  shape?: [number, number, number]
  /** Signal-to-noise ratio at S0 = 1000 (Rician noise). @defaultValue 30 */
  snr?: number
  /** Random seed. @defaultValue 1 */
  seed?: number
}

/** A synthetic diffusion data set. */
export interface Phantom {
  dwi: Volume<Int16Array>
  bvals: Float64Array
  bvecs: Float64Array
  mask: Volume<Uint8Array>
  /** Noise-free FA. */
  trueFa: Volume<Float64Array>
}

/**
 * A deterministic DTI phantom: a head-like ellipsoid with grey matter, CSF and a ring of white
 * matter with tangential fibres, 6 b=0 + 60 directions at b = 1000, Rician noise, int16.
 */
export function simulateDtiPhantom(opts: PhantomOptions = {}): Phantom {
  return simulate(opts, 'dti')
}

/**
 * A deterministic kurtosis phantom with the same geometry: tissues are mixtures of Gaussian
 * compartments (non-zero kurtosis), one b=0 + 64 directions at each of b = 1000, 2000, 3000
 * (193 volumes), Rician noise, int16. `trueFa` is the FA of the volume-weighted mean tensor.
 */
export function simulateDkiPhantom(opts: PhantomOptions = {}): Phantom {
  return simulate(opts, 'dki')
}

function simulate(opts: PhantomOptions, model: 'dti' | 'dki'): Phantom {
  checkOptions(opts, { shape: 'object', snr: 'number', seed: 'number' }, model === 'dti' ? 'simulateDtiPhantom' : 'simulateDkiPhantom')
  const { shape: given = [64, 64, 12], snr = 30, seed = 1 } = opts
  // a plain copy, read once (a Proxy of an array whose traps throw is ERR_SETTING)
  const shape = readUserValue(() => (Array.isArray(given) ? [...given] : given), 'ERR_SETTING', 'shape') as number[]
  // every index (a sparse array's holes are refused, not skipped)
  if (!Array.isArray(shape) || shape.length !== 3 || ![0, 1, 2].every((i) => Number.isInteger(shape[i]) && shape[i] > 0 && shape[i] < 4096)) {
    throw new VoxelkitError('ERR_SETTING', `shape must be 3 positive integers, got ${shown(shape)}`)
  }
  if (!Number.isInteger(seed) || seed < 0 || seed > 0xffffffff) {
    throw new VoxelkitError('ERR_SETTING', `seed must be an integer from 0 to 2^32-1, got ${seed}`)
  }
  const p = call(() => native.simulatePhantom(model, [...shape], snr, seed))
  const affine = [p.spacing[0], 0, 0, 0, 0, p.spacing[1], 0, 0, 0, 0, p.spacing[2], 0, 0, 0, 0, 1]
  const grid = { affine, spacing: [...p.spacing] }
  return {
    dwi: { data: p.data, shape: [...shape, p.bvals.length], ...grid },
    bvals: p.bvals,
    bvecs: p.bvecs,
    mask: { data: p.mask, shape: [...shape], ...grid },
    trueFa: { data: p.trueFa, shape: [...shape], ...grid },
  }
}
