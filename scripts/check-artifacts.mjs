#!/usr/bin/env node
// check-artifacts.mjs — static checks of the prebuilt bindings npm/<platform>/voxelkit.<platform>.node.
//
// No dependencies and no external tools: the ELF, Mach-O and PE headers are parsed here. For each
// binding found it checks
//   - the file name matches its folder (voxelkit.<platform>.node in npm/<platform>/);
//   - object format and architecture match the platform (ELF x86_64/aarch64, Mach-O x86_64/arm64,
//     PE x64/arm64; a Mach-O universal binary must hold the platform's slice);
//   - it is a shared object that exports the Node-API entry point `napi_register_module_v1`;
//   - linux *-gnu: the highest GLIBC_x.y symbol version it requires is <= --glibc-max (2.17),
//     no GLIBC_PRIVATE, no musl loader/libc;
//   - linux *-musl: no glibc dependency (no libc.so.6 / ld-linux NEEDED, no GLIBC_ versions);
//   - darwin: the minimum macOS it declares (LC_BUILD_VERSION minos) is <= 11.0 for arm64 and
//     <= 10.15 for x64 (Node 20's own floors); the install name is shown;
//   - size <= --max-mib (15 MiB).
// The WASI package's module, npm/wasm32-wasi/voxelkit.wasm32-wasi.wasm, is checked too: it
// compiles (WebAssembly.Module validates it, threads and atomics included), imports one shared
// memory (env.memory) and wasi's thread-spawn, exports the napi-rs entry points
// (napi_register_wasm_v1, napi_register_module_v1) and wasi_thread_start, within the size budget.
// It prints a Markdown table and exits 1 if any check failed. With nothing to check it says so and
// exits 0, unless --require names platforms that must be present.
//
// Usage: node scripts/check-artifacts.mjs [--require p1,p2|all] [--max-mib 15] [--glibc-max 2.17]
//                                         [--dir npm] [--json]
//   --require  platforms whose binding must exist (missing = failure); `all` = every npm/<platform>
//   --json     print the results as JSON instead of the table
import fs from 'node:fs'
import path from 'node:path'
import process from 'node:process'
import { fileURLToPath } from 'node:url'

const args = process.argv.slice(2)
const opts = { require: [], maxMiB: 15, glibcMax: '2.17', dir: 'npm', json: false }
for (let i = 0; i < args.length; i++) {
  const a = args[i]
  const [flag, inline] = a.startsWith('--') && a.includes('=') ? [a.slice(0, a.indexOf('=')), a.slice(a.indexOf('=') + 1)] : [a, undefined]
  const value = () => {
    if (inline !== undefined) return inline
    if (i + 1 >= args.length) usage(`${flag} needs a value`)
    return args[++i]
  }
  switch (flag) {
    case '--require': opts.require = value().split(',').map((s) => s.trim()).filter(Boolean); break
    case '--max-mib': opts.maxMiB = Number(value()); break
    case '--glibc-max': opts.glibcMax = value(); break
    case '--dir': opts.dir = value(); break
    case '--json': opts.json = true; break
    case '-h': case '--help': usage(); break
    default: usage(`unknown argument ${a}`)
  }
}
if (!(opts.maxMiB > 0)) usage('--max-mib must be a positive number')
if (!/^\d+\.\d+$/.test(opts.glibcMax)) usage('--glibc-max must look like 2.17')

function usage(error) {
  const lines = fs.readFileSync(fileURLToPath(import.meta.url), 'utf8').split('\n').slice(1)
  const end = lines.findIndex((l) => !l.startsWith('//'))
  const text = lines.slice(0, end).map((l) => l.replace(/^\/\/ ?/, '')).join('\n')
  if (error) { console.error(`check-artifacts: ${error}\n`); console.error(text); process.exit(2) }
  console.log(text); process.exit(0)
}

const BINARY = 'voxelkit'
const root = path.resolve(path.dirname(fileURLToPath(import.meta.url)), '..')
const dir = path.resolve(root, opts.dir)

// ---------------------------------------------------------------------------------------------
// Expectations from the platform name (the napi-rs `platformArchABI` spelling).

