// `voxelkit radiomics`: PyRadiomics features (first order, shape, shape2D and the texture
// classes) of one case, or of a batch of cases listed in a CSV (PyRadiomics' batch input:
// `Image,Mask` columns, optional `Label`), one output row per case.
import { availableParallelism } from 'node:os'
import { dirname, isAbsolute, resolve } from 'node:path'
import { VoxelkitError } from './errors'
import { join } from 'node:path'
import { readVolume, writeVolume } from './io'
import { extractFeatureMaps, extractFeatures, readParams, settingsFromParams, type Features, type RadiomicsSettings } from './radiomics'
import { UsageError, makeOutputDir, parseCommandLine, printError, printWritten, progressBar, readCsv, threadsOption, writeTable } from './cliKit'

export const RADIOMICS_USAGE = `  voxelkit radiomics <image> <mask> [--params FILE] [--label N] [--out features.csv|.json] [--threads N]
      Radiomics features of the ROI (PyRadiomics keys and semantics): every class but shape2D,
      or the classes of the params file's featureClass (firstorder, glcm, gldm, glrlm, glszm,
      ngtdm, shape, shape2D; all when absent). CSV on stdout without --out.
  voxelkit radiomics <image> <mask> --voxel-based --out-dir DIR [--params FILE] [--label N] [--threads N]
      Voxel-based extraction (PyRadiomics' voxelBased=True; every class but shape; the params
      file's voxelSetting: kernelRadius, maskedKernel, initValue, voxelBatch): one NIfTI map per
      feature, DIR/<PyRadiomics key>.nii.gz, on the ROI's box grown by kernelRadius.
  voxelkit radiomics <cases.csv> [--params FILE] [--out results.csv|.json] [--jobs N] [--threads N]
      Batch mode: one row per case of a CSV with Image and Mask columns (optional Label), paths
      relative to the CSV; --jobs cases run at once (default 1); a failed case gets its error in
      the 'error' column and the command exits with status 1.
`

async function one(image: string, mask: string, settings: RadiomicsSettings, threads?: number): Promise<Features> {
  const [img, msk] = await Promise.all([readVolume(image), readVolume(mask)])
  return extractFeatures(img, msk, settings, { threads })
}

/** Runs `voxelkit radiomics …`; returns the exit status. */
export async function cmdRadiomics(args: string[]): Promise<number> {
  const { values, positionals, flags } = parseCommandLine(args, {
    options: ['params', 'label', 'out', 'jobs', 'threads', 'out-dir'],
    flags: ['voxel-based'],
    positionals: true,
  })
  const threads = threadsOption(values.threads)
  let settings: RadiomicsSettings = {}
  if (values.params !== undefined) settings = settingsFromParams(readParams(values.params))
  if (values.label !== undefined) {
    const l = Number(values.label)
    if (!Number.isInteger(l) || l < 1) throw new VoxelkitError('ERR_SETTING', `--label must be a positive integer, got ${values.label}`)
    settings = { ...settings, label: l }
  }
  if (flags.has('voxel-based') || values['out-dir'] !== undefined) {
    if (!flags.has('voxel-based') || values['out-dir'] === undefined) throw new UsageError('--voxel-based and --out-dir go together')
    if (positionals.length !== 2) throw new UsageError('--voxel-based needs <image> <mask>')
    if (values.out !== undefined || values.jobs !== undefined) throw new UsageError('--voxel-based writes maps to --out-dir (no --out, no --jobs)')
    const [img, msk] = await Promise.all([readVolume(positionals[0]), readVolume(positionals[1])])
    const bar = progressBar('voxels')
    const maps = await extractFeatureMaps(img, msk, settings, { threads, onProgress: bar })
    const dir = makeOutputDir(values['out-dir'])
    const written: string[] = []
    for (const [k, v] of Object.entries(maps)) {
      const p = join(dir, `${k}.nii.gz`)
      await writeVolume(p, v)
      written.push(p)
    }
    printWritten(written)
    return 0
  }
  if (positionals.length === 2) {
    if (values.jobs !== undefined) throw new VoxelkitError('ERR_SETTING', '--jobs applies to batch mode (a cases CSV) only')
    const f = await one(positionals[0], positionals[1], settings, threads)
    writeTable(values.out, [{ Image: positionals[0], Mask: positionals[1], ...f }], { single: true })
    return 0
  }
  if (positionals.length !== 1 || !/\.csv$/i.test(positionals[0])) {
    throw new UsageError('radiomics needs <image> <mask>, or one cases CSV')
  }
  // batch mode
  const csvPath = positionals[0]
  const { columns, rows: cases } = readCsv(csvPath)
  if (!columns.includes('Image') || !columns.includes('Mask')) {
    throw new VoxelkitError('ERR_FORMAT', `${csvPath} needs Image and Mask columns, has ${columns.join(', ')}`)
  }
  const hasLabel = columns.includes('Label')
  const base = dirname(resolve(csvPath))
  const at = (p: string) => (isAbsolute(p) ? p : resolve(base, p))
  const jobs = values.jobs === undefined ? 1 : Number(values.jobs)
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 1024) {
    throw new VoxelkitError('ERR_SETTING', `--jobs must be an integer from 1 to 1024, got ${values.jobs}`)
  }
  // share the cores between concurrent cases unless --threads says otherwise
  const perCase = threads ?? Math.max(1, Math.floor(availableParallelism() / jobs))
  const rows: Record<string, unknown>[] = new Array(cases.length)
  const bar = progressBar('cases', { counts: true })
  let next = 0
  let done = 0
  let failed = 0
  const worker = async () => {
    for (;;) {
      const k = next++
      if (k >= cases.length) return
      const c = cases[k]
      let s = settings
      if (hasLabel && c.Label !== '') s = { ...settings, label: Number(c.Label) }
      try {
        const f = await one(at(c.Image), at(c.Mask), s, perCase)
        rows[k] = { ...c, error: '', ...f }
      } catch (e) {
        failed++
        const ve = e instanceof VoxelkitError ? `[${e.code}] ${e.message}` : String(e)
        rows[k] = { ...c, error: ve }
      }
      done++
      bar?.(done, cases.length)
    }
  }
  await Promise.all(Array.from({ length: Math.min(jobs, Math.max(1, cases.length)) }, worker))
  writeTable(values.out, rows)
  if (failed > 0) printError(`${failed} of ${cases.length} cases failed (see the error column)`)
  return failed > 0 ? 1 : 0
}
