// What every `voxelkit` command shares: the dispatcher and its error reporting, argument parsing
// (usage mistakes become UsageError, exit status 2), option values, the progress bar, timings,
// and output (folders, text files, CSV/JSON tables, the `wrote …` lines). A command's own file
// keeps only what is its own: its usage text, its options and its work.
import { mkdirSync, readFileSync, writeFileSync } from 'node:fs'
import { resolve } from 'node:path'
import { parseArgs } from 'node:util'
import { VoxelkitError } from './errors'
import { checkThreads } from './jobs'

/** The name every message of the command line starts with. */
const PROGRAM = 'voxelkit'

/**
 * A mistake in the command line: an unknown option, a missing argument, a value out of its
 * choices. {@link runCli} prints `voxelkit: <message>`, a blank line and {@link UsageError.usage}
 * on stderr, and exits with {@link UsageError.exitCode}.
 */
export class UsageError extends Error {
  /** The process's exit status for a usage mistake. */
  readonly exitCode = 2
  /** The usage text printed after the message; undefined: the program's help. */
  readonly usage: string | undefined
  constructor(message: string, options: { usage?: string; cause?: unknown } = {}) {
    super(message, options.cause === undefined ? undefined : { cause: options.cause })
    this.name = 'UsageError'
    this.usage = options.usage
  }
}

/** One command: takes the arguments after its name, returns the exit status (undefined: 0). */
export type Command = (args: string[]) => Promise<number | void>

/** The whole command line: what `--help` and `--version` print, and the commands by name. */
export interface Program {
  help: string
  version: string
  commands: Readonly<Record<string, Command>>
}

/**
 * Runs the command `argv[0]` with the rest of `argv`; returns the exit status. No command: the
 * help on stdout, status 2. A {@link UsageError}: the message and the usage text, status 2. A
 * {@link VoxelkitError}: `[code] message`, status 1. Anything else: its stack, status 1.
 */
export async function runCli(argv: readonly string[], program: Program): Promise<number> {
  const [cmd, ...rest] = argv
  try {
    if (cmd === undefined || cmd === '--help' || cmd === '-h' || cmd === 'help') {
      process.stdout.write(program.help)
      return cmd === undefined ? 2 : 0
    }
    if (cmd === '--version' || cmd === '-v') {
      console.log(program.version)
      return 0
    }
    if (!Object.hasOwn(program.commands, cmd)) throw new UsageError(`unknown command '${cmd}'`)
    return (await program.commands[cmd](rest)) ?? 0
  } catch (e) {
    if (e instanceof UsageError) {
      process.stderr.write(`${PROGRAM}: ${e.message}\n\n${e.usage ?? program.help}`)
      return e.exitCode
    }
    printError(e instanceof VoxelkitError ? `[${e.code}] ${e.message}` : ((e as Error).stack ?? String(e)))
    return 1
  }
}

/** Writes `voxelkit: <message>` and a newline to stderr. */
export function printError(message: string): void {
  process.stderr.write(`${PROGRAM}: ${message}\n`)
}

/** Option values of a parsed command line: those with a default are always there. */
export type OptionValues<K extends string, D extends K> = { [k in Exclude<K, D>]?: string } & { [k in D]: string }

/** What a command accepts: its options (`--name VALUE`) and flags (`--name`, no value). */
export interface CommandLineSpec<K extends string, D extends K> {
  /** Option names, without the dashes. */
  options: readonly K[]
  /** Flag names, without the dashes. @defaultValue [] */
  flags?: readonly string[]
  /** Values of the options the command line leaves out. */
  defaults?: { readonly [k in D]: string }
  /** Whether arguments other than options are allowed. @default false */
  positionals?: boolean
}

/**
 * `node:util` `parseArgs` (strict) over a command's arguments; its complaints (unknown option,
 * missing value, unexpected argument) become {@link UsageError}s with the same message.
 */