const ARCHES = {
  x64: { elf: 62, elfName: 'x86_64', macho: 0x01000007, machoName: 'x86_64', pe: 0x8664, peName: 'x64' },
  arm64: { elf: 183, elfName: 'aarch64', macho: 0x0100000c, machoName: 'arm64', pe: 0xaa64, peName: 'arm64' },
  ia32: { elf: 3, elfName: 'i386', macho: 0x7, machoName: 'i386', pe: 0x14c, peName: 'x86' },
}

// The oldest macOS each binding must load on: Node 20 supports macOS 10.15+ (x64) and 11+ (arm64).
const MACOS_FLOOR = { x64: '10.15', arm64: '11.0' }

function expectationOf(platform) {
  const [os, arch, abi] = platform.split('-')
  const format = { linux: 'ELF', darwin: 'Mach-O', win32: 'PE', freebsd: 'ELF', android: 'ELF' }[os]
  return { os, arch, abi, format, archInfo: ARCHES[arch] }
}

// ---------------------------------------------------------------------------------------------
// Readers (bounds-checked: a truncated or corrupt file is a failure, not a crash).

class Reader {
  constructor(buf, little = true) { this.buf = buf; this.little = little }
  check(off, n) {
    if (!Number.isInteger(off) || off < 0 || off + n > this.buf.length) throw new Error(`truncated or corrupt (read of ${n} bytes at ${off} past ${this.buf.length})`)
  }
  u8(o) { this.check(o, 1); return this.buf[o] }
  u16(o) { this.check(o, 2); return this.little ? this.buf.readUInt16LE(o) : this.buf.readUInt16BE(o) }
  u32(o) { this.check(o, 4); return this.little ? this.buf.readUInt32LE(o) : this.buf.readUInt32BE(o) }
  u64(o) {
    this.check(o, 8)
    const v = this.little ? this.buf.readBigUInt64LE(o) : this.buf.readBigUInt64BE(o)
    if (v > BigInt(Number.MAX_SAFE_INTEGER)) throw new Error(`64-bit value at ${o} too large`)
    return Number(v)
  }
  cstr(o, end = this.buf.length) {
    this.check(o, 1)
    const stop = Math.min(end, this.buf.length)
    let e = o
    while (e < stop && this.buf[e] !== 0) e++
    return this.buf.toString('latin1', o, e)
  }
}

// ---------------------------------------------------------------------------------------------
// ELF

const ELF_MACHINES = { 3: 'i386', 40: 'arm', 62: 'x86_64', 183: 'aarch64', 243: 'riscv64' }

