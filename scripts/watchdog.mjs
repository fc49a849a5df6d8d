// A hang detector for the JavaScript fuzzers (scripts/fuzz-options.mjs, fuzz-syn.mjs,
// fuzz-params.mjs). A synchronous call that never returns blocks the main thread, so no timer of
// its own can fire (the option fuzzer's first long campaign simply stopped on such a call). The
// main thread marks each call's start and end in shared memory; a worker thread looks every
// second and, when one call has run longer than the limit, writes what the main thread said it
// was running to stderr and ends the process with SIGTERM (a finding: non-zero exit).
//
//   const dog = watchdog({ seconds: 60, label: 'fuzz-options' })
//   dog.start(`run ${n} seed ${seed} ${api}`)   // before the call (cheap: no input printing)
//   ...call...
//   dog.stop()
import { Worker } from 'node:worker_threads'

const WORKER = `
const { workerData } = require('node:worker_threads')
const { writeSync } = require('node:fs')
const state = new Int32Array(workerData.state)
const text = new Uint8Array(workerData.text)
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
  writeSync(2, workerData.label + ': FINDING: a call has not returned after ' + Math.round(secs) + ' s (a hang): ' + what + '\\n')
  process.kill(process.pid, 'SIGTERM')
}, 1000)
`

/**
 * Starts the watchdog thread (unreferenced: it never keeps the process alive).
 * @param {{ seconds?: number, label?: string }} [o] the limit per call (default 60 s) and the
 *   name printed with a finding
 */
export function watchdog({ seconds = 60, label = 'fuzz' } = {}) {
  // [call counter, busy, description length]
  const state = new Int32Array(new SharedArrayBuffer(12))
  const text = new Uint8Array(new SharedArrayBuffer(2048))
  const enc = new TextEncoder()
  const w = new Worker(WORKER, { eval: true, execArgv: [], workerData: { state: state.buffer, text: text.buffer, seconds, label } })
  w.unref()
  return {
    /** Marks the start of a call described by `what` (written for the finding's report). */
    start(what) {
      Atomics.store(state, 1, 0)
      const { written } = enc.encodeInto(what, text)
      Atomics.store(state, 2, written)
      Atomics.add(state, 0, 1)
      Atomics.store(state, 1, 1)
    },
    /** Marks the end of the current call. */
    stop() {
      Atomics.store(state, 1, 0)
    },
  }
}
