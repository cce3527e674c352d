/**
 * Reads a gzip'd POSIX ustar archive (what `fogmesh bundle` writes, docs/bundle.md) in
 * memory, with bounds: the unpacked size, the entry count, paths that stay inside the
 * archive's tree. Regular files and directories only; links and devices are refused.
 */
import { gunzipSync } from 'node:zlib'

export interface TarEntry {
  path: string
  type: 'file' | 'dir'
  mode: number
  data: Buffer
}

export interface TarLimits {
  maxBytes: number
  maxEntries: number
}

export const TAR_LIMITS: TarLimits = { maxBytes: 512 * 1024 * 1024, maxEntries: 20_000 }

/** Throws an Error whose message says what is wrong (the caller names the file). */
export function readTarGz(bytes: Uint8Array, limits: TarLimits = TAR_LIMITS): TarEntry[] {
  let tar: Buffer
  try {
    tar = gunzipSync(bytes, { maxOutputLength: limits.maxBytes })
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    if (e.code === 'ERR_BUFFER_TOO_LARGE' || /Cannot create a Buffer larger/.test(e.message)) throw new Error(`unpacks to more than ${limits.maxBytes} bytes`)
    throw new Error(e.code === 'Z_BUF_ERROR' ? 'truncated (the gzip stream ends early)' : `not a gzip file or corrupted (${e.message})`)
  }
  const entries: TarEntry[] = []
  let off = 0
  let ended = false
  while (off + 512 <= tar.length) {
    const h = tar.subarray(off, off + 512)
    if (h.every((b) => b === 0)) {
      ended = true
      break
    }
    const stored = octal(h, 148, 8)
    let sum = 0
    for (let i = 0; i < 512; i++) sum += i >= 148 && i < 156 ? 32 : h[i]!
    if (stored !== sum) throw new Error(`corrupted: header checksum mismatch at byte ${off}`)
    const name = cstr(h, 0, 100)
    const prefix = h.subarray(257, 262).toString('latin1') === 'ustar' ? cstr(h, 345, 155) : ''
    const path = (prefix ? `${prefix}/${name}` : name).replace(/\/+$/, '')
    const size = octal(h, 124, 12)
    const flag = String.fromCharCode(h[156]!)
    const mode = octal(h, 100, 8) & 0o7777
    off += 512
    if (off + size > tar.length) throw new Error(`truncated: ${path} needs ${size} bytes, ${tar.length - off} left`)
    if (!path || path.startsWith('/') || path.split('/').includes('..')) throw new Error(`unsafe path in archive: ${JSON.stringify(path)}`)
    if (flag === '0' || flag === '\0') entries.push({ path, type: 'file', mode, data: Buffer.from(tar.subarray(off, off + size)) })
    else if (flag === '5') entries.push({ path, type: 'dir', mode, data: Buffer.alloc(0) })
    else throw new Error(`${path}: entry type ${JSON.stringify(flag)} (links, devices, extended headers) is not allowed in a bundle`)
    if (entries.length > limits.maxEntries) throw new Error(`more than ${limits.maxEntries} entries`)
    off += Math.ceil(size / 512) * 512
  }
  if (!ended) throw new Error('truncated: no end-of-archive marker')
  return entries
}

function cstr(b: Buffer, start: number, len: number): string {
  const s = b.subarray(start, start + len)
  const nul = s.indexOf(0)
  return s.subarray(0, nul < 0 ? len : nul).toString('utf8')
}

function octal(b: Buffer, start: number, len: number): number {
  const s = cstr(b, start, len).trim()
  if (s === '') return 0
  if (!/^[0-7]+$/.test(s)) throw new Error(`corrupted: a header field is not octal (${JSON.stringify(s)})`)
  return parseInt(s, 8)
}
