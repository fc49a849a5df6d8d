// The JavaScript fuzzers' hang detector (scripts/watchdog.mjs): a synchronous call that never
// returns must end the fuzzer with a report naming the call, and calls that return must not.
import test from 'ava'
import { spawnSync } from 'node:child_process'
import { mkdtempSync, readFileSync, readdirSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { pathToFileURL } from 'node:url'

const dog = pathToFileURL(join(__dirname, '..', 'scripts', 'watchdog.mjs')).href

function run(body: string, artifactDir?: string) {
  const code = `import { watchdog } from ${JSON.stringify(dog)}\nconst d = watchdog({ seconds: 1, label: 'probe', artifactDir: ${JSON.stringify(artifactDir)} })\n${body}`
  return spawnSync(process.execPath, ['--input-type=module', '-e', code], { encoding: 'utf8', timeout: 60_000 })
}

test('a call that never returns is reported with its description and the process ends', (t) => {
  // spins up to 50 s; the watchdog's limit is 1 s
  const r = run(`d.start('quick'); d.stop()\nd.start('run 7 seed 3 fitDki')\nconst t0 = Date.now(); while (Date.now() - t0 < 50000) {}\nconsole.log('not stopped')`)
  t.is(r.signal, 'SIGTERM', `status ${r.status}, stderr ${r.stderr}`)
  t.regex(r.stderr, /probe: FINDING: a call has not returned after \d+ s \(a hang\): run 7 seed 3 fitDki/)
  t.notRegex(r.stdout, /not stopped/)
})

test('calls that return, and time between calls, are not findings', (t) => {
  const r = run(`for (let i = 0; i < 1000; i++) { d.start('run ' + i); d.stop() }\nawait new Promise((res) => setTimeout(res, 2500))\nconsole.log('done')`)
  t.is(r.status, 0, r.stderr)
  t.is(r.stdout.trim(), 'done')
  t.is(r.stderr, '')
})

test('the hanging call\'s input is written to the artifact folder', (t) => {
  const dir = mkdtempSync(join(tmpdir(), 'vk-dog-'))
  try {
    const r = run(`d.start('run 1', Buffer.from('first'), '.yaml'); d.stop()\nd.start('run 2 seed 9', Buffer.from('setting:\\n  binWidth: 25\\n'), '.yaml')\nconst t0 = Date.now(); while (Date.now() - t0 < 50000) {}`, dir)
    t.is(r.signal, 'SIGTERM', `status ${r.status}, stderr ${r.stderr}`)
    const files = readdirSync(dir)
    t.is(files.length, 1)
    t.regex(files[0], /^hang-[0-9a-f]{12}\.yaml$/)
    t.is(readFileSync(join(dir, files[0]), 'utf8'), 'setting:\n  binWidth: 25\n')
    t.regex(r.stderr, new RegExp(`run 2 seed 9; input written to .*${files[0]}`))
  } finally {
    rmSync(dir, { recursive: true, force: true })
  }
})
