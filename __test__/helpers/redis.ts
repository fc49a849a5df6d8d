// A real Redis for the cohort suites: Debian's redis-server on a free loopback port with a temporary
// folder (AOF on, appendfsync everysec, maxmemory-policy noeviction: the settings the README asks
// for), started and stopped by the tests. No mock, no in-memory fake.
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'

/** Whether `redis-server` is on the PATH. */
export function hasRedisServer(): boolean {
  return spawnSync('redis-server', ['--version'], { stdio: 'ignore' }).status === 0
}

/** A free TCP port on 127.0.0.1 (bound and released). */
export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as { port: number }
      s.close(() => resolve(port))
    })
  })
}

/** A running redis-server of the tests. */
export interface RedisServer {
  url: string
  port: number
  dir: string
  /** Stops it (SIGTERM: Redis flushes the AOF and exits). */
  stop(): Promise<void>
  /** Starts it again on the same port and folder (it reloads the AOF). */
  start(): Promise<void>
  /** Stops it for good and removes its folder. */
  dispose(): Promise<void>
}

export async function startRedis(): Promise<RedisServer> {
  const port = await freePort()
  const dir = mkdtempSync(join(tmpdir(), 'voxelkit-redis-'))
  const args = [
    '--port', String(port), '--bind', '127.0.0.1', '--dir', dir,
    '--appendonly', 'yes', '--appendfsync', 'everysec', '--save', '',
    '--maxmemory-policy', 'noeviction', '--daemonize', 'no', '--logfile', '',
  ]
  let proc: ChildProcess | undefined
  let log = ''
  const start = () =>
    new Promise<void>((resolve, reject) => {
      const p = spawn('redis-server', args, { stdio: ['ignore', 'pipe', 'pipe'] })
      proc = p
      const timer = setTimeout(() => reject(new Error(`redis-server did not start in 20 s:\n${log.slice(-2000)}`)), 20000)
      const onData = (b: Buffer) => {
        log += b.toString()
        if (/Ready to accept connections/.test(log)) {
          clearTimeout(timer)
          log = ''
          resolve()
        }
      }
      p.stdout!.on('data', onData)
      p.stderr!.on('data', onData)
      p.once('exit', (code) => {
        clearTimeout(timer)
        reject(new Error(`redis-server exited (${code}):\n${log.slice(-2000)}`))
      })
    })
  const stop = async () => {
    const p = proc
    proc = undefined
    if (p === undefined || p.exitCode !== null) return
    const exited = new Promise<void>((resolve) => p.once('exit', () => resolve()))
    p.kill('SIGTERM')
    await exited
  }
  await start()
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    dir,
    stop,
    start,
    dispose: async () => {
      await stop()
      rmSync(dir, { recursive: true, force: true })
    },
  }
}
