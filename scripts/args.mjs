// Shared by the fuzz and soak scripts: numeric command-line options and a seeded generator.

/** The number after `--name` on the command line, or `dflt`. */
export function arg(name, dflt) {
  const i = process.argv.indexOf(`--${name}`)
  return i > 0 ? Number(process.argv[i + 1]) : dflt
}

/** A seeded generator of numbers in [0, 1) (mulberry32). */
export function rng(seed) {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

/**
 * A fuzzer's run budget: `--runs N` runs, or `--seconds S` of wall time when S > 0. `next()`
 * counts a run and says whether it may start; `seconds()` and `perCpuSecond()` report.
 */
export function budget(runs, seconds) {
  const t0 = process.hrtime.bigint()
  const cpu0 = process.cpuUsage()
  const b = {
    runs: 0,
    seconds: () => Number(process.hrtime.bigint() - t0) / 1e9,
    perCpuSecond: () => {
      const c = process.cpuUsage(cpu0)
      return Math.round(b.runs / ((c.user + c.system) / 1e6))
    },
    next: () => {
      if (seconds > 0 ? b.seconds() >= seconds : b.runs >= runs) return false
      b.runs++
      return true
    },
  }
  return b
}

/** Outcome counts: `add(key)`, and `entries()` most frequent first. */
export function tally() {
  const m = new Map()
  return {
    add: (k) => m.set(k, (m.get(k) ?? 0) + 1),
    get: (k) => m.get(k) ?? 0,
    entries: () => [...m].sort((a, b) => b[1] - a[1]),
  }
}
