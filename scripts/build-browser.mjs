#!/usr/bin/env node
// build-browser.mjs — bundles voxelkit for browsers into examples/browser/dist/ (git-ignored):
//
//   voxelkit.mjs               the façade (ts/index.ts) on the WASI binding: an ES module with a
//                              top-level await (it fetches and instantiates the .wasm on import)
//   wasi-worker-browser.mjs    the thread worker the loader starts (one Web Worker per thread)
//   voxelkit.wasm32-wasi.wasm  the kernels, copied; the loader finds both files next to itself
//                              with `new URL('./…', import.meta.url)`
//   niivue.mjs                 @niivue/niivue, for the example page
//   chunk-*.mjs                what these entries share (@napi-rs/wasm-runtime, @emnapi/*)
//
// What the bundle changes, and only here (the Node build is untouched):
//   ../native/index.js  -> npm/wasm32-wasi/voxelkit.wasi-browser.js (the generated browser loader)
//   ./host              -> a host without a file system: readVolume, writeVolume,
//                          readBvalsBvecs and readParams throw ERR_UNSUPPORTED
//   node:* modules      -> stubs that throw ERR_UNSUPPORTED (a safety net: with ./host replaced
//                          nothing reaches them); a node: module not listed in NODE_STUBS fails
//                          the build, so a new import is seen here rather than in a browser
//   js-yaml             -> a stub: only readParams uses it, after reading a file
//   ../package.json     -> { version } only
//
// Needs the WASI build (npm run build:wasi) and `npm ci`. Usage: node scripts/build-browser.mjs
import { build } from 'esbuild'
import { copyFileSync, existsSync, mkdirSync, readFileSync, rmSync, statSync } from 'node:fs'
import { dirname, join, relative } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'

const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const wasiDir = join(root, 'npm', 'wasm32-wasi')
const outDir = join(root, 'examples', 'browser', 'dist')
const WASM = 'voxelkit.wasm32-wasi.wasm'
const LOADER = 'voxelkit.wasi-browser.js'
const WORKER = 'wasi-worker-browser.mjs'

for (const f of [WASM, LOADER, WORKER]) {
  if (!existsSync(join(wasiDir, f))) {
    console.error(`build-browser: ${relative(root, join(wasiDir, f))} missing: run \`npm run build:wasi\` first`)
    process.exit(1)
  }
}

// The names the façade imports from each node: module (`grep -n "from 'node:" ts/*.ts`; the CLI
// files are not reachable from ts/index.ts).
const NODE_STUBS = { 'node:fs': ['readFileSync'] }
// The names ts/radiomics.ts imports from js-yaml (readParams alone uses them, after reading a
// file; the schema is built on the first parse, so nothing runs at import).
const YAML_NAMES = ['FAILSAFE_SCHEMA', 'Type', 'load']
const NO_FS = 'no file system in the browser: use parseVolume/serializeVolume'
const tsDir = join(root, 'ts')
const version = JSON.parse(readFileSync(join(root, 'package.json'), 'utf8')).version