function parseElf(buf) {
  const cls = buf[4]
  const data = buf[5]
  if (cls !== 1 && cls !== 2) throw new Error(`bad ELF class ${cls}`)
  if (data !== 1 && data !== 2) throw new Error(`bad ELF data encoding ${data}`)
  const is64 = cls === 2
  const r = new Reader(buf, data === 1)
  const word = (o) => (is64 ? r.u64(o) : r.u32(o))
  const type = r.u16(16)
  const machine = r.u16(18)
  const shoff = is64 ? r.u64(0x28) : r.u32(0x20)
  const shentsize = r.u16(is64 ? 0x3a : 0x2e)
  const shnum = r.u16(is64 ? 0x3c : 0x30)
  if (shoff === 0 || shnum === 0) throw new Error('ELF has no section headers')
  const sections = []
  for (let i = 0; i < shnum; i++) {
    const b = shoff + i * shentsize
    sections.push({
      type: r.u32(b + 4),
      offset: is64 ? r.u64(b + 0x18) : r.u32(b + 0x10),
      size: is64 ? r.u64(b + 0x20) : r.u32(b + 0x14),
      link: r.u32(is64 ? b + 0x28 : b + 0x18),
      info: r.u32(is64 ? b + 0x2c : b + 0x1c),
      entsize: is64 ? r.u64(b + 0x38) : r.u32(b + 0x24),
    })
  }
  const strAt = (secIndex, off) => {
    const s = sections[secIndex]
    if (!s) throw new Error(`bad string table index ${secIndex}`)
    if (off >= s.size) throw new Error('string offset out of range')
    return r.cstr(s.offset + off, s.offset + s.size)
  }

  // Dynamic symbols (SHT_DYNSYM = 11): the exported ones are defined (shndx != 0), GLOBAL/WEAK,
  // default or protected visibility.
  const exported = new Set()
  const dynsym = sections.find((s) => s.type === 11)
  if (dynsym) {
    const ent = dynsym.entsize || (is64 ? 24 : 16)
    for (let i = 1; i < Math.floor(dynsym.size / ent); i++) {
      const b = dynsym.offset + i * ent
      const name = r.u32(b)
      const info = is64 ? r.u8(b + 4) : r.u8(b + 12)
      const other = is64 ? r.u8(b + 5) : r.u8(b + 13)
      const shndx = is64 ? r.u16(b + 6) : r.u16(b + 14)
      const bind = info >> 4
      const vis = other & 3
      if (shndx !== 0 && (bind === 1 || bind === 2) && (vis === 0 || vis === 3)) exported.add(strAt(dynsym.link, name))
    }
  }

  // NEEDED (SHT_DYNAMIC = 6, DT_NEEDED = 1).
  const needed = []
  const dynamic = sections.find((s) => s.type === 6)
  if (dynamic) {
    const ent = dynamic.entsize || (is64 ? 16 : 8)
    for (let b = dynamic.offset; b + ent <= dynamic.offset + dynamic.size; b += ent) {
      const tag = word(b)
      if (tag === 0) break
      if (tag === 1) needed.push(strAt(dynamic.link, word(b + (is64 ? 8 : 4))))
    }
  }

  // Version requirements (SHT_GNU_verneed = 0x6ffffffe): file -> [version names].
  const versions = []
  const verneed = sections.find((s) => s.type === 0x6ffffffe)
  if (verneed) {
    let off = verneed.offset
    for (let n = 0; n < verneed.info; n++) {
      const cnt = r.u16(off + 2)
      const file = strAt(verneed.link, r.u32(off + 4))
      let aux = off + r.u32(off + 8)
      for (let j = 0; j < cnt; j++) {
        versions.push({ file, name: strAt(verneed.link, r.u32(aux + 8)) })
        const next = r.u32(aux + 12)
        if (next === 0) break
        aux += next
      }
      const next = r.u32(off + 12)
      if (next === 0) break
      off += next
    }
  }
  return {
    format: `ELF${is64 ? '64' : '32'}`,
    formatFamily: 'ELF',
    machine,
    arch: ELF_MACHINES[machine] ?? `machine ${machine}`,
    shared: type === 3,
    kind: { 1: 'relocatable', 2: 'executable', 3: 'shared object', 4: 'core' }[type] ?? `type ${type}`,
    exported,
    needed,
    versions,
  }
}

// ---------------------------------------------------------------------------------------------
// Mach-O (thin, or the platform's slice of a universal binary)

const MACHO_CPUS = { 0x7: 'i386', 0x01000007: 'x86_64', 0xc: 'arm', 0x0100000c: 'arm64' }

function uleb(r, off) {
  let result = 0
  let shift = 0
  for (;;) {
    const b = r.u8(off++)
    result += (b & 0x7f) * 2 ** shift
    shift += 7
    if ((b & 0x80) === 0) return [result, off]
    if (shift > 63) throw new Error('bad ULEB128')
  }
}