export function parseCommandLine<K extends string, D extends K = never>(
  args: string[],
  spec: CommandLineSpec<K, D>,
): { values: OptionValues<K, D>; positionals: string[]; flags: ReadonlySet<string> } {
  const defaults: Partial<Record<string, string>> = spec.defaults ?? {}
  const options: Record<string, { type: 'string'; default?: string } | { type: 'boolean' }> = {}
  for (const name of spec.options) {
    const d = defaults[name]
    options[name] = d === undefined ? { type: 'string' } : { type: 'string', default: d }
  }
  for (const name of spec.flags ?? []) options[name] = { type: 'boolean' }
  try {
    const { values, positionals } = parseArgs({ args, options, allowPositionals: spec.positionals ?? false })
    const flags = new Set((spec.flags ?? []).filter((f) => values[f] === true))
    for (const f of spec.flags ?? []) delete values[f]
    return { values: values as OptionValues<K, D>, positionals, flags }
  } catch (e) {
    // Node's parseArgs errors: ERR_PARSE_ARGS_UNKNOWN_OPTION, …_INVALID_OPTION_VALUE, …_UNEXPECTED_POSITIONAL
    if (String((e as { code?: unknown }).code).startsWith('ERR_PARSE_ARGS')) throw new UsageError((e as Error).message, { cause: e })
    throw e
  }
}

/** `--threads N`: a thread count (VoxelkitError ERR_SETTING unless 1 to 1024), undefined if absent. */
export function threadsOption(value: string | undefined): number | undefined {
  return value === undefined ? undefined : checkThreads(Number(value))
}

/** `--<name> X`: a finite number, undefined if absent; anything else is a usage error. */
export function numberOption(value: string | undefined, name: string): number | undefined {
  if (value === undefined) return undefined
  const x = Number(value)
  if (value.trim() === '' || !Number.isFinite(x)) throw new UsageError(`--${name} must be a number, got '${value}'`)
  return x
}

/** `--<name> X` with X one of `choices`; anything else is a usage error. */
export function choiceOption<C extends string>(value: string, name: string, choices: readonly C[]): C {
  if ((choices as readonly string[]).includes(value)) return value as C
  const list = choices.length > 1 ? `${choices.slice(0, -1).join(', ')} or ${choices[choices.length - 1]}` : choices.join('')
  throw new UsageError(`--${name} must be ${list}, got '${value}'`)
}

/** A progress callback, as the long calls' `onProgress` takes. */
export type Progress = (done: number, total: number) => void

/**
 * A progress bar on stderr, redrawn in place: `label [#####     ]  50%`, or `… 5/10` with
 * `counts`; a newline once done. Undefined when stderr is not a terminal.
 */
export function progressBar(label: string, { counts = false }: { counts?: boolean } = {}): Progress | undefined {
  if (!process.stderr.isTTY) return undefined
  return (done, total) => {
    const width = 30
    const f = total > 0 ? done / total : 0
    const n = Math.round(f * width)
    const tail = counts ? `${done}/${total}` : `${(100 * f).toFixed(0).padStart(3)}%`
    process.stderr.write(`\r${label} [${'#'.repeat(n)}${' '.repeat(width - n)}] ${tail}`)
    if (done >= total) process.stderr.write('\n')
  }
}

/** `ms` milliseconds in seconds with `digits` decimals, as the commands print timings. */
export function seconds(ms: number, digits = 2): string {
  return (ms / 1000).toFixed(digits)
}

/** The seconds since `start` (a `performance.now()` reading), as {@link seconds} prints them. */
export function secondsSince(start: number, digits = 2): string {
  return seconds(performance.now() - start, digits)
}

/** Creates the output folder `dir` and its parents where missing; returns its absolute path. */
export function makeOutputDir(dir: string): string {
  const abs = resolve(dir)
  mkdirSync(abs, { recursive: true })
  return abs
}

/** Writes `lines`, each ended by a newline, to the file `path`, or to stdout where `path` is undefined. */
export function writeLines(path: string | undefined, lines: readonly string[]): void {
  const text = lines.map((l) => `${l}\n`).join('')
  if (path === undefined) process.stdout.write(text)
  else writeFileSync(path, text)
}

