/**
 * gzip'd POSIX ustar, written and read in memory — enough for bundles: regular
 * files and directories, reproducible (sorted by the caller, mtime 0, uid/gid 0,
 * no owner names), every header checksum checked on read, bounded.
 *
 * A device reads a bundle with this too (OTA), so it needs no `tar` binary and
 * every way a tarball can be broken — not gzip, cut short, a bad header, a path
 * that climbs out — is a BundleError naming it.
 */
import { gunzipSync, gzipSync } from 'node:zlib'
import { BundleError } from './bundle-error.ts'

export interface TarEntry {
  path: string
  /** Permission bits, e.g. 0o755. */
  mode: number
  data: Uint8Array
}

const BLOCK = 512
/** The most a bundle may unpack to (a Node binary is ~100 MB). */
export const MAX_UNPACKED_BYTES = 512 * 1024 * 1024

function octal(buf: Buffer, off: number, len: number, value: number): void {
  buf.write(value.toString(8).padStart(len - 1, '0') + '\0', off, len, 'ascii')
}

function header(path: string, mode: number, size: number, type: '0' | '5'): Buffer {
  const h = Buffer.alloc(BLOCK)
  let name = path
  let prefix = ''
  if (Buffer.byteLength(name) > 100) {
    const cut = path.lastIndexOf('/', 155)
    if (cut <= 0 || Buffer.byteLength(path.slice(cut + 1)) > 100) throw new BundleError(path, 'path too long for ustar')
    prefix = path.slice(0, cut)
    name = path.slice(cut + 1)
  }
  h.write(name, 0, 100, 'utf8')
  octal(h, 100, 8, mode & 0o7777)
  octal(h, 108, 8, 0) // uid
  octal(h, 116, 8, 0) // gid
  octal(h, 124, 12, size)
  octal(h, 136, 12, 0) // mtime: reproducible
  h.fill(0x20, 148, 156) // checksum counts as spaces while it is computed
  h.write(type, 156, 1, 'ascii')
  h.write('ustar\0', 257, 6, 'ascii')
  h.write('00', 263, 2, 'ascii')
  h.write(prefix, 345, 155, 'utf8')
  let sum = 0
  for (let i = 0; i < BLOCK; i++) sum += h[i] as number
  h.write(sum.toString(8).padStart(6, '0') + '\0 ', 148, 8, 'ascii')
  return h
}

/** The entries as one .tar.gz, in the order given, with their parent directories first. */
export function writeTarGz(entries: TarEntry[], root: string): Buffer {
  const parts: Buffer[] = []
  const dirs = new Set<string>()
  const addDir = (dir: string) => {
    if (dirs.has(dir)) return
    const parent = dir.includes('/') ? dir.slice(0, dir.lastIndexOf('/')) : ''
    if (parent) addDir(parent)
    dirs.add(dir)
    parts.push(header(`${dir}/`, 0o755, 0, '5'))
  }
  addDir(root)
  for (const e of entries) {
    const full = `${root}/${e.path}`
    addDir(full.slice(0, full.lastIndexOf('/')))
    parts.push(header(full, e.mode, e.data.length, '0'), Buffer.from(e.data.buffer, e.data.byteOffset, e.data.byteLength))
    const pad = (BLOCK - (e.data.length % BLOCK)) % BLOCK
    if (pad) parts.push(Buffer.alloc(pad))
  }
  parts.push(Buffer.alloc(BLOCK * 2))
  return gzipSync(Buffer.concat(parts), { level: 6 })
}

function readOctal(h: Buffer, off: number, len: number): number {
  const s = h.toString('ascii', off, off + len).replace(/[\0 ]+$/, '').trim()
  if (!/^[0-7]*$/.test(s)) return NaN
  return s === '' ? 0 : parseInt(s, 8)
}

function cString(h: Buffer, off: number, len: number): string {
  const end = h.indexOf(0, off)
  return h.toString('utf8', off, end === -1 || end > off + len ? off + len : end)
}

/**
 * Every regular file of a .tar.gz, with paths relative to its one top directory
 * (which it returns as `root`). `what` names the tarball in errors.
 */
export function readTarGz(gz: Uint8Array, what: string): { root: string; entries: TarEntry[] } {
  let tar: Buffer
  try {
    tar = gunzipSync(gz, { maxOutputLength: MAX_UNPACKED_BYTES })
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code
    throw new BundleError(what, code === 'Z_BUF_ERROR' ? 'truncated (the gzip stream ends early)' : code === 'ERR_BUFFER_TOO_LARGE' ? `unpacks to more than ${MAX_UNPACKED_BYTES} bytes` : 'not a gzip file or corrupted')
  }
  const entries: TarEntry[] = []
  let root: string | undefined
  let at = 0
  while (true) {
    if (at + BLOCK > tar.length) throw new BundleError(what, 'truncated (no end-of-archive marker)')
    const h = tar.subarray(at, at + BLOCK)
    if (h.every((b) => b === 0)) break
    const stored = readOctal(h, 148, 8)
    let sum = 0
    for (let i = 0; i < BLOCK; i++) sum += i >= 148 && i < 156 ? 0x20 : (h[i] as number)
    if (stored !== sum) throw new BundleError(what, `corrupted (bad tar header checksum at byte ${at})`)
    const prefix = cString(h, 345, 155)
    const name = cString(h, 0, 100)
    const path = prefix ? `${prefix}/${name}` : name
    const size = readOctal(h, 124, 12)
    const type = String.fromCharCode(h[156] as number)
    if (!Number.isFinite(size)) throw new BundleError(what, `corrupted (bad size in the header of ${path})`)
    const parts = path.replace(/\/$/, '').split('/')
    if (path.startsWith('/') || parts.some((p) => p === '..' || p === '')) throw new BundleError(what, `refused path "${path}" (absolute or with ..)`)
    root ??= parts[0]
    if (parts[0] !== root) throw new BundleError(what, `more than one top directory ("${root}", "${parts[0]}")`)
    const dataAt = at + BLOCK
    if (dataAt + size > tar.length) throw new BundleError(what, `truncated (${path} is cut short)`)
    if (type === '0' || type === '\0') {
      if (parts.length < 2) throw new BundleError(what, `file "${path}" outside the top directory`)
      entries.push({ path: parts.slice(1).join('/'), mode: readOctal(h, 100, 8), data: tar.subarray(dataAt, dataAt + size) })
    } else if (type !== '5') {
      throw new BundleError(what, `refused entry "${path}" of tar type "${type}" (only files and directories)`)
    }
    at = dataAt + Math.ceil(size / BLOCK) * BLOCK
  }
  if (root === undefined) throw new BundleError(what, 'empty tarball')
  return { root, entries }
}
