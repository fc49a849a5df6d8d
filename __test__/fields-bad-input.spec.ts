// Bad arguments to the field operations: every case ends in a VoxelkitError with a stable code,
// quickly, sync and async alike, and the module keeps working afterwards.
import test from 'ava'
import { VoxelkitError, composeFields, composeFieldsSync, invertField, invertFieldSync, warpVolume, warpVolumeSync, type DisplacementField, type ErrorCode, type Volume } from '../ts/index'

const I4 = [1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1]

function field(nx = 6, ny = 5, nz = 4, type: 'f32' | 'f64' = 'f64'): DisplacementField {
  const n = nx * ny * nz
  const data = type === 'f32' ? new Float32Array(3 * n) : new Float64Array(3 * n)
  for (let i = 0; i < 3 * n; i++) data[i] = 0.3 * Math.sin(0.37 * i)
  return { data, shape: [nx, ny, nz, 3], affine: [...I4] }
}

const image: Volume = { data: new Float64Array(6 * 5 * 4).fill(1), shape: [6, 5, 4], affine: [...I4] }

type Call = () => unknown
const cases: [string, ErrorCode, Call, Call?][] = []
function add(name: string, code: ErrorCode, sync: Call, async?: Call) {
  cases.push([name, code, sync, async])
}

// ---- invertField
const f = field()
add('invert: not a volume', 'ERR_SHAPE', () => invertFieldSync(null as unknown as DisplacementField), () => invertField(42 as unknown as DisplacementField))
add('invert: plain array data', 'ERR_DTYPE', () => invertFieldSync({ data: [1, 2, 3] as unknown as Float64Array, shape: [1, 1, 1, 3] }))
add('invert: integer field', 'ERR_DTYPE', () => invertFieldSync({ data: new Int16Array(3 * 120), shape: [6, 5, 4, 3] } as unknown as DisplacementField))
add('invert: scalar volume', 'ERR_SHAPE', () => invertFieldSync({ data: new Float64Array(120), shape: [6, 5, 4] }))
add('invert: 4 components', 'ERR_SHAPE', () => invertFieldSync({ data: new Float64Array(480), shape: [6, 5, 4, 4] }))
add('invert: 2D with 3 components', 'ERR_SHAPE', () => invertFieldSync({ data: new Float64Array(90), shape: [6, 5, 3] }))
add('invert: data/shape mismatch', 'ERR_SHAPE', () => invertFieldSync({ data: new Float64Array(100), shape: [6, 5, 4, 3] }))
add('invert: zero size', 'ERR_SHAPE', () => invertFieldSync({ data: new Float64Array(0), shape: [0, 5, 4, 3] }))
add('invert: NaN displacement', 'ERR_FORMAT', () => {
  const g = field()
  g.data[17] = NaN
  return invertFieldSync(g)
}, () => {
  const g = field()
  g.data[5] = Infinity
  return invertField(g)
})
add('invert: singular affine', 'ERR_SETTING', () => invertFieldSync({ ...f, affine: [1, 0, 0, 0, 0, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1] }))
add('invert: NaN affine', 'ERR_SHAPE', () => invertFieldSync({ ...f, affine: [NaN, ...I4.slice(1)] }))
add('invert: short affine', 'ERR_SHAPE', () => invertFieldSync({ ...f, affine: [1, 0, 0] }))
add('invert: maxIter negative', 'ERR_SETTING', () => invertFieldSync(f, { maxIter: -1 }), () => invertField(f, { maxIter: -1 }))
add('invert: maxIter fractional', 'ERR_SETTING', () => invertFieldSync(f, { maxIter: 2.5 }))
add('invert: maxIter huge', 'ERR_SETTING', () => invertFieldSync(f, { maxIter: 1e12 }))
add('invert: maxIter string', 'ERR_SETTING', () => invertFieldSync(f, { maxIter: '20' as unknown as number }))
add('invert: tolerance NaN', 'ERR_SETTING', () => invertFieldSync(f, { tolerance: NaN }))
add('invert: tolerance negative', 'ERR_SETTING', () => invertFieldSync(f, { tolerance: -1e-3 }))
add('invert: tolerance infinite', 'ERR_SETTING', () => invertFieldSync(f, { tolerance: Infinity }))
add('invert: start of another shape', 'ERR_SHAPE', () => invertFieldSync(f, { start: field(5, 5, 4) }))
add('invert: start of another type', 'ERR_DTYPE', () => invertFieldSync(f, { start: field(6, 5, 4, 'f32') }))
add('invert: start with NaN', 'ERR_FORMAT', () => {
  const s = field()
  s.data[3] = NaN
  return invertFieldSync(f, { start: s })
})
add('invert: unknown option', 'ERR_SETTING', () => invertFieldSync(f, { maxIterations: 3 } as never), () => invertField(f, { tol: 1 } as never))
add('invert: async-only option to sync', 'ERR_SETTING', () => invertFieldSync(f, { signal: new AbortController().signal } as never))
add('invert: threads 0', 'ERR_SETTING', () => invertFieldSync(f, { threads: 0 }), () => invertField(f, { threads: 0 }))
add('invert: threads fractional', 'ERR_SETTING', () => invertFieldSync(f, { threads: 1.5 }))
add('invert: options not an object', 'ERR_SETTING', () => invertFieldSync(f, 5 as never))
add('invert: signal not an AbortSignal', 'ERR_SETTING', () => invertFieldSync(f, { signal: {} } as never), () => invertField(f, { signal: {} as AbortSignal }))
add('invert: onProgress not a function', 'ERR_SETTING', () => invertFieldSync(f, { onProgress: 1 } as never), () => invertField(f, { onProgress: 1 as never }))