function parseMachOSlice(buf) {
  const magic = buf.readUInt32LE(0)
  if (magic !== 0xfeedfacf && magic !== 0xfeedface) throw new Error(`unsupported Mach-O magic 0x${magic.toString(16)}`)
  const is64 = magic === 0xfeedfacf
  const r = new Reader(buf, true)
  const cputype = r.u32(4)
  const filetype = r.u32(12)
  const ncmds = r.u32(16)
  let off = is64 ? 32 : 28
  const exported = new Set()
  const dylibs = []
  let minos = null
  let installName = null
  let symtab = null
  let trie = null
  for (let i = 0; i < ncmds; i++) {
    const cmd = r.u32(off)
    const size = r.u32(off + 4)
    if (size < 8) throw new Error('bad load command size')
    if (cmd === 0x2) symtab = { symoff: r.u32(off + 8), nsyms: r.u32(off + 12), stroff: r.u32(off + 16), strsize: r.u32(off + 20) }
    else if (cmd === 0x80000022 || cmd === 0x22) { const o = r.u32(off + 40); const s = r.u32(off + 44); if (s) trie = { off: o, size: s } }
    else if (cmd === 0x80000033) { const o = r.u32(off + 8); const s = r.u32(off + 12); if (s) trie = { off: o, size: s } }
    else if (cmd === 0xd) installName = r.cstr(off + r.u32(off + 8), off + size)
    else if (cmd === 0xc || cmd === 0x80000018 || cmd === 0x80000023 || cmd === 0x80000028) dylibs.push(r.cstr(off + r.u32(off + 8), off + size))
    else if (cmd === 0x32) { const v = r.u32(off + 12); minos = `${v >>> 16}.${(v >> 8) & 0xff}` }
    else if (cmd === 0x24 || cmd === 0x25) { const v = r.u32(off + 8); minos = `${v >>> 16}.${(v >> 8) & 0xff}` }
    off += size
  }
  // Export trie: the authoritative list of what dyld can bind to.
  if (trie) {
    const seen = new Set()
    const walk = (nodeOff, prefix, depth) => {
      if (depth > 256 || seen.has(nodeOff)) return
      seen.add(nodeOff)
      let [term, p] = uleb(r, trie.off + nodeOff)
      if (term > 0) exported.add(prefix)
      p += term
      const children = r.u8(p++)
      for (let c = 0; c < children; c++) {
        const label = r.cstr(p, trie.off + trie.size)
        p += label.length + 1
        const [child, np] = uleb(r, p)
        p = np
        if (child >= trie.size) throw new Error('export trie offset out of range')
        walk(child, prefix + label, depth + 1)
      }
    }
    walk(0, '', 0)
  }
  // Symbol table: external symbols defined in a section (N_EXT | N_SECT).
  if (symtab) {
    const ent = is64 ? 16 : 12
    for (let i = 0; i < symtab.nsyms; i++) {
      const b = symtab.symoff + i * ent
      const strx = r.u32(b)
      const type = r.u8(b + 4)
      if ((type & 0xe0) === 0 && (type & 0x01) && (type & 0x0e) === 0x0e && strx < symtab.strsize) {
        exported.add(r.cstr(symtab.stroff + strx, symtab.stroff + symtab.strsize))
      }
    }
  }
  return {
    format: `Mach-O ${is64 ? '64' : '32'}`,
    formatFamily: 'Mach-O',
    machine: cputype,
    arch: MACHO_CPUS[cputype] ?? `cputype 0x${cputype.toString(16)}`,
    shared: filetype === 6 || filetype === 8,
    kind: { 1: 'object', 2: 'executable', 6: 'dylib', 8: 'bundle' }[filetype] ?? `filetype ${filetype}`,
    // C symbols carry a leading underscore in Mach-O
    exported: new Set([...exported].map((s) => (s.startsWith('_') ? s.slice(1) : s))),
    needed: dylibs,
    minos,
    installName,
  }
}

function parseMachO(buf, wantCpu) {
  const be = buf.readUInt32BE(0)
  if (be === 0xcafebabe || be === 0xcafebabf) {
    const r = new Reader(buf, false)
    const n = r.u32(4)
    const wide = be === 0xcafebabf
    const slices = []
    for (let i = 0; i < n; i++) {
      const b = 8 + i * (wide ? 32 : 20)
      const cpu = r.u32(b)
      const offset = wide ? r.u64(b + 8) : r.u32(b + 8)
      const size = wide ? r.u64(b + 16) : r.u32(b + 12)
      r.check(offset, size)
      slices.push({ cpu, offset, size })
    }
    const pick = slices.find((s) => s.cpu === wantCpu) ?? slices[0]
    if (!pick) throw new Error('empty universal binary')
    const info = parseMachOSlice(buf.subarray(pick.offset, pick.offset + pick.size))
    info.format = `Mach-O universal (${slices.map((s) => MACHO_CPUS[s.cpu] ?? s.cpu).join('+')})`
    return info
  }
  return parseMachOSlice(buf)
}

// ---------------------------------------------------------------------------------------------
// PE (DLL with an export directory)

