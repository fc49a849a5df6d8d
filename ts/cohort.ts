/**
 * voxelkit/cohort: one job over hundreds to tens of thousands of cases, spread over any number
 * of machines on BullMQ and Redis.
 *
 * A job is one case of one task (`radiomics`: one feature row; `dti`, `dki`: the maps of one
 * subject, written to a folder). {@link submitCohort} turns a cases CSV into jobs whose ids are
 * hashes of the task, the inputs' identity and the settings (submitting again adds only what
 * changed); {@link startWorker} processes them, each case in a sandboxed child process per slot;
 * {@link cohortStatus} and {@link collectResults} report. Inputs are paths every worker sees;
 * small results are stored with the job in Redis, maps go to the submission's output folder.
 *
 * `bullmq` and `ioredis` (and `@bull-board/api` + `@bull-board/express` for
 * {@link startDashboard}) are optional peer dependencies: install them to use this entry point;
 * `voxelkit` itself never loads them.
 *
 * @packageDocumentation
 */
import { createHash } from 'node:crypto'
import { createReadStream, existsSync, statSync } from 'node:fs'
import { createServer } from 'node:http'
import type { AddressInfo } from 'node:net'
import { availableParallelism, hostname } from 'node:os'
import { dirname, isAbsolute, join, resolve } from 'node:path'
import type { Job, Queue, Worker } from 'bullmq'
import type { Redis } from 'ioredis'
import { readCsv } from './cliKit'
import { VoxelkitError, shown } from './errors'
import { checkThreads } from './jobs'
import { readParams, settingsFromParams, type RadiomicsSettings } from './radiomics'

/** The tasks a cohort can run: one case each. */
export type CohortTask = 'radiomics' | 'dti' | 'dki'

/** Where the queue lives. */
export interface ConnectionOptions {
  /** Redis URL (`redis://[user:password@]host:port[/db]`, `rediss://` for TLS). @defaultValue `VOXELKIT_REDIS_URL`, else `redis://127.0.0.1:6379` */
  redis?: string
  /** Queue name: one cohort per queue. Letters, digits, `.`, `_` and `-`. @defaultValue 'voxelkit' */
  queue?: string
  /** How long to wait for Redis to answer before giving up with `ERR_IO` (ms). @defaultValue 30000 */
  connectTimeout?: number
  /** Called with a line of news for a person (waiting for Redis, Redis settings to fix, …). */
  log?: (message: string) => void
}

/** Options of {@link submitCohort}. */
export interface SubmitOptions extends ConnectionOptions {
  /** What to run on each case. */
  task: CohortTask
  /** radiomics: a PyRadiomics parameter file (YAML or JSON), as `voxelkit radiomics --params`. */
  params?: string
  /** radiomics: settings as `extractFeatures` takes them (on top of those of `params`). */
  settings?: RadiomicsSettings
  /** radiomics: the ROI label for cases without a `Label` cell. */
  label?: number
  /** dti, dki: the fit method. @defaultValue 'WLS' */
  method?: string
  /**
   * Output folder, seen by every worker. dti, dki (required): each case's maps in `<out>/<case>/`;
   * radiomics (optional): each case's features also as `<out>/<case>.json`. A case is named by
   * its `ID` cell, else `case-<row>`.
   */
  out?: string
  /** Identify inputs by a SHA-256 of their content instead of path, size and modification time. @defaultValue false */
  hash?: boolean
  /** Tries per case for errors that may pass (not input errors). @defaultValue 3 */
  attempts?: number
  /** First retry delay (ms), doubled at each try. @defaultValue 2000 */
  backoff?: number
}

/** What {@link submitCohort} did. */
export interface SubmitResult {
  queue: string
  redis: string
  task: CohortTask
  /** Rows of the CSV. */
  cases: number
  /** Distinct jobs (identical rows share one). */
  jobs: number
  /** Jobs added by this submission. */
  added: number
  /** Jobs that were already in the queue, by state (their results are kept). */
  existing: { completed: number; failed: number; pending: number }
  /** The job id of each row, in CSV order. */
  jobIds: string[]
}

/** Options of {@link startWorker}. */
export interface WorkerOptions extends ConnectionOptions {
  /** Cases processed at once, each in its own child process (a slot). @defaultValue 1 */
  concurrency?: number
  /** Threads per case. @defaultValue the cores divided by `concurrency` (at least 1) */
  threads?: number
  /** The worker's name as jobs record it (`processedBy`). @defaultValue `<hostname>:<pid>` */
  name?: string
  /** How long a job's lock lasts without renewal (ms); a worker that dies holds its jobs this long. @defaultValue 30000 */
  lockDuration?: number
  /** How often this worker looks for jobs whose worker died (ms). @defaultValue 30000 */
  stalledInterval?: number
  /**
   * Times a job may come back from a dead worker (or from a fetch cut by a Redis restart) before
   * it fails. @defaultValue 3
   */
  maxStalledCount?: number
  /** Called for each finished case and each Redis connection problem. */
  onEvent?: (event: WorkerEvent) => void
}

/** What a worker reports. */
export type WorkerEvent =
  | { type: 'completed'; jobId: string; case: string; ms: number }
  | { type: 'failed'; jobId: string; case: string; message: string; attempt: number; attempts: number; final: boolean }
  | { type: 'stalled'; jobId: string }
  | { type: 'error'; message: string }

