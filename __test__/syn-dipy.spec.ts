// SyN registration (registerSyN) against DIPY 1.12.1's SymmetricDiffeomorphicRegistration with
// the CC, SSD and EM metrics (both steps of each), through the public API, on the golden fixtures of fixtures/dipy_syn (written by
// fixtures/dipy_syn/generate.py from DIPY itself).
//
// Tolerances (the kernel's own test, crates/fields/tests/dipy_syn.rs, states why):
// * the same iteration count per level as DIPY;
// * energies within 1e-9 relative;
// * forward / backward fields within 1e-4 voxel of DIPY's mapping.forward / mapping.backward;
// * transform / transformInverse within 1e-5 of DIPY's warped images (values in [0, 1.2]).
// Observed on the machine that generated the fixtures: all identical, bit for bit.
// Every case also runs at 1 and 3 threads and sync vs async: identical bits.
import test from 'ava'
import { readFileSync, readdirSync } from 'node:fs'
import { join } from 'node:path'
import { registerSyN, registerSyNSync, VoxelkitError, type RegisterSyNSyncOptions, type SyNIteration, type Volume, type VoxelArray } from '../ts/index'
import { acode, code } from './helpers/errors'

const DIR = join(__dirname, '..', 'fixtures', 'dipy_syn')

interface Meta {
  kind: string
  [k: string]: unknown
  arrays: Record<string, { file: string; dtype: string; shape: number[] }>
}

const cases = readdirSync(DIR)
  .filter((f) => f.endsWith('.json'))
  .sort()
  .map((f) => ({ name: f.slice(0, -5), m: JSON.parse(readFileSync(join(DIR, f), 'utf8')) as Meta }))
  .filter((c) => c.m.kind === 'syn')

function arr(m: Meta, key: string): VoxelArray {
  const a = m.arrays[key]
  const b = readFileSync(join(DIR, a.file))
  const buf = b.buffer.slice(b.byteOffset, b.byteOffset + b.byteLength)
  return a.dtype === 'float64' ? new Float64Array(buf) : new Float32Array(buf)
}

const same = (a: ArrayLike<number>, b: ArrayLike<number>) => a.length === b.length && Array.prototype.every.call(a, (v: number, i: number) => Object.is(v, b[i]))

function maxDiff(a: ArrayLike<number>, b: ArrayLike<number>): number {
  let w = 0
  for (let i = 0; i < a.length; i++) w = Math.max(w, Math.abs(a[i] - b[i]))
  return w
}

test('fixtures are present', (t) => {
  t.true(cases.length >= 6)
})

