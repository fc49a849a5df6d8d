// Compares two scripts/smoke.mjs outputs (e.g. linux-x64 and linux-arm64 under qemu):
// prints, per result, whether the two are bitwise equal or the largest difference relative to
// the result's largest magnitude, and exits 1 when a difference exceeds the tolerance.
//
//   node scripts/compare-smoke.mjs a.json b.json [--tol 1e-14]
//
// Tolerance: the kernels do their arithmetic in the same order on every platform (no FMA
// contraction, fixed reduction order); what may differ is the platform libm's exp/log/sin/…
// (glibc's are within 1 ulp but not always the same ulp across architectures) and the field
// kernels' coordinate arithmetic (observed: <= 3.6e-16 relative on linux-arm64 vs x64). A few
// ulps amplified by a fit's conditioning (~10 here) stay below 1e-14 of the largest value.
import { readFileSync } from 'node:fs'

const [pa, pb] = process.argv.slice(2).filter((a) => !a.startsWith('--'))
const ti = process.argv.indexOf('--tol')
const tol = ti > 0 ? Number(process.argv[ti + 1]) : 1e-14
if (!pa || !pb) {
  console.error('usage: node scripts/compare-smoke.mjs a.json b.json [--tol 1e-14]')
  process.exit(2)
}
const a = JSON.parse(readFileSync(pa, 'utf8'))
const b = JSON.parse(readFileSync(pb, 'utf8'))
let bad = 0
console.log(`| result | ${a.platform} vs ${b.platform} |`)
console.log('| --- | --- |')
for (const k of Object.keys(a.results)) {
  const x = a.results[k]
  const y = b.results[k]
  if (!y || y.length !== x.length) {
    console.log(`| ${k} | missing or different length |`)
    bad++
    continue
  }
  let scale = 0
  let diff = 0
  let same = true
  for (let i = 0; i < x.length; i++) {
    scale = Math.max(scale, Math.abs(x[i]))
    if (!Object.is(x[i], y[i])) same = false
    diff = Math.max(diff, Math.abs(x[i] - y[i]))
  }
  const rel = scale > 0 ? diff / scale : diff
  if (!(rel <= tol)) bad++
  console.log(`| ${k} | ${same ? 'bitwise equal' : `max diff ${rel.toExponential(1)} of the largest value`} |`)
}
process.exit(bad ? 1 : 0)