/** A running worker. */
export interface CohortWorker {
  /** The name jobs record as `processedBy`. */
  readonly name: string
  /** The queue it serves. */
  readonly queue: string
  /** The Redis URL (password hidden). */
  readonly redis: string
  readonly concurrency: number
  readonly threads: number
  /** The BullMQ worker (events, pause/resume). */
  readonly worker: Worker
  /**
   * Stops taking cases; waits for the running ones to finish (`force`: aborts them, they go back
   * to the queue as stalled) and ends the child processes.
   */
  close(force?: boolean): Promise<void>
}

/** Failures by code, and the first ones in detail. */
export interface CohortFailures {
  /** Failed jobs by error code (`ERR_…`; `uncoded` for failures from BullMQ itself). */
  byCode: Record<string, number>
  /** Up to 50 failed jobs, newest first. */
  cases: { jobId: string; case: string; code: string; message: string; attempts: number }[]
}

/** What {@link cohortStatus} reports. */
export interface CohortStatus {
  queue: string
  redis: string
  /** Jobs of the queue by state (every submission). */
  counts: { waiting: number; active: number; delayed: number; completed: number; failed: number; prioritized: number }
  /** The latest submission: its distinct jobs and how far they are. */
  submission?: { task: CohortTask; csv: string; submittedAt: string; cases: number; jobs: number; completed: number; failed: number; pending: number }
  failures: CohortFailures
  /** Running jobs, with progress (0-100) and the worker holding them. */
  active: { jobId: string; case: string; progress: number; worker?: string; ms: number }[]
  /** Workers connected to the queue; null where Redis refuses CLIENT LIST. */
  workers: number | null
  /** Cases finished per minute over the recent completions; null while too few. */
  perMinute: number | null
  /** Seconds left at that rate for the submission's pending jobs; null when unknown. */
  etaSeconds: number | null
  /** Redis settings that matter here, where Redis lets CONFIG GET read them. */
  redisSettings: { appendonly: string; maxmemoryPolicy: string } | null
}

/** Options of {@link collectResults}. */
export interface CollectOptions extends ConnectionOptions {
  /** Rows for unfinished cases too (error `not finished (<state>)`) instead of `ERR_SETTING`. @defaultValue false */
  partial?: boolean
}

/** What {@link collectResults} returns. */
export interface CohortResults {
  task: CohortTask
  /**
   * One row per CSV row, in CSV order: the row's cells, `error` ('' or `[CODE] message`) and the
   * result (radiomics: the features, as `voxelkit radiomics cases.csv` writes them; dti, dki:
   * `out`, `fitted`, `voxels`).
   */
  rows: Record<string, unknown>[]
  completed: number
  failed: number
  pending: number
}

/** Options of {@link startDashboard}. */
export interface DashboardOptions extends ConnectionOptions {
  /** Port to listen on (0: any free one). @defaultValue 3000 */
  port?: number
  /** Address to listen on. The board has no login: keep it on loopback or behind a proxy that has one. @defaultValue '127.0.0.1' */
  host?: string
  /** No retry, remove or clean buttons. @defaultValue false */
  readOnly?: boolean
}

/** A running dashboard. */
export interface Dashboard {
  url: string
  /** The queues it shows. */
  queues: string[]
  close(): Promise<void>
}

/** The job data of one case. @internal */
export interface CaseJob {
  v: 1
  task: CohortTask
  /** The case's name (`ID` cell or `case-<row>`), for outputs and people. */
  name: string
  /** Absolute input paths: image, mask (radiomics); dwi, bval, bvec, mask? (dti, dki). */
  inputs: Record<string, string>
  /** radiomics: the row's `Label` cell, as written (checked where the case runs, as the local command does). */
  label?: string
  /** radiomics: the settings. */
  settings?: RadiomicsSettings
  /** dti, dki: the fit method. */
  method?: string
  /** The output folder (absolute). */
  out?: string
}

/** The latest submission of a queue, stored beside it. @internal */
interface Manifest {
  v: 1
  task: CohortTask
  csv: string
  submittedAt: string
  columns: string[]
  rows: Record<string, string>[]
  jobIds: string[]
}

/** The default Redis URL. */
export const DEFAULT_REDIS_URL = 'redis://127.0.0.1:6379'
/** The default queue name. */
export const DEFAULT_QUEUE = 'voxelkit'
const PREFIX = 'bull' // BullMQ's key prefix
const TASKS: readonly CohortTask[] = ['radiomics', 'dti', 'dki']
const CODED = /^\[(ERR_[A-Z_]+)\] /

const manifestKey = (queue: string) => `${PREFIX}:${queue}:voxelkit:submission`
const cancelChannel = (queue: string) => `${PREFIX}:${queue}:voxelkit:cancel`

// ---------------------------------------------------------------------------------------------
// optional peers

type BullMQ = typeof import('bullmq')
type IORedis = typeof import('ioredis')

function peer<T>(name: string, what: string, install: string): T {
  try {
    return require(name) as T
  } catch (e) {
    const err = e as NodeJS.ErrnoException
    if (err.code === 'MODULE_NOT_FOUND' && err.message.includes(`'${name}'`)) {
      throw new VoxelkitError('ERR_UNSUPPORTED', `${what} needs the optional peer dependency ${name}: npm install ${install}`)
    }
    throw e
  }
}