for (const { name, m } of cases) {
  test(`registerSyN equals DIPY: ${name}`, async (t) => {
    const stat: Volume = { data: arr(m, 'static'), shape: m.static_shape as number[], affine: m.static_affine as number[] }
    const moving: Volume = { data: arr(m, 'moving'), shape: m.moving_shape as number[], affine: m.moving_affine as number[] }
    const mo = (m.metric_options ?? {}) as Record<string, unknown>
    const opts: RegisterSyNSyncOptions = {
      levelIters: m.level_iters as number[],
      prealign: (m.prealign as number[] | null) ?? undefined,
      ...(m.metric ? { metric: m.metric as 'SSD' | 'EM' } : {}),
      ...(mo.step_type !== undefined ? { stepType: mo.step_type as 'demons' } : {}),
      ...(mo.q_levels !== undefined ? { qLevels: mo.q_levels as number } : {}),
      ...(mo.double_gradient !== undefined ? { doubleGradient: mo.double_gradient as boolean } : {}),
    }
    const map = registerSyNSync(stat, moving, { ...opts, threads: 1 })
    t.deepEqual(map.iterations, m.iterations as number[])
    const want = m.energies as number[][]
    let erel = 0
    map.energies.forEach((e, l) => e.forEach((v, i) => (erel = Math.max(erel, Math.abs(v - want[l][i]) / Math.abs(want[l][i])))))
    t.true(erel <= 1e-9, `energies ${erel}`)
    const df = maxDiff(map.forward.data, arr(m, 'forward'))
    const db = maxDiff(map.backward.data, arr(m, 'backward'))
    t.true(df <= 1e-4 && db <= 1e-4, `fields ${df} ${db}`)
    t.deepEqual(map.forward.shape, m.arrays.forward.shape)
    const w = map.transformSync(moving)
    t.deepEqual(w.shape, m.static_shape as number[])
    t.true(maxDiff(w.data, arr(m, 'warped')) <= 1e-5)
    if (m.arrays.warped_inverse) {
      const wi = await map.transformInverse(stat)
      t.deepEqual(wi.shape, m.moving_shape as number[])
      t.true(maxDiff(wi.data, arr(m, 'warped_inverse')) <= 1e-5)
    }
    t.log(`${name}: iterations ${map.iterations}, energies ${erel}, fields ${df} / ${db} voxel`)
    // onProgress: one report per iteration, (level, iteration, energy) as DIPY's energy lists
    const seen: [number, number, SyNIteration | undefined][] = []
    const a = await registerSyN(stat, moving, { ...opts, threads: 3, onProgress: (d, n, it) => seen.push([d, n, it]) })
    t.true(same(a.forward.data, map.forward.data) && same(a.backward.data, map.backward.data), 'async at 3 threads')
    const levels = map.iterations.length
    const fromEnergies = map.energies.flatMap((e, l) => e.map((energy, iteration) => ({ level: levels - 1 - l, iteration, energy })))
    t.deepEqual(
      seen.filter((s) => s[2] !== undefined).map((s) => s[2]),
      fromEnergies,
    )
    const total = (m.level_iters as number[]).reduce((x, y) => x + y, 0)
    t.deepEqual(
      seen.map((s) => s[0]),
      [...fromEnergies.map((_, i) => i + 1), ...(fromEnergies.length < total ? [total] : [])],
    )
    t.true(seen.every((s) => s[1] === total))
  })
}

const ball = (n: number): Volume => {
  const d = new Float32Array(n * n * n)
  for (let z = 0; z < n; z++) for (let y = 0; y < n; y++) for (let x = 0; x < n; x++) d[x + n * (y + n * z)] = Math.exp(-((x - n / 2) ** 2 + (y - n / 2) ** 2 + (z - n / 2) ** 2) / 20)
  return { data: d, shape: [n, n, n] }
}

