// `voxelkit cohort …`: the cohort commands on voxelkit/cohort (BullMQ on Redis). Loaded only when
// a cohort command runs, so that the other commands never load the optional peers.
import type { CohortStatus, CohortTask, ConnectionOptions } from './cohort'
import { cancelCohort, cohortStatus, collectResults, retryFailed, startDashboard, startWorker, submitCohort } from './cohort'
import { UsageError, choiceOption, numberOption, parseCommandLine, printError, threadsOption, writeTable } from './cliKit'
import { VoxelkitError } from './errors'

export const COHORT_USAGE = `  voxelkit cohort submit <cases.csv> --task TASK [--params FILE] [--label N] [--method M]
                        [--out DIR] [--hash] [--attempts N] [--backoff MS]
      Queues one job per case on Redis (BullMQ). TASK radiomics: Image,Mask[,Label] columns as
      'voxelkit radiomics cases.csv' takes them; dti or dki: DWI,Bval,Bvec[,Mask] (maps in
      DIR/<ID>/). Paths relative to the CSV; every worker must see them. Job ids hash the task,
      the inputs (path, size, mtime; content with --hash) and the settings: submitting again
      adds only new or changed cases.
  voxelkit cohort worker [--concurrency N] [--threads N] [--name NAME] [--lock-duration MS] [--stalled-interval MS]
      Processes cases until SIGINT/SIGTERM (then finishes the running ones; twice: aborts them),
      each slot in its own child process. Input errors fail at once; others retry with backoff.
  voxelkit cohort status [--watch S] [--json]
      Counts, the latest submission's progress, failures by error code, running cases, rate.
  voxelkit cohort collect --out results.csv|.json [--partial] [--wait]
      The latest submission's rows in CSV order (radiomics: what 'voxelkit radiomics cases.csv'
      writes); exit status 1 when a case failed.
  voxelkit cohort retry-failed | cancel
      Reruns the failed cases | removes the waiting cases and aborts the running ones.
  voxelkit cohort dashboard [--port P] [--host H] [--read-only]
      bull-board on http://H:P/ (default 127.0.0.1:3000).
    Every cohort command takes [--redis URL] (default $VOXELKIT_REDIS_URL, else
    redis://127.0.0.1:6379) and [--queue NAME] (default voxelkit).
`

const COMMON = ['redis', 'queue'] as const
const log = (m: string) => process.stderr.write(`voxelkit: ${m}\n`)

function intOption(value: string | undefined, name: string, min: number, max: number): number | undefined {
  const x = numberOption(value, name)
  if (x !== undefined && (!Number.isInteger(x) || x < min || x > max)) throw new UsageError(`--${name} must be an integer from ${min} to ${max}, got '${value}'`)
  return x
}