const PE_MACHINES = { 0x14c: 'x86', 0x8664: 'x64', 0xaa64: 'arm64' }

function parsePE(buf) {
  const r = new Reader(buf, true)
  const pe = r.u32(0x3c)
  if (r.u32(pe) !== 0x00004550) throw new Error('missing PE signature')
  const coff = pe + 4
  const machine = r.u16(coff)
  const nsec = r.u16(coff + 2)
  const optSize = r.u16(coff + 16)
  const characteristics = r.u16(coff + 18)
  const opt = coff + 20
  const magic = r.u16(opt)
  const dd = opt + (magic === 0x20b ? 112 : 96)
  const exportRva = r.u32(dd)
  const secTable = opt + optSize
  const sections = []
  for (let i = 0; i < nsec; i++) {
    const b = secTable + i * 40
    sections.push({ va: r.u32(b + 12), vsize: r.u32(b + 8), raw: r.u32(b + 20), rawSize: r.u32(b + 16) })
  }
  const rvaToOff = (rva) => {
    const s = sections.find((x) => rva >= x.va && rva < x.va + Math.max(x.vsize, x.rawSize))
    if (!s) throw new Error(`RVA 0x${rva.toString(16)} not in any section`)
    return rva - s.va + s.raw
  }
  const exported = new Set()
  if (exportRva) {
    const e = rvaToOff(exportRva)
    const nNames = r.u32(e + 24)
    const names = rvaToOff(r.u32(e + 32))
    for (let i = 0; i < nNames; i++) exported.add(r.cstr(rvaToOff(r.u32(names + 4 * i))))
  }
  return {
    format: magic === 0x20b ? 'PE32+' : 'PE32',
    formatFamily: 'PE',
    machine,
    arch: PE_MACHINES[machine] ?? `machine 0x${machine.toString(16)}`,
    shared: (characteristics & 0x2000) !== 0,
    kind: characteristics & 0x2000 ? 'DLL' : 'image',
    exported,
    needed: [],
  }
}

function parseBinary(buf, exp) {
  if (buf.length < 64) throw new Error(`too small (${buf.length} bytes) to be a binary`)
  if (buf[0] === 0x7f && buf.toString('latin1', 1, 4) === 'ELF') return parseElf(buf)
  const le = buf.readUInt32LE(0)
  const be = buf.readUInt32BE(0)
  if (le === 0xfeedfacf || le === 0xfeedface || be === 0xcafebabe || be === 0xcafebabf) return parseMachO(buf, exp.archInfo?.macho)
  if (buf[0] === 0x4d && buf[1] === 0x5a) return parsePE(buf)
  throw new Error(`unknown object format (magic ${buf.subarray(0, 4).toString('hex')})`)
}

// ---------------------------------------------------------------------------------------------

const cmpVersion = (a, b) => {
  const pa = a.split('.').map(Number)
  const pb = b.split('.').map(Number)
  for (let i = 0; i < Math.max(pa.length, pb.length); i++) {
    const d = (pa[i] ?? 0) - (pb[i] ?? 0)
    if (d) return d
  }
  return 0
}

// ---------------------------------------------------------------------------------------------
// WebAssembly (the WASI package)

function wasmMemoryImports(buf) {
  // the import section's memory entries with their limits flags (0x03 = shared, with a maximum)
  let o = 8
  const leb = () => {
    let v = 0
    let shift = 0
    for (;;) {
      if (o >= buf.length) throw new Error('truncated LEB128')
      const b = buf[o++]
      v += (b & 0x7f) * 2 ** shift
      if (!(b & 0x80)) return v
      shift += 7
      if (shift > 35) throw new Error('LEB128 too long')
    }
  }
  const name = () => { const n = leb(); const t = buf.toString('utf8', o, o + n); o += n; return t }
  const out = []
  while (o < buf.length) {
    const id = buf[o++]
    const size = leb()
    const end = o + size
    if (end > buf.length) throw new Error(`section ${id} runs past the end`)
    if (id === 2) {
      for (let k = leb(); k > 0; k--) {
        const mod = name()
        const field = name()
        const kind = buf[o++]
        if (kind === 0) leb()
        else if (kind === 1) { o++; const f = leb(); leb(); if (f & 1) leb() }
        else if (kind === 2) { const f = leb(); leb(); if (f & 1) leb(); out.push({ name: `${mod}.${field}`, shared: (f & 2) !== 0 }) }
        else if (kind === 3) { o += 2 }
        else throw new Error(`unknown import kind ${kind}`)
      }
      return out
    }
    o = end
  }
  return out
}