test('registerSyN: bad inputs are coded errors', async (t) => {
  const b = ball(12)
  const one = { levelIters: [1] }
  const cases: [string, string, () => unknown][] = [
    ['qLevels < 2', 'ERR_SETTING', () => registerSyNSync(b, b, { ...one, metric: 'EM', qLevels: 1 })],
    ['qLevels fractional', 'ERR_SETTING', () => registerSyNSync(b, b, { ...one, metric: 'EM', qLevels: 2.5 })],
    ['qLevels with SSD', 'ERR_SETTING', () => registerSyNSync(b, b, { ...one, metric: 'SSD', qLevels: 16 })],
    ['smooth with CC', 'ERR_SETTING', () => registerSyNSync(b, b, { ...one, smooth: 2 })],
    ['radius with EM', 'ERR_SETTING', () => registerSyNSync(b, b, { ...one, metric: 'EM', radius: 2 })],
    ['smooth negative', 'ERR_SETTING', () => registerSyNSync(b, b, { ...one, metric: 'SSD', smooth: -1 })],
    ['smooth NaN', 'ERR_SETTING', () => registerSyNSync(b, b, { ...one, metric: 'EM', smooth: NaN })],
    ['innerIter negative', 'ERR_SETTING', () => registerSyNSync(b, b, { ...one, metric: 'SSD', innerIter: -1 })],
    ['stepType unknown', 'ERR_SETTING', () => registerSyNSync(b, b, { ...one, metric: 'SSD', stepType: 'newton' as 'demons' })],
    ['doubleGradient not a boolean', 'ERR_SETTING', () => registerSyNSync(b, b, { ...one, metric: 'EM', doubleGradient: 1 as unknown as boolean })],
    ['SSD: level smaller than 2 voxels', 'ERR_SHAPE', () => registerSyNSync(b, b, { metric: 'SSD', levelIters: [1, 1, 1, 1, 1] })],
    ['metric unknown', 'ERR_SETTING', () => registerSyNSync(b, b, { ...one, metric: 'MI' as 'CC' })],
    ['unknown option', 'ERR_SETTING', () => registerSyNSync(b, b, { ...one, iters: 3 } as never)],
    ['levelIters empty', 'ERR_SETTING', () => registerSyNSync(b, b, { levelIters: [] })],
    ['levelIters fractional', 'ERR_SETTING', () => registerSyNSync(b, b, { levelIters: [1.5] })],
    ['levelIters negative', 'ERR_SETTING', () => registerSyNSync(b, b, { levelIters: [-1] })],
    ['levelIters not an array', 'ERR_SETTING', () => registerSyNSync(b, b, { levelIters: 3 as unknown as number[] })],
    ['too many levels for the image', 'ERR_SHAPE', () => registerSyNSync(b, b)],
    ['stepLength NaN', 'ERR_SETTING', () => registerSyNSync(b, b, { ...one, stepLength: NaN })],
    ['radius 0', 'ERR_SETTING', () => registerSyNSync(b, b, { ...one, radius: 0 })],
    ['invIter fractional', 'ERR_SETTING', () => registerSyNSync(b, b, { ...one, invIter: 2.5 })],
    ['prealign short', 'ERR_SETTING', () => registerSyNSync(b, b, { ...one, prealign: [1, 0, 0] })],
    ['prealign NaN', 'ERR_SETTING', () => registerSyNSync(b, b, { ...one, prealign: [NaN, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1] })],
    ['prealign singular', 'ERR_SETTING', () => registerSyNSync(b, b, { ...one, prealign: new Array(16).fill(0) })],
    ['static affine non-finite', 'ERR_SHAPE', () => registerSyNSync({ ...b, affine: [Infinity, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1] }, b, one)],
    ['dimension mismatch', 'ERR_SHAPE', () => registerSyNSync(b, { data: new Float32Array(144), shape: [12, 12] }, one)],
    ['4D image', 'ERR_SHAPE', () => registerSyNSync({ data: new Float32Array(16), shape: [2, 2, 2, 2] }, b, one)],
    ['data too short', 'ERR_SHAPE', () => registerSyNSync({ data: new Float32Array(10), shape: [12, 12, 12] }, b, one)],
    ['constant image', 'ERR_FORMAT', () => registerSyNSync({ data: new Float32Array(1728).fill(3), shape: [12, 12, 12] }, b, one)],
    ['NaN voxel', 'ERR_FORMAT', () => registerSyNSync({ data: new Float32Array(1728).fill(NaN), shape: [12, 12, 12] }, b, one)],
    ['empty image', 'ERR_SHAPE', () => registerSyNSync({ data: new Float32Array(0), shape: [0, 12, 12] }, b, one)],
    ['threads 0', 'ERR_SETTING', () => registerSyNSync(b, b, { ...one, threads: 0 })],
  ]
  for (const [what, want, f] of cases) t.is(code(f), want, what)
  t.is(await acode(() => registerSyN(b, b, { ...one, metric: 'EM', qLevels: 0 })), 'ERR_SETTING')
  t.is(await acode(() => registerSyN(b, b, { ...one, onProgress: 3 as never })), 'ERR_SETTING')
  const ac = new AbortController()
  ac.abort()
  t.is(await acode(() => registerSyN(b, b, { ...one, signal: ac.signal })), 'ERR_ABORTED')
  const map = registerSyNSync(b, b, one)
  t.is(code(() => map.transformSync({ data: new Float32Array(144), shape: [12, 12] })), 'ERR_SHAPE')
  t.is(code(() => map.transformSync(b, { interpolation: 'cubic' as 'linear' })), 'ERR_SETTING')
  const labels = { data: new Int16Array(1728).fill(7), shape: [12, 12, 12] }
  const nn = map.transformSync(labels, { interpolation: 'nearest' })
  t.true(nn.data instanceof Int16Array)
  t.true(VoxelkitError !== undefined)
})
