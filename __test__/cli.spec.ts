// The voxelkit command: the main job end to end, and its error paths.
import test, { type ExecutionContext } from 'ava'
import { WASI } from './helpers/wasi'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { readVolumeSync, simulateDkiPhantom, type Volume } from '../ts/index'
import { cli, fitArgs, scratchDir, writeDwiFiles } from './helpers/cli'
import { phantom } from './helpers/data'
import { ROOT } from './helpers/fixtures'

const dir = scratchDir('cli')

/** The maps `<name>.nii.gz` in `out`, each checked to be float32. */
function float32Maps(t: ExecutionContext, out: string, names: string[]): [string, Volume][] {
  return names.map((name) => {
    const v = readVolumeSync(join(out, `${name}.nii.gz`))
    t.true(v.data instanceof Float32Array, name)
    return [name, v]
  })
}

test('voxelkit dti writes the maps and a PNG preview', async (t) => {
  const p = phantom([20, 18, 3])
  const out = join(dir, 'out')
  const r = await cli('dti', ...fitArgs(writeDwiFiles(dir, p), out))
  t.is(r.code, 0, r.stderr)
  for (const [f, v] of float32Maps(t, out, ['fa', 'md', 'ad', 'rd', 'evals', 'evecs', 'color_fa'])) {
    t.deepEqual(v.shape.slice(0, 3), [20, 18, 3], f)
    t.deepEqual(v.affine, p.dwi.affine, f)
  }
  t.deepEqual(readVolumeSync(join(out, 'evecs.nii.gz')).shape, [20, 18, 3, 3, 3])
  const png = readFileSync(join(out, 'preview.png'))
  t.deepEqual([...png.subarray(0, 8)], [0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a])
  t.regex(r.stdout, /fitted \d+ of 1080 voxels/)
})

test('voxelkit demo runs the main job on generated data', async (t) => {
  const out = join(dir, 'demo')
  const r = await cli('demo', '--out', out, '--threads', '2')
  t.is(r.code, 0, r.stderr)
  t.regex(r.stdout, /white matter: FA 0\.[78]\d\d \(true 0\.799\)/)
  t.true(existsSync(join(out, 'dti', 'preview.png')))
  t.true(existsSync(join(out, 'dwi.nii.gz')))
})

test('voxelkit reports usage and coded errors with exit codes', async (t) => {
  t.is((await cli('--help')).code, 0)
  t.regex((await cli('--version')).stdout, /^\d+\.\d+\.\d+/)
  const u = await cli('dti')
  t.is(u.code, 2)
  t.regex(u.stderr, /needs exactly one input/)
  t.is((await cli('frobnicate')).code, 2)
  const m = await cli('dti', join(dir, 'nope.nii'), '--bval', 'a', '--bvec', 'b', '--out', join(dir, 'x'))
  t.is(m.code, 1)
  t.regex(m.stderr, /\[ERR_IO\]/)
  const th = await cli('demo', '--out', join(dir, 'd2'), '--threads', '0')
  t.is(th.code, 1)
  t.regex(th.stderr, /\[ERR_SETTING\] threads/)
})

// The README's command lines are a copy of the usage text; keep them from drifting: every option
// a README line uses exists for that command, and enumerated values (`--method WLS|OLS`) match.
test('README command lines agree with voxelkit --help', async (t) => {
  const help = (await cli('--help')).stdout
  const options = (lines: string[]) => {
    const byCmd = new Map<string, Map<string, string | undefined>>()
    for (const line of lines) {
      const cmd = /^\s*voxelkit ([a-z-]+)/.exec(line)?.[1]
      if (!cmd) continue
      const opts = byCmd.get(cmd) ?? new Map<string, string | undefined>()
      for (const m of line.matchAll(/--([a-z-]+)(?: (\S+))?/g)) {
        const v = m[2]?.replace(/[\]]+$/, '')
        opts.set(m[1], v && /^[A-Za-z]+(\|[A-Za-z]+)+$/.test(v) ? v : undefined)
      }
      byCmd.set(cmd, opts)
    }
    return byCmd
  }
  const fromHelp = options(help.split('\n'))
  const readme = readFileSync(join(ROOT, 'README.md'), 'utf8').split('\n').filter((l) => l.startsWith('voxelkit '))
  const fromReadme = options(readme)
  t.true(fromReadme.size >= 3, 'README has command lines')
  for (const [cmd, opts] of fromReadme) {
    const h = fromHelp.get(cmd)
    if (!h) {
      t.fail(`README shows \`voxelkit ${cmd}\`, which --help does not list`)
      continue
    }
    for (const [flag, choices] of opts) {
      t.true(h.has(flag), `README: voxelkit ${cmd} --${flag} is not in --help`)
      if (h.get(flag) !== undefined || choices !== undefined) t.is(choices, h.get(flag), `voxelkit ${cmd} --${flag} values`)
    }
  }
})

test('voxelkit dki writes the DTI and kurtosis maps and a PNG preview', async (t) => {
  const p = simulateDkiPhantom({ shape: [12, 10, 2], snr: 40, seed: 3 })
  const d = join(dir, 'dki')
  const f = writeDwiFiles(d, p)
  const out = join(d, 'out')
  const r = await cli('dki', ...fitArgs(f, out))
  t.is(r.code, 0, r.stderr)
  for (const [name, v] of float32Maps(t, out, ['fa', 'md', 'mk', 'ak', 'rk', 'kfa', 'mkt'])) t.deepEqual(v.shape, [12, 10, 2], name)
  t.deepEqual(readVolumeSync(join(out, 'kt.nii.gz')).shape, [12, 10, 2, 15])
  // white matter of the phantom (stick + hindered compartments) has clearly positive kurtosis
  const mk = readVolumeSync(join(out, 'mk.nii.gz')).data
  const fa = readVolumeSync(join(out, 'fa.nii.gz')).data
  let n = 0
  for (let i = 0; i < mk.length; i++) if (fa[i] > 0.4) (t.true(mk[i] > 0.3 && mk[i] < 3, `mk ${mk[i]}`), n++)
  t.true(n > 0)
  t.true(existsSync(join(out, 'preview.png')))
  const bad = await cli('dki', join(dir, 'dwi.nii.gz'), '--bval', join(dir, 'dwi.bval'), '--bvec', join(dir, 'dwi.bvec'), '--out', join(d, 'x'))
  t.is(bad.code, 1)
  t.regex(bad.stderr, /ERR_GRADIENTS.*3 distinct b-values/)
  // the constrained fit reports how many voxels the constraint moved
  const cwls = await cli('dki', ...fitArgs(f, join(d, 'cwls')), '--method', 'CWLS')
  if (WASI) {
    // the WebAssembly build refuses CLS/CWLS (helpers/wasi.ts)
    t.is(cwls.code, 1)
    t.regex(cwls.stderr, /ERR_UNSUPPORTED/)
    return
  }
  t.is(cwls.code, 0, cwls.stderr)
  t.regex(cwls.stdout, /fitted \d+ of 240 voxels \(CWLS(; \d+ moved by the constraint)?\)/)
  t.true(existsSync(join(d, 'cwls', 'mk.nii.gz')))
})