function checkWasm(platform, file) {
  const checks = []
  const add = (name, ok, detail = '') => checks.push({ name, ok, detail })
  const size = fs.statSync(file).size
  const result = { platform, file: path.relative(root, file), size, checks, format: 'wasm', arch: 'wasm32', notes: [] }
  add('name', path.basename(file) === `${BINARY}.${platform}.wasm`, path.basename(file))
  const buf = fs.readFileSync(file)
  let mod
  try {
    if (buf.length < 8 || buf.toString('latin1', 0, 4) !== '\0asm' || buf.readUInt32LE(4) !== 1) throw new Error('not a WebAssembly 1.0 module')
    mod = new WebAssembly.Module(buf)
    add('compiles', true)
  } catch (e) {
    add('compiles', false, e.message)
  }
  if (mod) {
    const imports = WebAssembly.Module.imports(mod)
    const exports = new Set(WebAssembly.Module.exports(mod).map((e) => e.name))
    let mems = []
    try { mems = wasmMemoryImports(buf) } catch (e) { add('imports', false, e.message) }
    add('shared memory', mems.length === 1 && mems[0].name === 'env.memory' && mems[0].shared, mems.map((m) => `${m.name}${m.shared ? ' shared' : ''}`).join(' ') || 'no memory import')
    add('thread-spawn', imports.some((i) => i.module === 'wasi' && i.name === 'thread-spawn'))
    for (const e of ['napi_register_wasm_v1', 'napi_register_module_v1', 'wasi_thread_start']) add(e, exports.has(e))
    const mods = [...new Set(imports.map((i) => i.module))].sort()
    result.notes.push(`imports from ${mods.join(', ')}`, `${exports.size} exports`)
  }
  add(`size<=${opts.maxMiB}MiB`, size <= opts.maxMiB * 1024 * 1024, mib(size))
  result.ok = checks.every((c) => c.ok)
  return result
}

function checkOne(platform, file) {
  if (file.endsWith('.wasm')) return checkWasm(platform, file)
  const exp = expectationOf(platform)
  const checks = [] // { name, ok, detail }
  const add = (name, ok, detail = '') => checks.push({ name, ok, detail })
  const size = fs.statSync(file).size
  const result = { platform, file: path.relative(root, file), size, checks, format: '?', arch: '?', notes: [] }

  add('name', path.basename(file) === `${BINARY}.${platform}.node`, path.basename(file))
  if (!exp.format || !exp.archInfo) add('platform', false, `unknown platform ${platform}`)

  let info
  try {
    info = parseBinary(fs.readFileSync(file), exp)
  } catch (e) {
    add('parse', false, e.message)
  }
  if (info) {
    result.format = info.format
    result.arch = info.arch
    add('format', info.formatFamily === exp.format, `${info.format} ${info.kind}, want ${exp.format}`)
    const wantArch = exp.archInfo && { ELF: exp.archInfo.elf, 'Mach-O': exp.archInfo.macho, PE: exp.archInfo.pe }[info.formatFamily]
    add('arch', wantArch !== undefined && info.machine === wantArch, info.arch)
    add('shared', info.shared, info.kind)
    add('napi_register_module_v1', info.exported.has('napi_register_module_v1'), `${info.exported.size} exported`)
    if (info.formatFamily === 'Mach-O') {
      const floor = MACOS_FLOOR[exp.arch] ?? '11.0'
      add(`macOS min<=${floor}`, info.minos !== null && cmpVersion(info.minos, floor) <= 0, info.minos ? `minos ${info.minos}` : 'no LC_BUILD_VERSION')
      result.notes.push(`min macOS ${info.minos ?? '?'}`, `install name ${info.installName ?? '(none)'}`)
      result.notes.push(`dylibs: ${info.needed.join(' ')}`)
    }
    if (info.formatFamily === 'ELF') {
      const glibc = info.versions.map((v) => v.name).filter((n) => /^GLIBC_\d+(\.\d+)+$/.test(n)).map((n) => n.slice(6))
      const maxGlibc = glibc.sort(cmpVersion).at(-1)
      const privateGlibc = info.versions.some((v) => v.name === 'GLIBC_PRIVATE')
      const needed = info.needed
      result.notes.push(`NEEDED: ${needed.join(' ') || '(none)'}`)
      if (exp.abi === 'gnu' || exp.abi === 'gnueabihf') {
        result.notes.push(`max GLIBC ${maxGlibc ?? '(none)'}`)
        add(`glibc<=${opts.glibcMax}`, maxGlibc === undefined || cmpVersion(maxGlibc, opts.glibcMax) <= 0, maxGlibc ? `GLIBC_${maxGlibc}` : 'no GLIBC versions')
        add('no GLIBC_PRIVATE', !privateGlibc)
        add('no musl', !needed.some((n) => n === 'libc.so' || n.startsWith('ld-musl')), needed.join(' '))
      } else if (exp.abi?.startsWith('musl')) {
        const glibcNeeded = needed.filter((n) => /^(libc\.so\.6|libm\.so\.6|libpthread\.so\.0|libdl\.so\.2|librt\.so\.1|ld-linux)/.test(n))
        add('no glibc', glibcNeeded.length === 0 && glibc.length === 0 && !privateGlibc,
          glibcNeeded.length || glibc.length ? `${glibcNeeded.join(' ')} ${glibc.length ? `GLIBC_${maxGlibc}` : ''}`.trim() : needed.join(' ') || 'no NEEDED')
      }
    }
  }
  add(`size<=${opts.maxMiB}MiB`, size <= opts.maxMiB * 1024 * 1024, mib(size))
  result.ok = checks.every((c) => c.ok)
  return result
}

