// `voxelkit register`: SyN registration from the command line.
import { readFileSync } from 'node:fs'
import { VoxelkitError } from './errors'
import { readVolume, writeVolume } from './io'
import { registerSyN, type RegisterSyNOptions, type SyNMetric } from './syn'
import type { Volume } from './volume'
import { UsageError, choiceOption, numberOption, parseCommandLine, printWritten, progressBar, seconds, secondsSince, threadsOption } from './cliKit'

export const REGISTER_USAGE = `  voxelkit register <static.nii[.gz]> <moving.nii[.gz]> --out FILE [--metric CC]
                    [--level-iters 10,10,5] [--prealign affine.txt] [--forward FILE] [--backward FILE]
                    [--convention ras|itk] [--threads N]
                    metric options: CC [--sigma-diff 2] [--radius 4];
                    SSD and EM [--smooth S] [--inner-iter K] [--step-type demons|gauss_newton];
                    EM [--q-levels 256] [--double-gradient true|false]
      SyN registration (DIPY's SymmetricDiffeomorphicRegistration; --metric CC (default), SSD or
      EM, with DIPY's metric defaults: SSD smooth 4, inner-iter 10, demons; EM smooth 1,
      inner-iter 5, gauss_newton): writes the moving image warped onto the static grid
      (float32), and optionally DIPY's forward / backward displacement fields (float32, static
      grid; ras: [nx, ny, nz, 3] RAS vectors, itk: ITK/ANTs [nx, ny, nz, 1, 3] LPS vectors).
      Without --prealign, \`voxelkit warp moving FILE\` with the backward field gives the same
      warped image. --prealign: 16 numbers (4x4 row-major) mapping static world to moving world
      coordinates, as DIPY's prealign.
`

/** A 4x4 matrix from a text file: 16 numbers separated by white space or commas; `#` starts a comment. */
function readAffine(path: string): number[] {
  const text = readFileSync(path, 'utf8')
    .split('\n')
    .map((l) => l.replace(/#.*/, ''))
    .join(' ')
  const nums = text.split(/[\s,]+/).filter((s) => s.length > 0).map(Number)
  if (nums.length !== 16 || !nums.every(Number.isFinite)) {
    throw new VoxelkitError('ERR_FORMAT', `${path}: a prealign file holds 16 finite numbers (a 4x4 matrix, row-major); found ${nums.length} values`)
  }
  return nums
}

/** A 2D/3D image, with trailing singleton axes (e.g. [nx, ny, nz, 1]) dropped. */
function spatial(v: Volume, path: string): Volume {
  let shape = [...v.shape]
  while (shape.length > 3 && shape[shape.length - 1] === 1) shape = shape.slice(0, -1)
  if (shape.length !== 2 && shape.length !== 3) throw new VoxelkitError('ERR_SHAPE', `${path}: register takes 2D or 3D images, got shape [${v.shape.join(', ')}]`)
  return { ...v, shape }
}

function fieldFile(data: Float32Array, shape: number[], affine: number[], conv: 'ras' | 'itk'): Volume {
  if (conv === 'ras') return { data, shape, affine }
  // ITK/ANTs: 5D [nx, ny, nz, 1, 3], vectors in LPS (x and y negated)
  const d = data.slice()
  const n = d.length / 3
  for (let i = 0; i < 2 * n; i++) d[i] = -d[i]
  return { data: d, shape: [...shape.slice(0, 3), 1, 3], affine }
}

export async function cmdRegister(args: string[]): Promise<void> {
  const { values, positionals } = parseCommandLine(args, {
    options: [
      'out',
      'metric',
      'level-iters',
      'prealign',
      'forward',
      'backward',
      'convention',
      'threads',
      'sigma-diff',
      'radius',
      'smooth',
      'inner-iter',
      'step-type',
      'q-levels',
      'double-gradient',
    ],
    defaults: { metric: 'CC', convention: 'ras' },
    positionals: true,
  })
  if (positionals.length !== 2) throw new UsageError('register needs <static> and <moving> files')
  if (!values.out) throw new UsageError('register needs --out FILE')
  const metric = choiceOption(values.metric, 'metric', ['CC', 'SSD', 'EM']) as SyNMetric
  const conv = choiceOption(values.convention, 'convention', ['ras', 'itk'])
  let levelIters: number[] | undefined
  if (values['level-iters'] !== undefined) {
    levelIters = values['level-iters'].split(',').map((s) => Number(s.trim()))
    if (levelIters.some((k) => !Number.isSafeInteger(k) || k < 0)) {
      throw new UsageError(`--level-iters must be comma-separated whole numbers, got ${values['level-iters']}`)
    }
  }
  // metric options: given ones only (the kernel's defaults otherwise; one of another metric is ERR_SETTING)
  const metricOpts: RegisterSyNOptions = {}
  for (const [flag, key] of [
    ['sigma-diff', 'sigmaDiff'],
    ['radius', 'radius'],
    ['smooth', 'smooth'],
    ['inner-iter', 'innerIter'],
    ['q-levels', 'qLevels'],
  ] as const) {
    const v = numberOption(values[flag], flag)
    if (v !== undefined) metricOpts[key] = v
  }
  if (values['step-type'] !== undefined) metricOpts.stepType = choiceOption(values['step-type'], 'step-type', ['demons', 'gauss_newton'] as const)
  if (values['double-gradient'] !== undefined) metricOpts.doubleGradient = choiceOption(values['double-gradient'], 'double-gradient', ['true', 'false']) === 'true'
  const threads = threadsOption(values.threads)
  const prealign = values.prealign ? readAffine(values.prealign) : undefined
  const t0 = performance.now()
  const stat = spatial(await readVolume(positionals[0]), positionals[0])
  const moving = spatial(await readVolume(positionals[1]), positionals[1])
  if (conv === 'itk' && stat.shape.length !== 3) throw new UsageError('--convention itk writes 3D fields only')
  const t1 = performance.now()
  const map = await registerSyN(stat, moving, {
    metric,
    ...metricOpts,
    ...(levelIters ? { levelIters } : {}),
    ...(prealign ? { prealign } : {}),
    ...(threads !== undefined ? { threads } : {}),
    onProgress: progressBar('registering', { counts: true }),
  })
  const warped = await map.transform(moving, threads !== undefined ? { threads } : {})
  const t2 = performance.now()
  await writeVolume(values.out, warped)
  printWritten(values.out)
  for (const [opt, f] of [
    ['forward', map.forward],
    ['backward', map.backward],
  ] as const) {
    const path = values[opt]
    if (path) {
      await writeVolume(path, fieldFile(f.data as Float32Array, f.shape, f.affine!, conv))
      printWritten(path, `${opt} field (${conv})`)
    }
  }
  const e = map.energies.map((l) => (l.length ? l[l.length - 1].toFixed(4) : '-')).join(', ')
  console.log(`registered ${positionals[1]} to ${positionals[0]} in ${seconds(t2 - t1)} s: iterations per level [${map.iterations.join(', ')}], final energies [${e}] (total ${secondsSince(t0)} s)`)
}
