#!/usr/bin/env node
// A static server for the browser example: serves examples/browser/ (the page and dist/, which
// `npm run build:browser` writes) on 127.0.0.1 with the two headers that make the page
// cross-origin isolated, which the threaded WASI build needs (SharedArrayBuffer, shared
// WebAssembly.Memory handed to Web Workers):
//   Cross-Origin-Opener-Policy: same-origin
//   Cross-Origin-Embedder-Policy: require-corp
//
// Usage: node examples/browser/serve.mjs [--port N] [--no-isolation]
//   --port 0 picks a free port; the first line printed is `serving http://127.0.0.1:PORT/`.
//   --no-isolation leaves the two headers out (to see what the page does without them).
import { createServer } from 'node:http'
import { createReadStream, existsSync, statSync } from 'node:fs'
import { extname, join, normalize, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { parseArgs } from 'node:util'

const { values } = parseArgs({ options: { port: { type: 'string', default: '8080' }, 'no-isolation': { type: 'boolean', default: false } } })
const root = fileURLToPath(new URL('.', import.meta.url))
const TYPES = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.mjs': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.map': 'application/json',
  '.wasm': 'application/wasm',
  '.png': 'image/png',
  '.txt': 'text/plain; charset=utf-8',
}

const server = createServer((req, res) => {
  const headers = { 'Cache-Control': 'no-cache', 'X-Content-Type-Options': 'nosniff' }
  if (!values['no-isolation']) {
    headers['Cross-Origin-Opener-Policy'] = 'same-origin'
    headers['Cross-Origin-Embedder-Policy'] = 'require-corp'
  }
  const fail = (status) => {
    res.writeHead(status, { ...headers, 'Content-Type': 'text/plain; charset=utf-8' })
    res.end(`${status}\n`)
  }
  if (req.method !== 'GET' && req.method !== 'HEAD') return fail(405)
  let path
  try {
    path = decodeURIComponent(new URL(req.url ?? '/', 'http://localhost').pathname)
  } catch {
    return fail(400)
  }
  if (path.endsWith('/')) path += 'index.html'
  const file = normalize(join(root, path))
  if (!file.startsWith(root.endsWith(sep) ? root : root + sep)) return fail(403)
  const type = TYPES[extname(file)]
  let size
  try {
    const st = statSync(file)
    if (!st.isFile()) return fail(404)
    size = st.size
  } catch {
    return fail(404)
  }
  if (!type) return fail(415)
  res.writeHead(200, { ...headers, 'Content-Type': type, 'Content-Length': size })
  if (req.method === 'HEAD') return res.end()
  createReadStream(file).on('error', () => res.destroy()).pipe(res)
})

server.listen(Number(values.port), '127.0.0.1', () => {
  const { port } = server.address()
  console.log(`serving http://127.0.0.1:${port}/${values['no-isolation'] ? ' (without COOP/COEP: not cross-origin isolated)' : ''}`)
  if (!existsSync(join(root, 'dist', 'voxelkit.mjs'))) console.error('serve: dist/voxelkit.mjs missing: run `npm run build:browser` first')
})
for (const sig of ['SIGINT', 'SIGTERM']) process.on(sig, () => process.exit(0))