function conn(values: { redis?: string; queue?: string }): ConnectionOptions {
  return { redis: values.redis, queue: values.queue, log }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

async function submit(args: string[]): Promise<number> {
  const { values, positionals, flags } = parseCommandLine(args, {
    options: [...COMMON, 'task', 'params', 'label', 'method', 'out', 'attempts', 'backoff'],
    flags: ['hash'],
    positionals: true,
  })
  if (positionals.length !== 1) throw new UsageError('cohort submit needs one cases CSV')
  if (values.task === undefined) throw new UsageError('cohort submit needs --task radiomics, dti or dki')
  const task = choiceOption<CohortTask>(values.task, 'task', ['radiomics', 'dti', 'dki'])
  let label: number | undefined
  if (values.label !== undefined) {
    label = Number(values.label)
    if (!Number.isInteger(label) || label < 1) throw new VoxelkitError('ERR_SETTING', `--label must be a positive integer, got ${values.label}`)
  }
  const r = await submitCohort(positionals[0], {
    ...conn(values),
    task,
    params: values.params,
    label,
    method: values.method,
    out: values.out,
    hash: flags.has('hash'),
    attempts: intOption(values.attempts, 'attempts', 1, 100),
    backoff: intOption(values.backoff, 'backoff', 0, 86_400_000),
  })
  const e = r.existing
  const old = r.jobs - r.added
  console.log(`queue '${r.queue}' on ${r.redis}: ${r.cases} cases, ${r.jobs} jobs: ${r.added} added, ${old} already there` + (old ? ` (${e.completed} done, ${e.failed} failed, ${e.pending} pending)` : ''))
  if (e.failed) console.log(`  'voxelkit cohort retry-failed' reruns the ${e.failed} failed`)
  return 0
}

async function worker(args: string[]): Promise<number> {
  const { values } = parseCommandLine(args, { options: [...COMMON, 'concurrency', 'threads', 'name', 'lock-duration', 'stalled-interval'] })
  const w = await startWorker({
    ...conn(values),
    concurrency: intOption(values.concurrency, 'concurrency', 1, 1024),
    threads: threadsOption(values.threads),
    name: values.name,
    lockDuration: intOption(values['lock-duration'], 'lock-duration', 100, 86_400_000),
    stalledInterval: intOption(values['stalled-interval'], 'stalled-interval', 100, 86_400_000),
    onEvent: (e) => {
      if (e.type === 'completed') console.log(`done ${e.case} (${e.jobId}) in ${(e.ms / 1000).toFixed(2)} s`)
      else if (e.type === 'failed') {
        const next = !e.final ? ', retrying' : e.attempt < e.attempts ? ', not retried' : ''
        console.log(`failed ${e.case} (${e.jobId}): ${e.message} (attempt ${e.attempt} of ${e.attempts}${next})`)
      }
      else if (e.type === 'stalled') console.log(`recovered ${e.jobId} from a worker that stopped`)
      else log(`redis: ${e.message} (retrying)`)
    },
  })
  console.log(`worker ${w.name} on ${w.redis} queue '${w.queue}': ${w.concurrency} slot(s) x ${w.threads} thread(s)`)
  await new Promise<void>((resolve) => {
    let stopping = false
    const stop = (sig: string) => {
      if (stopping) {
        log(`${sig} again: aborting the running cases`)
        void w.close(true).then(resolve)
        return
      }
      stopping = true
      log(`${sig}: finishing the running cases (again to abort them)`)
      void w.close(false).then(resolve)
    }
    process.on('SIGINT', () => stop('SIGINT'))
    process.on('SIGTERM', () => stop('SIGTERM'))
  })
  return 0
}

function printStatus(s: CohortStatus): void {
  const rs = s.redisSettings
  const settings = rs ? `; Redis: AOF ${rs.appendonly === 'yes' ? 'on' : 'OFF'}, ${rs.maxmemoryPolicy}` : ''
  console.log(`queue '${s.queue}' on ${s.redis}: ${s.workers ?? 'unknown number of'} worker(s)${settings}`)
  const sub = s.submission
  if (sub) {
    console.log(`submission ${sub.submittedAt}: ${sub.task}, ${sub.csv}, ${sub.cases} cases (${sub.jobs} jobs): ${sub.completed} done, ${sub.failed} failed, ${sub.pending} pending`)
  }
  const c = s.counts
  console.log(`jobs: ${c.active} active, ${c.waiting + c.prioritized} waiting, ${c.delayed} delayed (retry backoff), ${c.completed} completed, ${c.failed} failed`)
  if (s.perMinute !== null) {
    const eta = s.etaSeconds === null ? '' : s.etaSeconds === 0 ? ', nothing left' : `, about ${s.etaSeconds < 120 ? `${s.etaSeconds} s` : `${(s.etaSeconds / 60).toFixed(0)} min`} left`
    console.log(`rate: ${s.perMinute.toFixed(1)} cases/min${eta}`)
  }
  for (const a of s.active) console.log(`  running ${a.case} ${a.progress}% (${(a.ms / 1000).toFixed(1)} s${a.worker ? ` on ${a.worker}` : ''})`)
  const codes = Object.entries(s.failures.byCode)
  if (codes.length) {
    console.log(`failures: ${codes.map(([k, n]) => `${k} ${n}`).join(', ')}`)
    for (const f of s.failures.cases) console.log(`  ${f.case} [${f.code}] ${f.message} (${f.attempts} attempt${f.attempts === 1 ? '' : 's'})`)
  }
}

async function status(args: string[]): Promise<number> {
  const { values, flags } = parseCommandLine(args, { options: [...COMMON, 'watch'], flags: ['json'] })
  const watch = numberOption(values.watch, 'watch')
  if (watch !== undefined && !(watch > 0)) throw new UsageError(`--watch must be a positive number of seconds, got '${values.watch}'`)
  for (;;) {
    let s: CohortStatus
    try {
      s = await cohortStatus(conn(values))
    } catch (e) {
      // --watch outlives Redis restarts: report and try again
      if (watch === undefined || !(e instanceof VoxelkitError) || e.code !== 'ERR_IO') throw e
      log(`${e.message}; trying again`)
      await sleep(watch * 1000)
      continue
    }
    if (flags.has('json')) console.log(JSON.stringify(s))
    else printStatus(s)
    const c = s.counts
    const left = s.submission ? s.submission.pending : c.waiting + c.active + c.delayed + c.prioritized
    if (watch === undefined || left === 0) return 0
    await sleep(watch * 1000)
    if (!flags.has('json')) console.log('')
  }
}

async function collect(args: string[]): Promise<number> {
  const { values, flags } = parseCommandLine(args, { options: [...COMMON, 'out'], flags: ['partial', 'wait'] })
  if (flags.has('wait')) {
    for (;;) {
      const s = await cohortStatus(conn(values))
      if (s.submission === undefined || s.submission.pending === 0) break
      await sleep(2000)
    }
  }
  const r = await collectResults({ ...conn(values), partial: flags.has('partial') })
  writeTable(values.out, r.rows)
  if (r.pending > 0) printError(`${r.pending} of ${r.rows.length} cases are not finished`)
  if (r.failed > 0) printError(`${r.failed} of ${r.rows.length} cases failed (see the error column)`)
  return r.failed > 0 || r.pending > 0 ? 1 : 0
}

async function retry(args: string[]): Promise<number> {
  const { values } = parseCommandLine(args, { options: [...COMMON] })
  const n = await retryFailed(conn(values))
  console.log(`${n} failed case(s) back in the queue`)
  return 0
}

async function cancel(args: string[]): Promise<number> {
  const { values } = parseCommandLine(args, { options: [...COMMON] })
  const r = await cancelCohort(conn(values))
  console.log(`removed ${r.removed} waiting case(s); asked ${r.workers} worker(s) to abort ${r.running} running case(s) (they fail with ERR_ABORTED)`)
  return 0
}

async function dashboard(args: string[]): Promise<number> {
  const { values, flags } = parseCommandLine(args, { options: [...COMMON, 'port', 'host'], flags: ['read-only'] })
  const d = await startDashboard({ ...conn(values), port: intOption(values.port, 'port', 0, 65535), host: values.host, readOnly: flags.has('read-only') })
  console.log(`bull-board for ${d.queues.map((q) => `'${q}'`).join(', ')} on ${d.url} (Ctrl-C stops it)`)
  await new Promise<void>((resolve) => {
    const stop = () => void d.close().then(resolve)
    process.once('SIGINT', stop)
    process.once('SIGTERM', stop)
  })
  return 0
}

const SUB: Record<string, (args: string[]) => Promise<number>> = {
  submit,
  worker,
  status,
  collect,
  'retry-failed': retry,
  cancel,
  dashboard,
}

/** Runs `voxelkit cohort <sub> …`; returns the exit status. */
export async function cmdCohort(args: string[]): Promise<number> {
  const [sub, ...rest] = args
  if (sub === undefined || !Object.hasOwn(SUB, sub)) {
    throw new UsageError(sub === undefined ? 'cohort needs a subcommand' : `unknown cohort subcommand '${sub}'`, { usage: COHORT_USAGE })
  }
  try {
    return await SUB[sub](rest)
  } catch (e) {
    if (e instanceof UsageError && e.usage === undefined) throw new UsageError(e.message, { usage: COHORT_USAGE, cause: e })
    throw e
  }
}