// ---- composeFields
add('compose: 2D with 3D', 'ERR_SHAPE', () => composeFieldsSync(f, { data: new Float64Array(60), shape: [6, 5, 2] }))
add('compose: mixed types', 'ERR_DTYPE', () => composeFieldsSync(f, field(6, 5, 4, 'f32')), () => composeFields(field(6, 5, 4, 'f32'), f))
add('compose: timeScaling NaN', 'ERR_SETTING', () => composeFieldsSync(f, f, { timeScaling: NaN }))
add('compose: timeScaling string', 'ERR_SETTING', () => composeFieldsSync(f, f, { timeScaling: '1' as unknown as number }))
add('compose: singular d2 affine', 'ERR_SETTING', () => composeFieldsSync(f, { ...field(), affine: [0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1] }))
add('compose: NaN in d2', 'ERR_FORMAT', () => {
  const g = field()
  g.data[100] = -Infinity
  return composeFieldsSync(f, g)
})
add('compose: unknown option', 'ERR_SETTING', () => composeFieldsSync(f, f, { t: 1 } as never))
// fuzz:options: every input finite, but d1 + timeScaling x d2 overflowed float32 into infinities
add('compose: timeScaling that overflows float32', 'ERR_SETTING', () => composeFieldsSync(field(6, 5, 4, 'f32'), field(6, 5, 4, 'f32'), { timeScaling: 1e300 }), () =>
  composeFields(field(6, 5, 4, 'f32'), field(6, 5, 4, 'f32'), { timeScaling: -1e300 }),
)

// ---- warpVolume
add('warp: 2D image with 3D field', 'ERR_SHAPE', () => warpVolumeSync({ data: new Float64Array(30), shape: [6, 5] }, f))
add('warp: image data/shape mismatch', 'ERR_SHAPE', () => warpVolumeSync({ data: new Float64Array(10), shape: [6, 5, 4] }, f))
add('warp: bigint image', 'ERR_DTYPE', () => warpVolumeSync({ data: new BigInt64Array(120), shape: [6, 5, 4] }, f))
add('warp: bad interpolation', 'ERR_SETTING', () => warpVolumeSync(image, f, { interpolation: 'cubic' as never }), () => warpVolume(image, f, { interpolation: 'nn' as never }))
add('warp: reference without shape', 'ERR_SHAPE', () => warpVolumeSync(image, f, { reference: {} as never }))
add('warp: reference with a zero size', 'ERR_SHAPE', () => warpVolumeSync(image, f, { reference: { shape: [4, 0, 4], affine: I4 } }))
add('warp: reference with a bad affine', 'ERR_SHAPE', () => warpVolumeSync(image, f, { reference: { shape: [4, 4, 4], affine: [1, 2] } }))
add('warp: singular image affine', 'ERR_SETTING', () => warpVolumeSync({ ...image, affine: [1, 0, 0, 0, 1, 0, 0, 0, 0, 0, 1, 0, 0, 0, 0, 1] }, f))
add('warp: NaN field', 'ERR_FORMAT', () => {
  const g = field()
  g.data[0] = NaN
  return warpVolumeSync(image, g)
})
add('warp: unknown option', 'ERR_SETTING', () => warpVolumeSync(image, f, { order: 1 } as never))

