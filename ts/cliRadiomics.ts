// `voxelkit radiomics`: GLCM/GLRLM features of one case, or of a batch of cases listed in a CSV
// (PyRadiomics' batch input: `Image,Mask` columns, optional `Label`), one output row per case.
import { readFileSync, writeFileSync } from 'node:fs'
import { availableParallelism } from 'node:os'
import { dirname, isAbsolute, resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { VoxelkitError } from './errors'
import { readVolume } from './io'
import { checkThreads } from './jobs'
import { extractFeatures, readParams, settingsFromParams, type Features, type RadiomicsSettings } from './radiomics'

export const RADIOMICS_USAGE = `  voxelkit radiomics <image> <mask> [--params FILE] [--label N] [--out features.csv|.json] [--threads N]
      GLCM and GLRLM features (PyRadiomics keys and semantics) of the ROI; CSV on stdout without --out.
  voxelkit radiomics <cases.csv> [--params FILE] [--out results.csv|.json] [--jobs N] [--threads N]
      Batch mode: one row per case of a CSV with Image and Mask columns (optional Label), paths
      relative to the CSV; --jobs cases run at once (default 1); a failed case gets its error in
      the 'error' column and the command exits with status 1.
`

/** Splits one CSV line (quotes, doubled quotes). */
function csvCells(line: string): string[] {
  const out: string[] = []
  let cur = ''
  let q = false
  for (let i = 0; i < line.length; i++) {
    const ch = line[i]
    if (q) {
      if (ch === '"' && line[i + 1] === '"') {
        cur += '"'
        i++
      } else if (ch === '"') q = false
      else cur += ch
    } else if (ch === '"') q = true
    else if (ch === ',') {
      out.push(cur)
      cur = ''
    } else cur += ch
  }
  out.push(cur)
  return out
}

function csvField(v: unknown): string {
  const s = v === undefined || v === null ? '' : String(v)
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

function toCsv(rows: Record<string, unknown>[]): string {
  const cols: string[] = []
  for (const r of rows) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k)
  return [cols.map(csvField).join(','), ...rows.map((r) => cols.map((c) => csvField(r[c])).join(','))].join('\n') + '\n'
}

function progressBar(): ((done: number, total: number) => void) | undefined {
  if (!process.stderr.isTTY) return undefined
  return (done, total) => {
    const w = 30
    const n = Math.round((done / total) * w)
    process.stderr.write(`\rcases [${'#'.repeat(n)}${' '.repeat(w - n)}] ${done}/${total}`)
    if (done >= total) process.stderr.write('\n')
  }
}

function write(out: string | undefined, rows: Record<string, unknown>[], single: boolean): void {
  if (out === undefined) {
    process.stdout.write(toCsv(rows))
  } else if (/\.json$/i.test(out)) {
    writeFileSync(out, JSON.stringify(single ? rows[0] : rows, null, 1) + '\n')
  } else if (/\.csv$/i.test(out)) {
    writeFileSync(out, toCsv(rows))
  } else {
    throw new VoxelkitError('ERR_SETTING', `--out must end in .csv or .json, got ${out}`)
  }
}

async function one(image: string, mask: string, settings: RadiomicsSettings, threads?: number): Promise<Features> {
  const [img, msk] = await Promise.all([readVolume(image), readVolume(mask)])
  return extractFeatures(img, msk, settings, { threads })
}

/** Runs `voxelkit radiomics …`; returns the exit status. */
export async function cmdRadiomics(args: string[]): Promise<number> {
  const { values, positionals } = parseArgs({
    args,
    allowPositionals: true,
    options: {
      params: { type: 'string' },
      label: { type: 'string' },
      out: { type: 'string' },
      jobs: { type: 'string' },
      threads: { type: 'string' },
    },
  })
  const threads = values.threads === undefined ? undefined : checkThreads(Number(values.threads))
  let settings: RadiomicsSettings = {}
  if (values.params !== undefined) settings = settingsFromParams(readParams(values.params))
  if (values.label !== undefined) {
    const l = Number(values.label)
    if (!Number.isInteger(l) || l < 1) throw new VoxelkitError('ERR_SETTING', `--label must be a positive integer, got ${values.label}`)
    settings = { ...settings, label: l }
  }
  if (positionals.length === 2) {
    if (values.jobs !== undefined) throw new VoxelkitError('ERR_SETTING', '--jobs applies to batch mode (a cases CSV) only')
    const f = await one(positionals[0], positionals[1], settings, threads)
    write(values.out, [{ Image: positionals[0], Mask: positionals[1], ...f }], true)
    return 0
  }
  if (positionals.length !== 1 || !/\.csv$/i.test(positionals[0])) {
    throw Object.assign(new Error('radiomics needs <image> <mask>, or one cases CSV'), { code: 'ERR_PARSE_ARGS_RADIOMICS' })
  }
  // batch mode
  const csvPath = positionals[0]
  let text: string
  try {
    text = readFileSync(csvPath, 'utf8')
  } catch (e) {
    throw new VoxelkitError('ERR_IO', `cannot read ${csvPath}: ${(e as Error).message}`)
  }
  const lines = text.split(/\r?\n/).filter((l) => l.trim() !== '')
  if (lines.length === 0) throw new VoxelkitError('ERR_FORMAT', `${csvPath} is empty`)
  const head = csvCells(lines[0]).map((h) => h.trim())
  const iImage = head.indexOf('Image')
  const iMask = head.indexOf('Mask')
  if (iImage < 0 || iMask < 0) {
    throw new VoxelkitError('ERR_FORMAT', `${csvPath} needs Image and Mask columns, has ${head.join(', ')}`)
  }
  const iLabel = head.indexOf('Label')
  const base = dirname(resolve(csvPath))
  const at = (p: string) => (isAbsolute(p) ? p : resolve(base, p))
  const cases = lines.slice(1).map((l) => {
    const cells = csvCells(l)
    return Object.fromEntries(head.map((h, k) => [h, cells[k] ?? '']))
  })
  const jobs = values.jobs === undefined ? 1 : Number(values.jobs)
  if (!Number.isInteger(jobs) || jobs < 1 || jobs > 1024) {
    throw new VoxelkitError('ERR_SETTING', `--jobs must be an integer from 1 to 1024, got ${values.jobs}`)
  }
  // share the cores between concurrent cases unless --threads says otherwise
  const perCase = threads ?? Math.max(1, Math.floor(availableParallelism() / jobs))
  const rows: Record<string, unknown>[] = new Array(cases.length)
  const bar = progressBar()
  let next = 0
  let done = 0
  let failed = 0
  const worker = async () => {
    for (;;) {
      const k = next++
      if (k >= cases.length) return
      const c = cases[k]
      let s = settings
      if (iLabel >= 0 && c.Label !== '') s = { ...settings, label: Number(c.Label) }
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
  write(values.out, rows, false)
  if (failed > 0) process.stderr.write(`voxelkit: ${failed} of ${cases.length} cases failed (see the error column)\n`)
  return failed > 0 ? 1 : 0
}
