// `voxelkit invert-field` and `voxelkit warp`: displacement-field commands of the CLI.
//
// Field files: a 5D NIfTI of shape [nx, ny, nz, 1, 3] is read as an ITK/ANTs displacement field,
// whose vectors are in ITK's LPS physical space (ITK writes the header's affine in RAS but keeps
// the vector components in LPS): x and y components are negated on the way in and out so that
// voxelkit computes in the header's RAS world. A 4D [nx, ny, nz, 3] (or 2D [nx, ny, 2]) file is
// taken as RAS vectors as they are (DIPY/nibabel style). `--convention itk|ras` overrides.
import { VoxelkitError } from './errors'
import { readVolume, writeVolume } from './io'
import { invertField, warpVolume, type DisplacementField } from './fields'
import type { Volume } from './volume'
import {
  UsageError,
  choiceOption,
  numberOption,
  parseCommandLine,
  printWritten,
  progressBar,
  seconds,
  secondsSince,
  threadsOption,
} from './cliKit'

export const FIELDS_USAGE = `  voxelkit invert-field <field.nii[.gz]> --out FILE [--max-iter N] [--tolerance T] [--start FILE]
                        [--convention auto|itk|ras] [--threads N]
      Inverts a displacement field (DIPY's fixed-point method, same stopping rules). ITK/ANTs
      5D fields [nx, ny, nz, 1, 3] (LPS vectors) in and out, or [nx, ny, nz, 3] RAS fields.
  voxelkit warp <moving.nii[.gz]> <field.nii[.gz]> --out FILE [--interpolation linear|nearest]
                [--reference FILE] [--convention auto|itk|ras] [--threads N]
      Warps an image through a displacement field: out(x) = moving(x + field(x)), on the
      field's grid (or the reference image's grid).
`

type Convention = 'itk' | 'ras'

function convention(v: string | undefined, shape: number[]): Convention {
  const c = choiceOption(v ?? 'auto', 'convention', ['auto', 'itk', 'ras'])
  if (c !== 'auto') return c
  return shape.length === 5 ? 'itk' : 'ras'
}

/** The field in RAS world units, as voxelkit computes (a copy when components are flipped). */
function toRas(v: Volume, name: string, conv: Convention): DisplacementField {
  if (!(v.data instanceof Float32Array || v.data instanceof Float64Array)) {
    throw new VoxelkitError('ERR_DTYPE', `${name}: a displacement field must be float32 or float64, the file holds ${v.data.constructor.name}`)
  }
  if (conv === 'ras') return v as DisplacementField
  const data = v.data.slice()
  const ncomp = v.shape[v.shape.length - 1]
  const n = data.length / ncomp
  for (let c = 0; c < Math.min(2, ncomp); c++) for (let i = c * n; i < (c + 1) * n; i++) data[i] = -data[i]
  return { ...v, data } as DisplacementField
}

async function readField(path: string, conv: string | undefined): Promise<[DisplacementField, Convention]> {
  const v = await readVolume(path)
  const c = convention(conv, v.shape)
  return [toRas(v, path, c), c]
}

export async function cmdInvertField(args: string[]): Promise<void> {
  const { values, positionals } = parseCommandLine(args, {
    options: ['out', 'max-iter', 'tolerance', 'start', 'convention', 'threads'],
    positionals: true,
  })
  if (positionals.length !== 1) throw new UsageError('invert-field needs exactly one field file')
  if (!values.out) throw new UsageError('invert-field needs --out FILE')
  const maxIter = numberOption(values['max-iter'], 'max-iter')
  const tolerance = numberOption(values.tolerance, 'tolerance')
  const threads = threadsOption(values.threads)
  const t0 = performance.now()
  const [field, conv] = await readField(positionals[0], values.convention)
  const start = values.start ? (await readField(values.start, values.convention))[0] : undefined
  const t1 = performance.now()
  const inv = await invertField(field, {
    ...(maxIter !== undefined ? { maxIter } : {}),
    ...(tolerance !== undefined ? { tolerance } : {}),
    ...(start ? { start } : {}),
    ...(threads !== undefined ? { threads } : {}),
    onProgress: progressBar('inverting'),
  })
  const t2 = performance.now()
  const out = toRas(inv, 'inverse', conv) // the flip is its own inverse
  await writeVolume(values.out, { data: out.data, shape: inv.shape, affine: inv.affine })
  const nvox = field.shape.slice(0, -1).reduce((a, b) => a * b, 1)
  console.log(
    `inverted a ${field.shape.join('x')} ${conv.toUpperCase()} field (${nvox} voxels) in ${seconds(t2 - t1, 3)} s: ` +
      `${inv.stats.iterations} iterations, mean residual ${inv.stats.error.toExponential(3)} voxel, max ${inv.stats.maxResidual.toExponential(3)} voxel`,
  )
  printWritten(values.out, `total ${secondsSince(t0)} s`)
}

export async function cmdWarp(args: string[]): Promise<void> {
  const { values, positionals } = parseCommandLine(args, {
    options: ['out', 'interpolation', 'reference', 'convention', 'threads'],
    defaults: { interpolation: 'linear' },
    positionals: true,
  })
  if (positionals.length !== 2) throw new UsageError('warp needs <moving> and <field> files')
  if (!values.out) throw new UsageError('warp needs --out FILE')
  const interpolation = choiceOption(values.interpolation, 'interpolation', ['linear', 'nearest'])
  const threads = threadsOption(values.threads)
  const t0 = performance.now()
  const moving = await readVolume(positionals[0])
  const [field] = await readField(positionals[1], values.convention)
  const reference = values.reference ? await readVolume(values.reference) : undefined
  // a 3D image stored with trailing singleton axes (e.g. [nx, ny, nz, 1]) is warped as 3D
  const nd = field.shape.length === 3 ? 2 : 3
  if (moving.shape.length > nd && moving.shape.slice(nd).every((s) => s === 1)) moving.shape = moving.shape.slice(0, nd)
  const t1 = performance.now()
  const out = await warpVolume(moving, field, {
    interpolation,
    ...(reference ? { reference: { shape: reference.shape.slice(0, nd), affine: reference.affine } } : {}),
    ...(threads !== undefined ? { threads } : {}),
    onProgress: progressBar('warping'),
  })
  const t2 = performance.now()
  // linear output is float64; store float32 unless the moving image was float64
  const data = interpolation === 'linear' && !(moving.data instanceof Float64Array) ? Float32Array.from(out.data as Float64Array) : out.data
  await writeVolume(values.out, { ...out, data })
  console.log(`warped ${positionals[0]} (${interpolation}) onto a ${out.shape.join('x')} grid in ${seconds(t2 - t1, 3)} s`)
  printWritten(values.out, `total ${secondsSince(t0)} s`)
}