/** Prints `  wrote <path>` for each file a command wrote, with `note` in parentheses. */
export function printWritten(paths: string | readonly string[], note?: string): void {
  for (const p of typeof paths === 'string' ? [paths] : paths) console.log(`  wrote ${p}${note === undefined ? '' : ` (${note})`}`)
}

/**
 * Writes a table (one record a row, columns in order of first appearance) to `out` as CSV or
 * JSON by its ending, or as CSV on stdout where `out` is undefined. `single`: the JSON is the
 * one row's object instead of an array. Another ending: VoxelkitError ERR_SETTING.
 */
export function writeTable(out: string | undefined, rows: readonly Record<string, unknown>[], { single = false } = {}): void {
  if (out === undefined || /\.csv$/i.test(out)) writeLines(out, csvLines(rows))
  else if (/\.json$/i.test(out)) writeLines(out, [JSON.stringify(single ? rows[0] : rows, null, 1)])
  else throw new VoxelkitError('ERR_SETTING', `--out must end in .csv or .json, got ${out}`)
}

/** Rows as CSV lines: a header of every key in order of first appearance, then one line a row. */
export function csvLines(rows: readonly Record<string, unknown>[]): string[] {
  const cols: string[] = []
  for (const r of rows) for (const k of Object.keys(r)) if (!cols.includes(k)) cols.push(k)
  const line = (cells: string[]) => {
    const l = cells.join(',')
    // a one-column record that is empty or blanks only would read back as a blank line (skipped):
    // quote it (found by scripts/fuzz-params.mjs --target csv)
    return l.trim() === '' ? `"${l}"` : l
  }
  return [line(cols.map(csvField)), ...rows.map((r) => line(cols.map((c) => csvField(r[c]))))]
}

function csvField(v: unknown): string {
  const s = v === undefined || v === null ? '' : String(v)
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s
}

/**
 * Reads a CSV file: the header's column names (trimmed) and one record a non-blank line ('' for
 * missing cells). An unreadable file is ERR_IO, one without a line ERR_FORMAT.
 */
export function readCsv(path: string): { columns: string[]; rows: Record<string, string>[] } {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (e) {
    throw new VoxelkitError('ERR_IO', `cannot read ${path}: ${(e as Error).message}`)
  }
  return parseCsv(text, path)
}

/**
 * CSV text (RFC 4180: quoted cells may hold commas, doubled quotes and line breaks; records end
 * at LF or CRLF outside quotes; blank records are skipped) as the header's column names
 * (trimmed) and one record per row ('' for missing cells). What {@link csvLines} writes reads
 * back as it was (scripts/fuzz-params.mjs --target csv checks it). No record, or a quote left
 * open at the end, is ERR_FORMAT. @internal
 */
export function parseCsv(text: string, name: string): { columns: string[]; rows: Record<string, string>[] } {
  const records: string[][] = []
  let rec: string[] = []
  let cur = ''
  let quoted = false
  let blank = true // the record so far is empty and unquoted
  const end = () => {
    rec.push(cur)
    if (!(blank && rec.length === 1 && cur.trim() === '')) records.push(rec)
    rec = []
    cur = ''
    blank = true
  }
  for (let i = 0; i < text.length; i++) {
    const ch = text[i]
    if (quoted) {
      if (ch === '"' && text[i + 1] === '"') {
        cur += '"'
        i++
      } else if (ch === '"') quoted = false
      else cur += ch
    } else if (ch === '"') {
      quoted = true
      blank = false
    } else if (ch === ',') {
      rec.push(cur)
      cur = ''
      blank = false
    } else if (ch === '\n') end()
    else if (ch === '\r' && text[i + 1] === '\n') {
      end()
      i++
    } else cur += ch
  }
  if (quoted) throw new VoxelkitError('ERR_FORMAT', `${name}: a quoted cell is not closed`)
  end()
  if (records.length === 0) throw new VoxelkitError('ERR_FORMAT', `${name} is empty`)
  const columns = records[0].map((h) => h.trim())
  const rows = records.slice(1).map((cells) => Object.fromEntries(columns.map((h, k) => [h, cells[k] ?? ''])))
  return { columns, rows }
}
