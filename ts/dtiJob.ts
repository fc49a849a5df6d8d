// The main jobs: DTI or DKI maps from files to files. Shared by `voxelkit dti`, `voxelkit dki`
// and `voxelkit demo`.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fitDti, type DtiMethod, type TensorFit } from './dti'
import { KurtosisFit, fitDki, type DkiMethod } from './dki'
import { gradientTable } from './gradients'
import { readBvalsBvecs, readVolume, writeVolume } from './io'
import { slicePreview } from './png'
import type { Volume } from './volume'

/** Inputs of {@link runDtiJob}. @internal */
export interface DtiJobInput {
  dwi: string
  bval: string
  bvec: string
  mask?: string
  /** 'dti' (default) or 'dki'. */
  model?: 'dti' | 'dki'
  method?: DtiMethod | DkiMethod
  /** DTI RESTORE: the noise level (one value or one per volume). */
  sigma?: number | number[]
  threads?: number
  out: string
  onProgress?: (done: number, total: number) => void
  signal?: AbortSignal
}

/** What the job wrote and how long its parts took (ms). @internal */
export interface DtiJobResult {
  fit: TensorFit | KurtosisFit
  dwi: Volume
  files: string[]
  /** RESTORE: voxels with at least one rejected volume, and rejected volumes in all. */
  rejected?: { voxels: number; volumes: number }
  timings: { read: number; fit: number; maps: number; write: number }
}

function toFloat32(v: Volume): Volume {
  return { ...v, data: Float32Array.from(v.data as ArrayLike<number>) }
}

/**
 * Reads a series, fits DTI (or DKI) and writes the maps plus a PNG preview (mid-slice FA, or MK
 * for DKI, next to colour FA) into `out`. @internal
 */
export async function runDtiJob(input: DtiJobInput): Promise<DtiJobResult> {
  const t0 = performance.now()
  const dwi = await readVolume(input.dwi)
  const { bvals, bvecs } = readBvalsBvecs(input.bval, input.bvec)
  const gtab = gradientTable(bvals, bvecs)
  const mask = input.mask ? await readVolume(input.mask) : undefined
  const t1 = performance.now()
  const common = { mask, threads: input.threads, onProgress: input.onProgress, signal: input.signal }
  const fit =
    input.model === 'dki'
      ? await fitDki(dwi, gtab, { ...common, method: (input.method ?? 'WLS') as DkiMethod })
      : await fitDti(dwi, gtab, { ...common, method: (input.method ?? 'WLS') as DtiMethod, sigma: input.sigma })
  const t2 = performance.now()
  const maps: Record<string, Volume> = {
    fa: fit.fa(),
    md: fit.md(),
    ad: fit.ad(),
    rd: fit.rd(),
    evals: fit.evals,
    evecs: fit.evecs,
    color_fa: fit.colorFa(),
  }
  if (fit instanceof KurtosisFit) {
    Object.assign(maps, { mk: fit.mk(), ak: fit.ak(), rk: fit.rk(), kfa: fit.kfa(), mkt: fit.mkt(), kt: fit.kt })
  }
  let rejected: DtiJobResult['rejected']
  let rejectedMap: Volume | undefined
  if (input.model !== 'dki' && input.method === 'RESTORE') {
    rejectedMap = fit.rejectedCount()
    const counts = rejectedMap.data as Uint16Array
    rejected = { voxels: counts.filter((c) => c > 0).length, volumes: counts.reduce((a, b) => a + b, 0) }
  }
  const t3 = performance.now()
  mkdirSync(input.out, { recursive: true })
  const files: string[] = []
  for (const [name, vol] of Object.entries(maps)) {
    const path = join(input.out, `${name}.nii.gz`)
    await writeVolume(path, toFloat32(vol))
    files.push(path)
  }
  if (rejectedMap) {
    const path = join(input.out, 'rejected.nii.gz')
    await writeVolume(path, rejectedMap)
    files.push(path)
  }
  const spatial = dwi.shape.slice(0, -1)
  const z = Math.floor((spatial[2] ?? 1) / 2)
  // MK (0..~2 in tissue) is shown scaled by 1/2 on the FA panel's grey scale
  const grey = maps.mk ? Float64Array.from(maps.mk.data as Float64Array, (x) => x / 2) : (maps.fa.data as Float64Array)
  const preview = slicePreview(grey, maps.color_fa.data as Float64Array, spatial, z)
  const png = join(input.out, 'preview.png')
  writeFileSync(png, preview.png)
  files.push(png)
  const t4 = performance.now()
  return { fit, dwi, files, rejected, timings: { read: t1 - t0, fit: t2 - t1, maps: t3 - t2, write: t4 - t3 } }
}