for (const [name, code, sync, asyncCall] of cases) {
  test(`bad field input: ${name}`, async (t) => {
    const t0 = performance.now()
    const e = t.throws(sync, { instanceOf: VoxelkitError })
    t.is(e?.code, code, e?.message)
    if (asyncCall) {
      const ea = await t.throwsAsync(async () => asyncCall(), { instanceOf: VoxelkitError })
      t.is(ea?.code, code, ea?.message)
    }
    // speed is not asserted (no timed assertions in tests); slow cases are logged
    const ms = performance.now() - t0
    if (ms > 1000) t.log(`slow: ${ms.toFixed(0)} ms`)
  })
}

test('abort: an aborted signal rejects with ERR_ABORTED, and the module keeps working', async (t) => {
  const big = field(64, 64, 48)
  const ac = new AbortController()
  ac.abort()
  const e = await t.throwsAsync(invertField(big, { signal: ac.signal }), { instanceOf: VoxelkitError })
  t.is(e?.code, 'ERR_ABORTED')
  const ac2 = new AbortController()
  const p = invertField(big, { signal: ac2.signal, maxIter: 1000, tolerance: 0, threads: 1 })
  // abort right after the call is queued: a timer raced the (fast) release build, which can
  // finish a converging inversion within 20 ms
  ac2.abort()
  const e2 = await t.throwsAsync(p, { instanceOf: VoxelkitError })
  t.is(e2?.code, 'ERR_ABORTED')
  const ok = invertFieldSync(field(), { maxIter: 2 })
  t.is(ok.stats.iterations, 2)
})

test('progress is reported and reaches the total', async (t) => {
  const seen: [number, number][] = []
  await invertField(field(40, 40, 30), { maxIter: 5, onProgress: (d, n) => seen.push([d, n]) })
  t.true(seen.length >= 1)
  const [d, n] = seen[seen.length - 1]
  t.is(d, n)
})

test('maxIter 0 returns the start (or zero) with NaN statistics, as DIPY returns its start', (t) => {
  const s = field()
  const r = invertFieldSync(f, { maxIter: 0, start: s })
  t.deepEqual(Array.from(r.data), Array.from(s.data))
  t.is(r.stats.iterations, 0)
  t.true(Number.isNaN(r.stats.error))
})

test('concurrent calls give the sequential results, and aborting one leaves the others intact', async (t) => {
  const fields = Array.from({ length: 6 }, (_, k) => {
    const g = field(20, 18, 16)
    for (let i = 0; i < g.data.length; i++) g.data[i] = 0.8 * Math.sin(0.011 * (k + 1) * i)
    return g
  })
  const seq = fields.map((g) => invertFieldSync(g, { threads: 1 }))
  const ac = new AbortController()
  const big = invertField(field(64, 64, 48), { signal: ac.signal, maxIter: 1000, tolerance: 0 })
  const par = Promise.all(fields.map((g, k) => invertField(g, { threads: 1 + (k % 3) })))
  ac.abort() // while the call is queued or running (a timer could lose the race)
  const e = await t.throwsAsync(big, { instanceOf: VoxelkitError })
  t.is(e?.code, 'ERR_ABORTED')
  const res = await par
  for (const [k, r] of res.entries()) {
    t.deepEqual(Array.from(r.data), Array.from(seq[k].data), `field ${k}`)
    t.deepEqual(r.stats, seq[k].stats)
  }
  const comp = await Promise.all(fields.map((g) => composeFields(g, fields[0])))
  for (const [k, c] of comp.entries()) t.deepEqual(Array.from(c.data), Array.from(composeFieldsSync(fields[k], fields[0]).data))
})