/** @type {import('esbuild').Plugin} */
const browserHost = {
  name: 'voxelkit-browser-host',
  setup(b) {
    b.onResolve({ filter: /^\.\.\/native\/index\.js$/ }, (a) =>
      a.importer === join(tsDir, 'native.ts') ? { path: join(wasiDir, LOADER) } : undefined,
    )
    b.onResolve({ filter: /^\.\/host$/ }, (a) => (dirname(a.importer) === tsDir ? { path: 'host', namespace: 'stub' } : undefined))
    b.onResolve({ filter: /^\.\.\/package\.json$/ }, (a) =>
      dirname(a.importer) === tsDir ? { path: 'package.json', namespace: 'stub' } : undefined,
    )
    b.onResolve({ filter: /^js-yaml$/ }, (a) => (dirname(a.importer) === tsDir ? { path: 'js-yaml', namespace: 'stub' } : undefined))
    b.onResolve({ filter: /^node:/ }, (a) => {
      if (!(a.path in NODE_STUBS)) {
        return { errors: [{ text: `${a.path} (imported by ${relative(root, a.importer)}) has no browser stub: add it to NODE_STUBS` }] }
      }
      return { path: a.path, namespace: 'stub' }
    })
    b.onLoad({ filter: /.*/, namespace: 'stub' }, (a) => {
      const unsupported = "import { VoxelkitError } from './errors'\n"
      if (a.path === 'package.json') return { contents: JSON.stringify({ version }), loader: 'json' }
      if (a.path === 'host') {
        return {
          contents:
            unsupported +
            'export function needFileSystem(fn) {\n' +
            `  throw new VoxelkitError('ERR_UNSUPPORTED', fn + ': ${NO_FS}')\n` +
            '}\n',
          resolveDir: tsDir,
          loader: 'js',
        }
      }
      if (a.path === 'js-yaml') {
        const fns = YAML_NAMES.map((n) => `export function ${n}() { throw new VoxelkitError('ERR_UNSUPPORTED', 'js-yaml ${n}: ${NO_FS}') }\n`)
        return {
          contents: unsupported + fns.join(''),
          resolveDir: tsDir,
          loader: 'js',
        }
      }
      const fns = NODE_STUBS[a.path].map(
        (n) => `export function ${n}() { throw new VoxelkitError('ERR_UNSUPPORTED', '${a.path} ${n}: ${NO_FS}') }\n`,
      )
      return { contents: unsupported + fns.join(''), resolveDir: tsDir, loader: 'js' }
    })
  },
}

const t0 = performance.now()
rmSync(outDir, { recursive: true, force: true })
mkdirSync(outDir, { recursive: true })
const result = await build({
  absWorkingDir: root,
  entryPoints: {
    voxelkit: join(tsDir, 'index.ts'),
    'wasi-worker-browser': join(wasiDir, WORKER),
    niivue: '@niivue/niivue',
  },
  outdir: outDir,
  outExtension: { '.js': '.mjs' },
  bundle: true,
  splitting: true,
  format: 'esm',
  platform: 'browser',
  target: 'es2022',
  minify: true,
  sourcemap: 'linked',
  legalComments: 'linked',
  metafile: true,
  logLevel: 'warning',
  plugins: [browserHost],
})
copyFileSync(join(wasiDir, WASM), join(outDir, WASM))

// The bundle must have kept the loader's top-level await and both relative URLs.
const main = readFileSync(join(outDir, 'voxelkit.mjs'), 'utf8')
for (const needle of [`"./${WASM}"`, `"./${WORKER}"`, 'import.meta.url']) {
  if (!main.includes(needle)) {
    console.error(`build-browser: voxelkit.mjs lost ${needle}: the loader's URLs no longer resolve`)
    process.exit(1)
  }
}

const rows = Object.keys(result.metafile.outputs)
  .filter((f) => !f.endsWith('.map'))
  .concat(relative(root, join(outDir, WASM)))
  .map((f) => {
    const bytes = readFileSync(join(root, f))
    return { file: relative(outDir, join(root, f)), bytes: statSync(join(root, f)).size, gzip: gzipSync(bytes).length }
  })
const kib = (n) => `${(n / 1024).toFixed(0)} KiB`.padStart(10)
console.log(`build-browser: ${relative(root, outDir)}/ in ${((performance.now() - t0) / 1000).toFixed(1)} s`)
console.log(`  ${'file'.padEnd(34)}${'size'.padStart(10)}${'gzip'.padStart(10)}`)
for (const r of rows) console.log(`  ${r.file.padEnd(34)}${kib(r.bytes)}${kib(r.gzip)}`)
const total = rows.reduce((s, r) => [s[0] + r.bytes, s[1] + r.gzip], [0, 0])
console.log(`  ${'total'.padEnd(34)}${kib(total[0])}${kib(total[1])}`)