const PEERS = 'bullmq@6 ioredis@6'
const bullmq = (): BullMQ => peer<BullMQ>('bullmq', 'voxelkit/cohort', PEERS)
const ioredis = (): IORedis => peer<IORedis>('ioredis', 'voxelkit/cohort', PEERS)

// ---------------------------------------------------------------------------------------------
// connections

/** The Redis URL and queue name of a call, checked. */
function target(o: ConnectionOptions): { url: string; queue: string } {
  const url = o.redis ?? process.env.VOXELKIT_REDIS_URL ?? DEFAULT_REDIS_URL
  if (typeof url !== 'string' || !/^rediss?:\/\//.test(url)) throw new VoxelkitError('ERR_SETTING', `redis must be a redis:// or rediss:// URL, got ${typeof url === 'string' ? masked(url) : shown(url)}`)
  const queue = o.queue ?? DEFAULT_QUEUE
  if (typeof queue !== 'string' || !/^[A-Za-z0-9._-]{1,100}$/.test(queue)) {
    throw new VoxelkitError('ERR_SETTING', `queue must be 1 to 100 letters, digits, '.', '_' or '-', got ${shown(queue)}`)
  }
  return { url, queue }
}

/** The URL without its password, for messages. */
function masked(url: string): string {
  return url.replace(/\/\/([^:@/]*):[^@/]*@/, '//$1:***@')
}

/** A Redis client that retries forever (commands wait while Redis is away), answering within `connectTimeout`. */
async function redisClient(url: string, o: ConnectionOptions): Promise<Redis> {
  const { Redis } = ioredis()
  let lastError = ''
  const client = new Redis(url, { maxRetriesPerRequest: null, retryStrategy: (n: number) => Math.min(100 * n, 2000) })
  client.on('error', (e: Error) => {
    lastError = e.message
  })
  const timeout = o.connectTimeout ?? 30000
  const notice = setTimeout(() => o.log?.(`waiting for Redis at ${masked(url)}${lastError ? ` (${lastError})` : ''} …`), 1000)
  try {
    await within(client.ping(), timeout, () => new VoxelkitError('ERR_IO', `cannot reach Redis at ${masked(url)} in ${timeout / 1000} s${lastError ? `: ${lastError}` : ''}`))
  } catch (e) {
    client.disconnect()
    throw e
  } finally {
    clearTimeout(notice)
  }
  return client
}

function within<T>(p: Promise<T>, ms: number, error: () => Error): Promise<T> {
  let timer: NodeJS.Timeout | undefined
  const t = new Promise<never>((_, reject) => {
    timer = setTimeout(() => reject(error()), ms)
  })
  return Promise.race([p, t]).finally(() => clearTimeout(timer))
}

interface Conn {
  url: string
  name: string
  redis: Redis
  queue: Queue
}

async function withQueue<T>(o: ConnectionOptions, fn: (c: Conn) => Promise<T>): Promise<T> {
  const { url, queue: name } = target(o)
  const { Queue } = bullmq()
  const redis = await redisClient(url, o)
  const queue = new Queue(name, { connection: redis, prefix: PREFIX })
  try {
    return await fn({ url, name, redis, queue })
  } finally {
    await queue.close().catch(() => undefined)
    redis.disconnect()
  }
}

/** `appendonly` and `maxmemory-policy`, or null where CONFIG is not allowed (managed Redis). */
async function redisSettings(redis: Redis): Promise<CohortStatus['redisSettings']> {
  try {
    const [, appendonly] = (await redis.config('GET', 'appendonly')) as string[]
    const [, maxmemoryPolicy] = (await redis.config('GET', 'maxmemory-policy')) as string[]
    return { appendonly, maxmemoryPolicy }
  } catch {
    return null
  }
}

function settingsWarnings(s: CohortStatus['redisSettings']): string[] {
  if (s === null) return []
  const w: string[] = []
  if (s.appendonly !== 'yes') w.push('Redis runs without AOF persistence (appendonly no): a restart loses the queue and its results; set appendonly yes')
  if (s.maxmemoryPolicy !== 'noeviction') w.push(`Redis evicts keys under memory pressure (maxmemory-policy ${s.maxmemoryPolicy}): jobs can vanish; set maxmemory-policy noeviction`)
  return w
}

// ---------------------------------------------------------------------------------------------
// submission

/** Sorted-key JSON, so that equal settings hash equally. */
function canonical(x: unknown): string {
  if (Array.isArray(x)) return `[${x.map(canonical).join(',')}]`
  if (x !== null && typeof x === 'object') {
    const o = x as Record<string, unknown>
    return `{${Object.keys(o)
      .filter((k) => o[k] !== undefined)
      .sort()
      .map((k) => `${JSON.stringify(k)}:${canonical(o[k])}`)
      .join(',')}}`
  }
  return JSON.stringify(x) ?? 'null'
}

async function fileIdentity(path: string, hash: boolean): Promise<Record<string, unknown>> {
  let st
  try {
    st = statSync(path)
  } catch {
    return { path, absent: true } // fails where it runs (ERR_IO), retry-failed once it is there
  }
  if (!hash) return { path, size: st.size, mtimeMs: Math.floor(st.mtimeMs) } // to the millisecond
  const h = createHash('sha256')
  await new Promise<void>((res, rej) => {
    createReadStream(path)
      .on('data', (b) => h.update(b))
      .on('end', () => res())
      .on('error', (e) => rej(new VoxelkitError('ERR_IO', `cannot read ${path}: ${e.message}`)))
  })
  return { sha256: h.digest('hex') }
}

const NAME = /^[A-Za-z0-9][A-Za-z0-9._-]{0,199}$/

interface Plan {
  task: CohortTask
  csv: string
  columns: string[]
  rows: Record<string, string>[]
  jobIds: string[]
  jobs: Map<string, CaseJob>
}

function taskOf(task: unknown): CohortTask {
  if (!TASKS.includes(task as CohortTask)) throw new VoxelkitError('ERR_SETTING', `task must be one of ${TASKS.join(', ')}, got ${shown(task)}`)
  return task as CohortTask
}

function positiveInt(v: number | undefined, name: string, dflt: number, max: number): number {
  if (v === undefined) return dflt
  if (!Number.isInteger(v) || v < 1 || v > max) throw new VoxelkitError('ERR_SETTING', `${name} must be an integer from 1 to ${max}, got ${String(v)}`)
  return v
}

/** Reads and checks the cases CSV and builds one job per distinct case. */
async function planCohort(csvPath: string, o: SubmitOptions): Promise<Plan> {
  const task = taskOf(o.task)
  const { columns, rows } = readCsv(csvPath)
  const base = dirname(resolve(csvPath))
  const at = (p: string) => (isAbsolute(p) ? p : resolve(base, p))
  const out = o.out === undefined ? undefined : resolve(o.out)
  if (task !== 'radiomics' && out === undefined) throw new VoxelkitError('ERR_SETTING', `the ${task} task needs an output folder (out)`)
  const need = task === 'radiomics' ? ['Image', 'Mask'] : ['DWI', 'Bval', 'Bvec']
  const missing = need.filter((c) => !columns.includes(c))
  if (missing.length) throw new VoxelkitError('ERR_FORMAT', `${csvPath} needs ${need.join(', ')} columns, has ${columns.join(', ')}`)

  let settings: RadiomicsSettings | undefined
  let method: string | undefined
  if (task === 'radiomics') {
    if (o.method !== undefined) throw new VoxelkitError('ERR_SETTING', 'method applies to the dti and dki tasks')
    settings = o.params === undefined ? {} : settingsFromParams(readParams(o.params))
    if (o.settings !== undefined) {
      if (o.settings === null || typeof o.settings !== 'object' || Array.isArray(o.settings)) throw new VoxelkitError('ERR_SETTING', 'settings must be an object')
      settings = { ...settings, ...o.settings }
    }
    if (o.label !== undefined) {
      if (!Number.isInteger(o.label) || o.label < 1) throw new VoxelkitError('ERR_SETTING', `label must be a positive integer, got ${String(o.label)}`)
      settings = { ...settings, label: o.label }
    }
    // settings travel as JSON, which has no NaN or infinity
    JSON.stringify(settings, (_k, x) => {
      if (typeof x === 'number' && !Number.isFinite(x)) throw new VoxelkitError('ERR_SETTING', `settings hold a non-finite number (${x})`)
      return x
    })
  } else {
    if (o.params !== undefined || o.settings !== undefined || o.label !== undefined) {
      throw new VoxelkitError('ERR_SETTING', 'params, settings and label apply to the radiomics task')
    }
    method = o.method ?? 'WLS'
    const methods = task === 'dti' ? ['WLS', 'OLS'] : ['WLS', 'OLS', 'CLS', 'CWLS']
    if (!methods.includes(method)) throw new VoxelkitError('ERR_SETTING', `method must be one of ${methods.join(', ')} for ${task}, got ${method}`)
  }
  if (o.hash !== undefined && typeof o.hash !== 'boolean') throw new VoxelkitError('ERR_SETTING', 'hash must be a boolean')

  const width = Math.max(4, String(rows.length).length)
  const names = new Map<string, string>() // name -> job id, where outputs are named
  const jobs = new Map<string, CaseJob>()
  const jobIds: string[] = []
  for (const [k, row] of rows.entries()) {
    const id = (row.ID ?? '').trim()
    const name = id !== '' ? id : `case-${String(k + 1).padStart(width, '0')}`
    if (out !== undefined && !NAME.test(name)) {
      throw new VoxelkitError('ERR_FORMAT', `${csvPath} row ${k + 1}: ID '${id}' cannot name an output (letters, digits, '.', '_', '-')`)
    }
    const inputs: Record<string, string> =
      task === 'radiomics'
        ? { image: at(row.Image), mask: at(row.Mask) }
        : { dwi: at(row.DWI), bval: at(row.Bval), bvec: at(row.Bvec), ...(row.Mask ? { mask: at(row.Mask) } : {}) }
    for (const [key, p] of Object.entries(inputs)) {
      if (p === base) throw new VoxelkitError('ERR_FORMAT', `${csvPath} row ${k + 1}: empty ${key} cell`)
    }
    const job: CaseJob = { v: 1, task, name, inputs }
    if (task === 'radiomics') {
      job.settings = settings
      if (columns.includes('Label') && row.Label !== '') job.label = row.Label
    } else job.method = method
    if (out !== undefined) job.out = out
    const identity: Record<string, unknown> = {}
    for (const [key, p] of Object.entries(inputs)) identity[key] = await fileIdentity(p, o.hash ?? false)
    const key = canonical({ task, inputs: identity, label: job.label, settings: job.settings, method, out, name: out === undefined ? undefined : name })
    const jobId = `${task}-${createHash('sha256').update(key).digest('hex').slice(0, 40)}`
    if (out !== undefined) {
      const other = names.get(name)
      if (other !== undefined && other !== jobId) throw new VoxelkitError('ERR_FORMAT', `${csvPath}: two different cases are named '${name}' (their outputs would collide)`)
      names.set(name, jobId)
    }
    if (!jobs.has(jobId)) jobs.set(jobId, job)
    jobIds.push(jobId)
  }
  return { task, csv: resolve(csvPath), columns, rows, jobIds, jobs }
}

/**
 * Submits one job per case of a cases CSV (paths relative to the CSV). radiomics: `Image` and
 * `Mask` columns, optional `Label` (PyRadiomics' batch input, as `voxelkit radiomics cases.csv`);
 * dti, dki: `DWI`, `Bval`, `Bvec`, optional `Mask`. An `ID` column names the cases; other columns
 * ride along into {@link collectResults}' rows.
 *
 * Idempotent: a job's id hashes the task, each input's identity (path, size and modification
 * time, or its content with `hash`) and the settings; a job already in the queue is left as it
 * is (finished results are kept; failed ones wait for {@link retryFailed}). The submission
 * (its rows and job ids) becomes the queue's latest, the one {@link collectResults} reads.
 */
export async function submitCohort(csv: string, options: SubmitOptions): Promise<SubmitResult> {
  if (options === null || typeof options !== 'object') throw new VoxelkitError('ERR_SETTING', 'submitCohort needs options with a task')
  const attempts = positiveInt(options.attempts, 'attempts', 3, 100)
  const backoff = options.backoff ?? 2000
  if (typeof backoff !== 'number' || !Number.isFinite(backoff) || backoff < 0) throw new VoxelkitError('ERR_SETTING', `backoff must be a number of ms >= 0, got ${shown(backoff)}`)
  const plan = await planCohort(csv, options)
  return withQueue(options, async ({ url, name, redis, queue }) => {
    for (const w of settingsWarnings(await redisSettings(redis))) options.log?.(`warning: ${w}`)
    const ids = [...plan.jobs.keys()]
    const [completed, failed] = await finishedSets(queue)
    const exists: boolean[] = []
    for (let i = 0; i < ids.length; i += 1000) {
      const p = redis.pipeline()
      for (const id of ids.slice(i, i + 1000)) p.exists(`${PREFIX}:${name}:${id}`)
      for (const [err, n] of (await p.exec()) ?? []) {
        if (err) throw err
        exists.push(n === 1)
      }
    }
    const fresh = ids.filter((_, k) => !exists[k])
    for (let i = 0; i < fresh.length; i += 1000) {
      await queue.addBulk(
        fresh.slice(i, i + 1000).map((jobId) => ({
          name: plan.task,
          data: plan.jobs.get(jobId)!,
          opts: { jobId, attempts, backoff: { type: 'exponential', delay: backoff }, removeOnComplete: false, removeOnFail: false },
        })),
      )
    }
    const manifest: Manifest = { v: 1, task: plan.task, csv: plan.csv, submittedAt: new Date().toISOString(), columns: plan.columns, rows: plan.rows, jobIds: plan.jobIds }
    await redis.set(manifestKey(name), JSON.stringify(manifest))
    const old = ids.filter((_, k) => exists[k])
    const nc = old.filter((id) => completed.has(id)).length
    const nf = old.filter((id) => failed.has(id)).length
    return {
      queue: name,
      redis: masked(url),
      task: plan.task,
      cases: plan.rows.length,
      jobs: ids.length,
      added: fresh.length,
      existing: { completed: nc, failed: nf, pending: old.length - nc - nf },
      jobIds: plan.jobIds,
    }
  })
}

async function finishedSets(queue: Queue): Promise<[Set<string>, Set<string>]> {
  const [c, f] = await Promise.all([queue.getRanges(['completed'], 0, -1), queue.getRanges(['failed'], 0, -1)])
  return [new Set(c), new Set(f)]
}

async function readManifest(redis: Redis, name: string): Promise<Manifest | undefined> {
  const s = await redis.get(manifestKey(name))
  return s === null ? undefined : (JSON.parse(s) as Manifest)
}

// ---------------------------------------------------------------------------------------------
// workers

/** The sandboxed processor: dist/cohortProcessor.js (ts/cohortProcessor.ts under tsx). */
function processorFile(): string {
  const js = join(__dirname, 'cohortProcessor.js')
  return existsSync(js) ? js : join(__dirname, 'cohortProcessor.ts')
}

/** A failure message in voxelkit's form: `[CODE] message`. */
function coded(e: unknown): Error {
  const err = e instanceof Error ? e : new Error(String(e))
  if (!CODED.test(err.message)) {
    // the case's process ended (a crash, the OOM killer) or BullMQ failed: may pass, retried
    const m = /^Unexpected exit code: (\S+) signal: (\S+)/.exec(err.message)
    err.message = m ? `[ERR_INTERNAL] the case's process ended (exit code ${m[1]}, signal ${m[2]})` : `[ERR_INTERNAL] ${err.message}`
  }
  return err
}

/**
 * Starts a worker: it takes cases from the queue, `concurrency` at a time, each in a child
 * process of its own (a crash ends that process, not the worker; memory is one case per slot).
 * Input errors (`ERR_FORMAT`, `ERR_SHAPE`, `ERR_SETTING`, …, and `ERR_IO` for an absent input)
 * fail the case at once; other errors are retried with exponential backoff. Lost Redis
 * connections are retried forever; the worker resumes where Redis left off. A case whose worker
 * died goes back to the queue after `lockDuration` (BullMQ's stalled-job check).
 * `voxelkit cohort cancel` aborts the running cases through their AbortSignal.
 */
export async function startWorker(options: WorkerOptions = {}): Promise<CohortWorker> {
  const { url, queue } = target(options)
  const concurrency = positiveInt(options.concurrency, 'concurrency', 1, 1024)
  const threads = options.threads === undefined ? Math.max(1, Math.floor(availableParallelism() / concurrency)) : checkThreads(options.threads)
  const name = options.name ?? `${hostname()}:${process.pid}`
  const bull = bullmq()
  const sub = await redisClient(url, options)
  try {
    for (const w of settingsWarnings(await redisSettings(sub))) options.log?.(`warning: ${w}`)
    return await runWorker(bull, sub, { url, queue, concurrency, threads, name }, options)
  } catch (e) {
    sub.disconnect()
    throw e
  }
}

async function runWorker(
  bull: BullMQ,
  sub: Redis,
  { url, queue, concurrency, threads, name }: { url: string; queue: string; concurrency: number; threads: number; name: string },
  options: WorkerOptions,
): Promise<CohortWorker> {
  const emit = options.onEvent ?? (() => undefined)

  class CohortBullWorker extends bull.Worker<CaseJob> {
    protected override async callProcessJob(job: Job<CaseJob>, token: string, signal?: AbortSignal): Promise<unknown> {
      try {
        return await super.callProcessJob(job, token, signal)
      } catch (e) {
        throw coded(e)
      }
    }
  }
  const worker = new CohortBullWorker(queue, processorFile(), {
    connection: { url, maxRetriesPerRequest: null },
    prefix: PREFIX,
    concurrency,
    name,
    // BullMQ's defaults where not given (an undefined option would replace them)
    ...(options.lockDuration === undefined ? {} : { lockDuration: positiveInt(options.lockDuration, 'lockDuration', 1, 2 ** 31 - 1) }),
    ...(options.stalledInterval === undefined ? {} : { stalledInterval: positiveInt(options.stalledInterval, 'stalledInterval', 1, 2 ** 31 - 1) }),
    maxStalledCount: positiveInt(options.maxStalledCount, 'maxStalledCount', 3, 1000),
    workerForkOptions: { env: { ...process.env, VOXELKIT_COHORT_THREADS: String(threads) } },
    autorun: false,
  })
  worker.on('completed', (job) => emit({ type: 'completed', jobId: job.id!, case: job.data.name, ms: (job.finishedOn ?? Date.now()) - (job.processedOn ?? Date.now()) }))
  worker.on('failed', (job, err) => {
    if (job === undefined) return emit({ type: 'error', message: err.message })
    const attempts = job.opts.attempts ?? 1
    const final = job.attemptsMade >= attempts || err.name === 'UnrecoverableError'
    emit({ type: 'failed', jobId: job.id!, case: job.data.name, message: err.message, attempt: job.attemptsMade, attempts, final })
  })
  worker.on('stalled', (jobId) => emit({ type: 'stalled', jobId }))
  let lastError = 0
  worker.on('error', (e) => {
    // every reconnection attempt errors: report one in 10 s
    if (Date.now() - lastError < 10000) return
    lastError = Date.now()
    emit({ type: 'error', message: e.message })
  })
  // `voxelkit cohort cancel` publishes on the queue's channel: abort what runs here
  sub.on('message', () => worker.cancelAllJobs('[ERR_ABORTED] the cohort was cancelled'))
  try {
    await sub.subscribe(cancelChannel(queue))
    await worker.waitUntilReady()
  } catch (e) {
    await worker.close(true).catch(() => undefined)
    throw e
  }
  void worker.run().catch((e: Error) => emit({ type: 'error', message: e.message }))
  return {
    name,
    queue,
    redis: masked(url),
    concurrency,
    threads,
    worker,
    close: async (force = false) => {
      try {
        await worker.close(force)
      } finally {
        sub.disconnect()
      }
    },
  }
}

// ---------------------------------------------------------------------------------------------
// status, results, control

function codeOf(reason: string | undefined): string {
  return CODED.exec(reason ?? '')?.[1] ?? 'uncoded'
}

/** Counts, the latest submission's progress, failures with their codes, running jobs and the rate. */
export async function cohortStatus(options: ConnectionOptions = {}): Promise<CohortStatus> {
  return withQueue(options, async ({ url, name, redis, queue }) => {
    const c = await queue.getJobCounts('waiting', 'active', 'delayed', 'completed', 'failed', 'prioritized')
    const counts = {
      waiting: c.waiting ?? 0,
      active: c.active ?? 0,
      delayed: c.delayed ?? 0,
      completed: c.completed ?? 0,
      failed: c.failed ?? 0,
      prioritized: c.prioritized ?? 0,
    }
    const manifest = await readManifest(redis, name)
    let submission: CohortStatus['submission']
    let pending: number | undefined
    if (manifest) {
      const [done, failed] = await finishedSets(queue)
      const ids = new Set(manifest.jobIds)
      let nc = 0
      let nf = 0
      for (const id of ids) (done.has(id) ? nc++ : failed.has(id) ? nf++ : 0)
      pending = ids.size - nc - nf
      submission = { task: manifest.task, csv: manifest.csv, submittedAt: manifest.submittedAt, cases: manifest.rows.length, jobs: ids.size, completed: nc, failed: nf, pending }
    }
    const failedJobs = (await queue.getFailed(0, 999)) as Job<CaseJob>[]
    const byCode: Record<string, number> = {}
    for (const j of failedJobs) byCode[codeOf(j.failedReason)] = (byCode[codeOf(j.failedReason)] ?? 0) + 1
    if (counts.failed > failedJobs.length) byCode['(not read)'] = counts.failed - failedJobs.length
    const cases = failedJobs.slice(0, 50).map((j) => ({
      jobId: j.id!,
      case: j.data?.name ?? '',
      code: codeOf(j.failedReason),
      message: (j.failedReason ?? '').replace(CODED, ''),
      attempts: j.attemptsMade,
    }))
    const activeJobs = (await queue.getActive(0, 99)) as Job<CaseJob>[]
    const now = Date.now()
    const active = activeJobs.map((j) => ({
      jobId: j.id!,
      case: j.data?.name ?? '',
      progress: typeof j.progress === 'number' ? j.progress : 0,
      worker: j.processedBy,
      ms: j.processedOn ? now - j.processedOn : 0,
    }))
    // the rate over the latest completions (at most 200, the last 10 minutes)
    const recent = ((await queue.getCompleted(0, 199)) as Job[]).map((j) => j.finishedOn ?? 0).filter((t) => t > now - 600_000)
    // n completions since the oldest of them: n - 1 intervals, up to now (idle time counts)
    const perMinute = recent.length >= 2 ? ((recent.length - 1) * 60_000) / Math.max(1, now - Math.min(...recent)) : null
    const etaSeconds = perMinute && pending !== undefined ? Math.round((pending * 60) / perMinute) : pending === 0 ? 0 : null
    // CLIENT LIST: refused on some managed Redis
    const workers = await queue.getWorkers().then((w) => w.length, () => null)
    return {
      queue: name,
      redis: masked(url),
      counts,
      submission,
      failures: { byCode, cases },
      active,
      workers,
      perMinute,
      etaSeconds,
      redisSettings: await redisSettings(redis),
    }
  })
}

/** Decodes a radiomics result (non-finite numbers and -0 travel as strings). */
function decodeFeatures(f: Record<string, number | string>): Record<string, number> {
  const out: Record<string, number> = {}
  for (const [k, v] of Object.entries(f)) out[k] = typeof v === 'number' ? v : Number(v)
  return out
}

/**
 * The latest submission's results, one row per CSV row in CSV order, as the local batch command
 * writes them: radiomics rows equal `voxelkit radiomics cases.csv`'s value for value (the row's
 * cells, `error`, the features). Unfinished cases are `ERR_SETTING` unless `partial`.
 */
export async function collectResults(options: CollectOptions = {}): Promise<CohortResults> {
  return withQueue(options, async ({ url, name, redis, queue }) => {
    const manifest = await readManifest(redis, name)
    if (manifest === undefined) throw new VoxelkitError('ERR_SETTING', `queue '${name}' on ${masked(url)} has no submission`)
    const [done, failed] = await finishedSets(queue)
    const ids = [...new Set(manifest.jobIds)].filter((id) => done.has(id) || failed.has(id))
    const jobs = new Map<string, Job<CaseJob>>()
    for (let i = 0; i < ids.length; i += 500) {
      const got = await Promise.all(ids.slice(i, i + 500).map((id) => queue.getJob(id)))
      for (const j of got) if (j) jobs.set(j.id!, j as Job<CaseJob>)
    }
    // the state of each unfinished job, for its row
    const open = [...new Set(manifest.jobIds)].filter((id) => !jobs.has(id))
    const states = new Map<string, string>()
    for (let i = 0; i < open.length; i += 500) {
      const got = await Promise.all(open.slice(i, i + 500).map((id) => queue.getJobState(id)))
      got.forEach((st, k) => states.set(open[i + k], st === 'unknown' ? 'removed' : st))
    }
    let nc = 0
    let nf = 0
    let np = 0
    const unfinished: string[] = []
    const rows: Record<string, unknown>[] = []
    for (const [k, row] of manifest.rows.entries()) {
      const id = manifest.jobIds[k]
      const j = jobs.get(id)
      if (j && done.has(id)) {
        nc++
        const r = j.returnvalue as { features?: Record<string, number | string>; out?: string; fitted?: number; voxels?: number }
        rows.push(manifest.task === 'radiomics' ? { ...row, error: '', ...decodeFeatures(r.features ?? {}) } : { ...row, error: '', out: r.out, fitted: r.fitted, voxels: r.voxels })
      } else if (j && failed.has(id)) {
        nf++
        rows.push({ ...row, error: j.failedReason })
      } else {
        np++
        const state = states.get(id) ?? 'removed'
        if (unfinished.length < 5) unfinished.push(`row ${k + 1} (${state === 'removed' ? 'removed: submit again' : state})`)
        rows.push({ ...row, error: `not finished (${state})` })
      }
    }
    if (np > 0 && !options.partial) {
      throw new VoxelkitError('ERR_SETTING', `${np} of ${manifest.rows.length} cases are not finished: ${unfinished.join(', ')}${np > unfinished.length ? ', …' : ''}`)
    }
    return { task: manifest.task, rows, completed: nc, failed: nf, pending: np }
  })
}

/** Moves every failed job back to the queue, its attempts counted afresh; returns how many. */
export async function retryFailed(options: ConnectionOptions = {}): Promise<number> {
  return withQueue(options, async ({ queue }) => {
    // the failed jobs of now, once each (a retried job may fail again while this runs)
    const ids = await queue.getRanges(['failed'], 0, -1)
    let n = 0
    for (let i = 0; i < ids.length; i += 200) {
      const done = await Promise.all(
        ids.slice(i, i + 200).map(async (id) => {
          const job = await queue.getJob(id)
          // (BullMQ's queue.retryJobs keeps attemptsMade: a retried job would get one try)
          return job
            ?.retry('failed', { resetAttemptsMade: true, resetAttemptsStarted: true })
            .then(() => 1, () => 0) ?? 0 // gone or no longer failed meanwhile
        }),
      )
      for (const d of done) n += d
    }
    return n
  })
}

/**
 * Cancels the cohort: removes its waiting and delayed jobs and aborts the running ones through
 * their AbortSignal (they fail with `ERR_ABORTED`). Finished results stay. Submitting again adds
 * the removed cases back; {@link retryFailed} reruns the aborted ones.
 */
export async function cancelCohort(options: ConnectionOptions = {}): Promise<{ removed: number; running: number; workers: number }> {
  return withQueue(options, async ({ name, redis, queue }) => {
    const c = await queue.getJobCounts('waiting', 'delayed', 'prioritized', 'active')
    await queue.drain(true)
    const workers = (await redis.publish(cancelChannel(name), 'cancel')) as number
    return { removed: (c.waiting ?? 0) + (c.delayed ?? 0) + (c.prioritized ?? 0), running: c.active ?? 0, workers }
  })
}

/**
 * Serves bull-board for the queue (and every other BullMQ queue in that Redis) at
 * `http://host:port/`. Needs `@bull-board/api` and `@bull-board/express`.
 */
export async function startDashboard(options: DashboardOptions = {}): Promise<Dashboard> {
  const { url, queue } = target(options)
  const port = options.port ?? 3000
  if (!Number.isInteger(port) || port < 0 || port > 65535) throw new VoxelkitError('ERR_SETTING', `port must be an integer from 0 to 65535, got ${String(port)}`)
  const install = '@bull-board/api@9 @bull-board/express@9'
  const { createBullBoard } = peer<typeof import('@bull-board/api')>('@bull-board/api', 'the dashboard', install)
  const { BullMQAdapter } = peer<typeof import('@bull-board/api/bullMQAdapter')>('@bull-board/api/bullMQAdapter', 'the dashboard', install)
  const { ExpressAdapter } = peer<typeof import('@bull-board/express')>('@bull-board/express', 'the dashboard', install)
  const { Queue } = bullmq()
  const redis = await redisClient(url, options)
  const names = new Set([queue])
  let cursor = '0'
  do {
    const [next, keys] = await redis.scan(cursor, 'MATCH', `${PREFIX}:*:meta`, 'COUNT', 1000)
    for (const k of keys) names.add(k.slice(PREFIX.length + 1, -':meta'.length))
    cursor = next
  } while (cursor !== '0')
  const queues = [...names].map((n) => new Queue(n, { connection: redis, prefix: PREFIX }))
  const server = new ExpressAdapter()
  server.setBasePath('/')
  createBullBoard({ queues: queues.map((q) => new BullMQAdapter(q, { readOnlyMode: options.readOnly ?? false })), serverAdapter: server })
  const http = createServer(server.getRouter())
  const host = options.host ?? '127.0.0.1'
  await new Promise<void>((res, rej) => http.once('error', rej).listen(port, host, () => res()))
  const a = http.address() as AddressInfo
  return {
    url: `http://${a.family === 'IPv6' ? `[${a.address}]` : a.address}:${a.port}/`,
    queues: [...names],
    close: async () => {
      const closed = new Promise<void>((res) => http.close(() => res()))
      http.closeAllConnections() // idle keep-alive connections would hold close() open
      await closed
      await Promise.all(queues.map((q) => q.close().catch(() => undefined)))
      redis.disconnect()
    },
  }
}
