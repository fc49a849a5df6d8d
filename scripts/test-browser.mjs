#!/usr/bin/env node
// test-browser.mjs — the browser example (examples/browser/) in headless Chromium:
//
//   1. serves examples/browser/ with COOP/COEP (serve.mjs) and loads the page, which fits the
//      built-in DTI phantom with the WASI build in Web Workers;
//   2. checks the page was cross-origin isolated and fitted with navigator.hardwareConcurrency
//      threads (when the machine has > 1 core), and that 1 thread gives the same FA bitwise;
//   3. compares the page's FA map with the native (Node) fit of the same phantom (FA_TOL below),
//      for the built-in phantom and for the phantom written to files and chosen in the page;
//   4. checks NiiVue drew both maps (pixel statistics of the two canvases in a screenshot) and
//      writes the screenshot to artifacts/browser.png;
//   5. loads the page again without COOP/COEP and checks it says why it cannot run;
//   6. checks what the browser bundle refuses: file-system calls and inputs over 1 GiB.
//
// Needs: npm run build:ts and npm run build:browser (scripts/test-browser.sh runs both, and
// installs Debian's chromium when it is missing), Chromium at CHROMIUM_PATH or /usr/bin/chromium.
// Usage: node scripts/test-browser.mjs [--screenshot FILE]   (FILE: also write the page's
// screenshot there, e.g. examples/browser/screenshot.png for the README)
import { spawn } from 'node:child_process'
import { existsSync, mkdirSync, mkdtempSync, rmSync, writeFileSync } from 'node:fs'
import { createRequire } from 'node:module'
import { availableParallelism, tmpdir } from 'node:os'
import { dirname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'
import puppeteer from 'puppeteer-core'

const t0 = performance.now()
const root = join(dirname(fileURLToPath(import.meta.url)), '..')
const require = createRequire(import.meta.url)
const { values: args } = parseArgs({ options: { screenshot: { type: 'string' } } })

// The page's FA against the native x64 fit. The WASI build is the same Rust code, but wasi-libc's
// libm is not glibc's (both within 1 ulp, rounded differently). Seen here: the built-in phantom,
// simulated in each build, has 5 of its 198 b-vector components 1 ulp apart (sin/cos), which
// moves FA by at most 9.4e-14 (2.8e-12 relative); the same phantom read from files (identical
// inputs) gives bitwise equal FA; earlier WASI-vs-native fits differed by at most 3e-12 relative.
// FA lies in [0, 1] and tends to 0 at isotropy, where a relative bound means nothing, so the
// bound is absolute: 1e-12, 10 times the largest difference seen (a 1-ulp input difference moves
// FA by ~1e-13; a real defect, a wrong voxel, is off by > 1e-3). Voxels without a fit are 0 in
// both: exactly.
const FA_TOL = 1e-12

let failures = 0
function check(ok, what) {
  console.log(`${ok ? 'ok  ' : 'FAIL'} ${what}`)
  if (!ok) failures++
}
function log(...a) {
  console.log('test-browser:', ...a)
}
const secs = (ms) => `${(ms / 1000).toFixed(1)} s`

for (const [f, how] of [
  ['dist/index.js', 'npm run build:ts'],
  ['examples/browser/dist/voxelkit.mjs', 'npm run build:browser'],
]) {
  if (!existsSync(join(root, f))) {
    console.error(`test-browser: ${f} missing: run \`${how}\` first`)
    process.exit(1)
  }
}
const chromium = process.env.CHROMIUM_PATH || '/usr/bin/chromium'
if (!existsSync(chromium)) {
  console.error(`test-browser: no Chromium at ${chromium} (set CHROMIUM_PATH, or run scripts/test-browser.sh, which installs Debian's chromium)`)
  process.exit(1)
}

/** Starts serve.mjs on a free port; resolves to { url, stop }. */
function serve(extra = []) {
  const child = spawn(process.execPath, [join(root, 'examples/browser/serve.mjs'), '--port', '0', ...extra], { stdio: ['ignore', 'pipe', 'inherit'] })
  return new Promise((resolve, reject) => {
    let out = ''
    child.on('error', reject)
    child.on('exit', (code) => reject(new Error(`serve.mjs exited with ${code} before listening`)))
    child.stdout.on('data', (d) => {
      out += d
      const m = /serving (http:\/\/\S+)/.exec(out)
      if (m) resolve({ url: m[1], stop: () => child.kill('SIGTERM') })
    })
  })
}

/** Checks the page's FA against the native FA (FA_TOL; zeros, i.e. no fit, in the same voxels). */
function compareFa(pageFa, fa, what) {
  let maxAbs = 0
  let maxRel = 0
  let same = 0
  let zerosAgree = pageFa.length === fa.length
  for (let i = 0; i < fa.length; i++) {
    const d = Math.abs(pageFa[i] - fa[i])
    if (d === 0) same++
    if ((fa[i] === 0) !== (pageFa[i] === 0)) zerosAgree = false
    maxAbs = Math.max(maxAbs, d)
    if (fa[i] !== 0) maxRel = Math.max(maxRel, d / Math.abs(fa[i]))
  }
  check(zerosAgree, `${what}: FA is 0 (no fit) in the same voxels in the page and natively`)
  check(
    maxAbs <= FA_TOL,
    `${what}: page FA = native FA within ${FA_TOL} (max |diff| ${maxAbs.toExponential(2)}, max rel ${maxRel.toExponential(2)}; ` +
      `${same} of ${fa.length} voxels bitwise equal)`,
  )
}

const native = require(join(root, 'dist/index.js'))
const servers = []
let browser
let tmp
try {
  const tServe = performance.now()
  const isolatedServer = await serve()
  servers.push(isolatedServer)
  const launchArgs = [
    // WebGL2 for NiiVue without a GPU: ANGLE on SwiftShader
    '--use-angle=swiftshader',
    '--enable-unsafe-swiftshader',
    '--ignore-gpu-blocklist',
    '--no-first-run',
    '--no-default-browser-check',
  ]
  // Chromium's sandbox refuses to start as root
  if (process.getuid?.() === 0) launchArgs.push('--no-sandbox')
  browser = await puppeteer.launch({ executablePath: chromium, headless: true, args: launchArgs, defaultViewport: { width: 1100, height: 720 } })
  log(`${await browser.version()} started in ${secs(performance.now() - tServe)}`)

  // --- 1, 2: the page fits the phantom, cross-origin isolated, with threads ----------------------
  const page = await browser.newPage()
  const pageErrors = []
  page.on('pageerror', (e) => pageErrors.push(String(e)))
  const onConsole = (m) => {
    if (m.type() === 'error') pageErrors.push(m.text())
  }
  page.on('console', onConsole)
  page.on('workercreated', (w) => w.on('console', onConsole))
  const tLoad = performance.now()
  await page.goto(isolatedServer.url, { waitUntil: 'load' })
  await page.waitForFunction(() => ['done', 'error'].includes(window.__voxelkit?.status), { timeout: 90_000, polling: 100 })
  const loadMs = performance.now() - tLoad
  let s = await page.evaluate(() => {
    const { fa, ...rest } = window.__voxelkit
    return rest
  })
  if (s.status !== 'done') throw new Error(`the page failed: ${s.error}`)
  log(`page loaded and fitted the phantom in ${secs(loadMs)}: fit ${s.ms.toFixed(0)} ms with ${s.threads} threads (first fit: starts the pool)`)
  check(s.crossOriginIsolated === true, 'the page is cross-origin isolated (COOP/COEP)')
  if (s.hardwareConcurrency > 1) {
    // rayon builds the pool (one wasi thread, i.e. one Web Worker, per thread) before the first
    // tile runs, and the fit fails if a thread cannot start
    check(s.threads === s.hardwareConcurrency, `the fit ran on navigator.hardwareConcurrency = ${s.hardwareConcurrency} threads (asked for ${s.threads})`)
  } else {
    log('navigator.hardwareConcurrency is 1: the multi-thread check does not apply')
  }

  // a fit with 1 thread, then again with all (the pool exists, the module is warm)
  const refit = async (threads, n) => {
    await page.$eval('#threads', (el, t) => (el.value = String(t)), threads)
    await page.click('#phantom')
    await page.waitForFunction(
      (n) => (window.__voxelkit.runs.length === n && window.__voxelkit.status !== 'running') || window.__voxelkit.status === 'error',
      { timeout: 60_000, polling: 50 },
      n,
    )
    const r = await page.evaluate(() => {
      const { fa, ...rest } = window.__voxelkit
      return rest
    })
    if (r.status !== 'done') throw new Error(`fit ${n} failed: ${r.error}`)
    return r
  }
  const faOf = (r) => new Float64Array(new Uint8Array(Buffer.from(r.faBase64, 'base64')).buffer)
  const first = s
  const single = await refit(1, 2)
  s = await refit(first.threads, 3)
  const pageMs = { first: first.ms, warm: s.ms, oneThread: single.ms }
  const pageFa = faOf(s)
  // voxelkit's tiles do not depend on the thread count: bitwise equal results
  check(Buffer.compare(Buffer.from(faOf(first).buffer), Buffer.from(pageFa.buffer)) === 0, `the page's first and last fits (${s.threads} threads) give bitwise equal FA`)
  check(Buffer.compare(Buffer.from(faOf(single).buffer), Buffer.from(pageFa.buffer)) === 0, `FA with 1 thread is bitwise equal to FA with ${s.threads}`)

  // --- 3: the page's FA equals the native fit's ----------------------------------------------
  const p = native.simulateDtiPhantom()
  const gtab = native.gradientTable(p.bvals, p.bvecs)
  const nThreads = availableParallelism()
  const nativeMs = []
  let fit
  for (let i = 0; i < 2; i++) {
    const t = performance.now()
    fit = await native.fitDti(p.dwi, gtab, { mask: p.mask, threads: nThreads })
    nativeMs.push(performance.now() - t)
  }
  const fa = fit.fa().data
  check(pageFa.length === fa.length && String(s.shape) === String(p.mask.shape), `FA shape ${s.shape} (${pageFa.length} voxels) is the phantom's`)
  compareFa(pageFa, fa, 'phantom with its mask')

  // --- 4: NiiVue drew both maps --------------------------------------------------------------
  mkdirSync(join(root, 'artifacts'), { recursive: true })
  const shotPath = join(root, 'artifacts', 'browser.png')
  const png = await page.screenshot({ path: shotPath, fullPage: true })
  if (args.screenshot) writeFileSync(join(process.cwd(), args.screenshot), png)
  // pixel statistics of each canvas as the screenshot shows it, decoded by the page itself
  const stats = {}
  for (const id of ['faView', 'cfaView']) {
    const b64 = Buffer.from(await (await page.$(`#${id}`)).screenshot({ type: 'png' })).toString('base64')
    stats[id] = await page.evaluate(async (b64) => {
      const img = new Image()
      img.src = `data:image/png;base64,${b64}`
      await img.decode()
      const c = new OffscreenCanvas(img.width, img.height)
      const g = c.getContext('2d')
      g.drawImage(img, 0, 0)
      const d = g.getImageData(0, 0, img.width, img.height).data
      let lit = 0
      let grey = 0
      let red = 0
      let green = 0
      let blue = 0
      const n = d.length / 4
      for (let i = 0; i < d.length; i += 4) {
        const [r, gg, b] = [d[i], d[i + 1], d[i + 2]]
        if (Math.max(r, gg, b) < 40) continue
        lit++
        if (Math.max(r, gg, b) - Math.min(r, gg, b) < 12) grey++
        else if (r > 2 * gg && r > 2 * b) red++
        else if (gg > 2 * r && gg > 2 * b) green++
        else if (b > 2 * r && b > 2 * gg) blue++
      }
      return { n, lit: lit / n, grey: grey / n, red: red / n, green: green / n, blue: blue / n }
    }, b64)
  }
  const pct = (x) => `${(100 * x).toFixed(1)}%`
  const fv = stats.faView
  const cv = stats.cfaView
  log(`screenshot ${shotPath}: FA canvas lit ${pct(fv.lit)} (grey ${pct(fv.grey)}); colour FA canvas lit ${pct(cv.lit)} (red ${pct(cv.red)}, green ${pct(cv.green)}, blue ${pct(cv.blue)})`)
  // The phantom's mid slice covers about a third of an axial view (its bright white-matter ring
  // alone about 13%); the ring's fibres are tangential, so colour FA shows red (x) and green (y)
  // arcs. A view NiiVue did not draw is black.
  check(fv.lit > 0.05 && fv.grey > 0.9 * fv.lit, 'the FA view shows a grey-scale map (> 5% of the canvas lit, > 90% of that grey)')
  check(cv.lit > 0.05 && cv.red > 0.005 && cv.green > 0.005, 'the colour FA view shows red and green fibre directions (> 0.5% of the canvas each)')

  // --- 4b: the page fits files the user chose (parseVolume, FSL bval/bvec text) ---------------
  tmp = mkdtempSync(join(tmpdir(), 'voxelkit-browser-'))
  const bvecRows = [0, 1, 2].map((c) => Array.from({ length: p.bvals.length }, (_, i) => p.bvecs[3 * i + c]).join(' '))
  writeFileSync(join(tmp, 'dwi.bval'), `${Array.from(p.bvals).join(' ')}\n`)
  writeFileSync(join(tmp, 'dwi.bvec'), `${bvecRows.join('\n')}\n`)
  await native.writeVolume(join(tmp, 'dwi.nii.gz'), p.dwi)
  for (const [id, f] of [['dwi', 'dwi.nii.gz'], ['bval', 'dwi.bval'], ['bvec', 'dwi.bvec']]) await (await page.$(`#${id}`)).uploadFile(join(tmp, f))
  await page.click('#fitFiles')
  await page.waitForFunction(() => window.__voxelkit.runs.length === 4 || window.__voxelkit.status === 'error', { timeout: 60_000, polling: 50 })
  const up = await page.evaluate(() => {
    const { fa, ...rest } = window.__voxelkit
    return rest
  })
  if (up.status !== 'done') throw new Error(`the fit of uploaded files failed: ${up.error}`)
  check(up.source === 'files' && String(up.shape) === String(p.mask.shape), `the page fitted the uploaded dwi.nii.gz, dwi.bval, dwi.bvec (${up.shape})`)
  // no mask for uploads: every voxel is fitted, background included
  compareFa(faOf(up), (await native.fitDti(p.dwi, gtab)).fa().data, 'uploaded phantom files, no mask')
  check(pageErrors.length === 0, `no errors in the page console${pageErrors.length ? `: ${pageErrors.join(' | ')}` : ''}`)
  await page.close()

  // --- 5: without COOP/COEP the page says why it cannot run ------------------------------------
  const plainServer = await serve(['--no-isolation'])
  servers.push(plainServer)
  const plain = await browser.newPage()
  await plain.goto(plainServer.url, { waitUntil: 'load' })
  await plain.waitForFunction(() => ['done', 'error'].includes(window.__voxelkit?.status), { timeout: 60_000, polling: 100 })
  const u = await plain.evaluate(() => ({
    status: window.__voxelkit.status,
    error: window.__voxelkit.error,
    isolated: window.__voxelkit.crossOriginIsolated,
    note: document.getElementById('isolation').hidden ? '' : document.getElementById('isolation').textContent,
  }))
  log(`without COOP/COEP: status ${u.status}${u.error ? `, error: ${u.error.split('\n')[0]}` : ''}`)
  check(u.isolated === false && /not cross-origin isolated/.test(u.note), 'without COOP/COEP the page is not isolated and says so')
  await plain.close()

  // --- 6: what the browser bundle refuses, with ERR_UNSUPPORTED -------------------------------
  // (each throws in the façade before the binding is called, so the page's main thread may run them)
  const limits = await browser.newPage()
  await limits.goto(new URL('/no-such-page', isolatedServer.url).href)
  const refused = await limits.evaluate(async () => {
    const vk = await import('/dist/voxelkit.mjs')
    const codeOf = async (f) => {
      try {
        await f()
        return 'no error'
      } catch (e) {
        return e instanceof vk.VoxelkitError ? e.code : `not a VoxelkitError: ${e}`
      }
    }
    const over = 2 ** 30 + 2 // bytes: one int16 over 1 GiB
    const nvox = Math.ceil(2 ** 30 / (2 * 66)) // 66 int16 volumes: 28 bytes over 1 GiB
    const p = vk.simulateDtiPhantom({ shape: [4, 4, 1] })
    const gtab = vk.gradientTable(p.bvals, p.bvecs)
    return {
      readVolume: await codeOf(() => vk.readVolume('dwi.nii.gz')),
      writeVolumeSync: await codeOf(() => vk.writeVolumeSync('fa.nii', p.mask)),
      readBvalsBvecs: await codeOf(() => vk.readBvalsBvecs('dwi.bval', 'dwi.bvec')),
      readParams: await codeOf(() => vk.readParams('params.yaml')),
      'parseVolume(1 GiB + 2 bytes)': await codeOf(() => vk.parseVolume(new Uint8Array(over), 'big.nii')),
      'fitDti(1 GiB + 28 bytes of int16)': await codeOf(() => vk.fitDti({ data: new Int16Array(66 * nvox), shape: [nvox, 1, 1, 66] }, gtab)),
    }
  })
  for (const [call, code] of Object.entries(refused)) check(code === 'ERR_UNSUPPORTED', `in the browser bundle ${call} is ERR_UNSUPPORTED (${code})`)
  await limits.close()

  const ms = (x) => `${x.toFixed(0)} ms`
  log(
    `fit of the 64 x 64 x 12 x 66 phantom: page ${ms(pageMs.first)} first (starts the pool), ${ms(pageMs.warm)} warm ` +
      `(${s.threads} threads), ${ms(pageMs.oneThread)} with 1 thread; native ${nativeMs.map(ms).join(', ')} (${nThreads} threads)`,
  )
} catch (e) {
  console.error(e)
  failures++
} finally {
  await browser?.close()
  for (const sv of servers) sv.stop()
  if (tmp) rmSync(tmp, { recursive: true, force: true })
}
log(`${failures === 0 ? 'passed' : `${failures} failure(s)`} in ${secs(performance.now() - t0)}`)
process.exit(failures === 0 ? 0 : 1)
