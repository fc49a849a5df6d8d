// The main job: DTI maps from files to files. Shared by `voxelkit dti` and `voxelkit demo`.
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fitDti, type DtiMethod, type TensorFit } from './dti'
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
  method?: DtiMethod
  threads?: number
  out: string
  onProgress?: (done: number, total: number) => void
  signal?: AbortSignal
}

/** What the job wrote and how long its parts took (ms). @internal */
export interface DtiJobResult {
  fit: TensorFit
  dwi: Volume
  files: string[]
  timings: { read: number; fit: number; maps: number; write: number }
}

function toFloat32(v: Volume): Volume {
  return { ...v, data: Float32Array.from(v.data as ArrayLike<number>) }
}

/** Reads a series, fits DTI and writes the maps plus a PNG preview into `out`. @internal */
export async function runDtiJob(input: DtiJobInput): Promise<DtiJobResult> {
  const t0 = performance.now()
  const dwi = await readVolume(input.dwi)
  const { bvals, bvecs } = readBvalsBvecs(input.bval, input.bvec)
  const gtab = gradientTable(bvals, bvecs)
  const mask = input.mask ? await readVolume(input.mask) : undefined
  const t1 = performance.now()
  const fit = await fitDti(dwi, gtab, {
    method: input.method ?? 'WLS',
    mask,
    threads: input.threads,
    onProgress: input.onProgress,
    signal: input.signal,
  })
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
  const t3 = performance.now()
  mkdirSync(input.out, { recursive: true })
  const files: string[] = []
  for (const [name, vol] of Object.entries(maps)) {
    const path = join(input.out, `${name}.nii.gz`)
    await writeVolume(path, toFloat32(vol))
    files.push(path)
  }
  const spatial = dwi.shape.slice(0, -1)
  const z = Math.floor((spatial[2] ?? 1) / 2)
  const preview = slicePreview(maps.fa.data as Float64Array, maps.color_fa.data as Float64Array, spatial, z)
  const png = join(input.out, 'preview.png')
  writeFileSync(png, preview.png)
  files.push(png)
  const t4 = performance.now()
  return { fit, dwi, files, timings: { read: t1 - t0, fit: t2 - t1, maps: t3 - t2, write: t4 - t3 } }
}
