// A hang detector for the JavaScript fuzzers (scripts/fuzz-options.mjs, fuzz-syn.mjs,
// fuzz-params.mjs). A synchronous call that never returns blocks the main thread, so no timer of
// its own can fire (the option fuzzer's first long campaign simply stopped on such a call). The
// main thread marks each call's start and end in shared memory; a worker thread looks every
// second and, when one call has run longer than the limit, writes what the main thread said it
// was running to stderr, and the input bytes it was given to a file, and ends the process with
// SIGTERM (a finding: non-zero exit).
//
//   const dog = watchdog({ seconds: 60, label: 'fuzz-options', artifactDir })
//   dog.start(`run ${n} seed ${seed} ${api}`, bytes?, '.yaml')   // before the call (cheap)
//   ...call...
//   dog.stop()
import { Worker } from 'node:worker_threads'

const WORKER = `
const { workerData } = require('node:worker_threads')
const { writeSync, writeFileSync, mkdirSync } = require('node:fs')
const { createHash } = require('node:crypto')
const { join } = require('node:path')
const state = new Int32Array(workerData.state)
const text = new Uint8Array(workerData.text)
const input = new Uint8Array(workerData.input)
let last = -1
let since = Date.now()
setInterval(() => {
  const run = Atomics.load(state, 0)
  const busy = Atomics.load(state, 1)
  if (!busy || run !== last) {
    last = run
    since = Date.now()
    return
  }
  const secs = (Date.now() - since) / 1000
  if (secs < workerData.seconds) return
  const what = Buffer.from(text.slice(0, Atomics.load(state, 2))).toString('utf8')
  let saved = ''
  const n = Atomics.load(state, 3)
  if (n > 0 && workerData.artifactDir) {
    const data = Buffer.from(input.slice(0, n))
    const suffix = Buffer.from(text.slice(2048 - 32, 2048 - 32 + Atomics.load(state, 4))).toString('utf8')
    const file = join(workerData.artifactDir, 'hang-' + createHash('sha1').update(data).digest('hex').slice(0, 12) + suffix)
    mkdirSync(workerData.artifactDir, { recursive: true })
    writeFileSync(file, data)
    saved = '; input written to ' + file
  }
  writeSync(2, workerData.label + ': FINDING: a call has not returned after ' + Math.round(secs) + ' s (a hang): ' + what + saved + '\\n')
  process.kill(process.pid, 'SIGTERM')
}, 1000)
`

/** The largest input a hang report keeps (the fuzzers' inputs are at most a few KiB). */
const MAX_INPUT = 1 << 16

/**
 * Starts the watchdog thread (unreferenced: it never keeps the process alive).
 * @param {{ seconds?: number, label?: string, artifactDir?: string }} [o] the limit per call
 *   (default 60 s), the name printed with a finding, and where a hanging call's input is written
 */
export function watchdog({ seconds = 60, label = 'fuzz', artifactDir } = {}) {
  // [call counter, busy, description length, input length, suffix length]
  const state = new Int32Array(new SharedArrayBuffer(20))
  // the description, and the input file's suffix in the last 32 bytes
  const text = new Uint8Array(new SharedArrayBuffer(2048))
  const input = new Uint8Array(new SharedArrayBuffer(MAX_INPUT))
  const enc = new TextEncoder()
  const w = new Worker(WORKER, { eval: true, execArgv: [], workerData: { state: state.buffer, text: text.buffer, input: input.buffer, seconds, label, artifactDir } })
  w.unref()
  return {
    /**
     * Marks the start of a call described by `what`; `data` (bytes, at most 64 KiB kept) is the
     * input written to `artifactDir` as `hang-<sha1><suffix>` if the call hangs.
     */
    start(what, data, suffix = '') {
      Atomics.store(state, 1, 0)
      const { written } = enc.encodeInto(what, text.subarray(0, 2048 - 32))
      Atomics.store(state, 2, written)
      if (data) {
        const n = Math.min(data.length, MAX_INPUT)
        input.set(data.subarray(0, n))
        Atomics.store(state, 3, n)
        Atomics.store(state, 4, enc.encodeInto(suffix, text.subarray(2048 - 32)).written)
      } else {
        Atomics.store(state, 3, 0)
      }
      Atomics.add(state, 0, 1)
      Atomics.store(state, 1, 1)
    },
    /** Marks the end of the current call. */
    stop() {
      Atomics.store(state, 1, 0)
    },
  }
}