const mib = (n) => `${(n / 1024 / 1024).toFixed(2)} MiB`

// ---------------------------------------------------------------------------------------------

const platformDirs = fs.existsSync(dir)
  ? fs.readdirSync(dir, { withFileTypes: true }).filter((d) => d.isDirectory()).map((d) => d.name).sort()
  : []
const found = []
for (const p of platformDirs) {
  for (const f of fs.readdirSync(path.join(dir, p)).sort()) {
    if (f.startsWith(`${BINARY}.`) && (f.endsWith('.node') || (f.endsWith('.wasm') && !f.endsWith('.debug.wasm')))) found.push({ platform: p, file: path.join(dir, p, f) })
  }
}
const required = opts.require.includes('all') ? platformDirs : opts.require
const missing = required.filter((p) => !found.some((f) => f.platform === p))

const results = found.map(({ platform, file }) => checkOne(platform, file))
const failed = results.filter((r) => !r.ok)

if (opts.json) {
  console.log(JSON.stringify({
    results: results.map((r) => ({ ...r, checks: r.checks })),
    missing,
    ok: failed.length === 0 && missing.length === 0,
  }, null, 2))
} else if (results.length === 0) {
  console.log(`check-artifacts: nothing to check (no ${path.relative(root, dir) || '.'}/*/${BINARY}.*.node)`)
} else {
  console.log('| platform | format | arch | size | checks | details |')
  console.log('| --- | --- | --- | --- | --- | --- |')
  for (const r of results) {
    const checks = r.checks.map((c) => `${c.ok ? 'ok' : 'FAIL'} ${c.name}${c.ok ? '' : c.detail ? ` (${c.detail})` : ''}`).join('; ')
    console.log(`| ${r.platform} | ${r.format} | ${r.arch} | ${mib(r.size)} (${r.size} B) | ${r.ok ? 'PASS' : 'FAIL'}: ${checks} | ${r.notes.join('; ')} |`)
  }
}
for (const p of missing) console.error(`check-artifacts: FAIL: required binding missing: ${path.relative(root, dir)}/${p}/${BINARY}.${p}.node`)
if (!opts.json) {
  console.log(`\ncheck-artifacts: ${results.length - failed.length}/${results.length} passed${missing.length ? `, ${missing.length} required missing` : ''}`)
}
process.exit(failed.length || missing.length ? 1 : 0)
