/**
 * An append-only file of checksummed records, each on disk (fdatasync) before
 * `append` returns — the storage under the voucher journal, in plain JavaScript
 * so that a device needs no native addon (bench/journal.bench.ts measures it
 * against the SQLite journal it replaces).
 *
 * Layout: the header `fogmesh-journal/1\n`, then frames of
 * `u32le length | u32le crc32(payload) | payload (UTF-8 JSON)`.
 *
 * Opening replays every frame. A torn tail — the last frame cut short, or the
 * last frame's checksum wrong with nothing after it — is a write that never
 * returned (so was never acknowledged): it is cut off. A bad frame with more
 * bytes after it is damage, not a crash: opening refuses, naming the offset,
 * rather than silently dropping what follows.
 *
 * `appendBatch` is the group commit: many frames with one write and (when asked)
 * one fdatasync, both off the main thread (libuv's pool), so that the event loop
 * keeps running while the disk works. One batch at a time; `append`, `rewrite`
 * and `close` must not run while a batch is in flight (`busy`).
 *
 * `rewrite` replaces the whole file with a snapshot (write, fsync, rename,
 * fsync the directory): a crash leaves either the old file or the new one.
 */
import { closeSync, constants, existsSync, fdatasync, fdatasyncSync, fsyncSync, ftruncateSync, mkdirSync, openSync, readFileSync, renameSync, rmSync, write, writeSync } from 'node:fs'
import { basename, dirname, join } from 'node:path'
import * as zlib from 'node:zlib'
import { ErrorCode, FogmeshError } from '../../protocol/errors.ts'

export const JOURNAL_HEADER = Buffer.from('fogmesh-journal/1\n')
/** The largest record a journal takes (a voucher with its result leaves). */
export const MAX_RECORD_BYTES = 64 * 1024 * 1024
const FRAME_HEAD = 8

export class JournalCorruptError extends FogmeshError {
  override name = 'JournalCorruptError'
  constructor(path: string, why: string) {
    super(ErrorCode.journalCorrupt, `journal ${path} is damaged: ${why}`)
  }
}

const CRC_TABLE = (() => {
  const t = new Uint32Array(256)
  for (let n = 0; n < 256; n++) {
    let c = n
    for (let k = 0; k < 8; k++) c = c & 1 ? 0xedb88320 ^ (c >>> 1) : c >>> 1
    t[n] = c >>> 0
  }
  return t
})()

/** node:zlib's crc32 (native, ~20x the table loop on a 1 KiB record): from Node 20.15 and 22.2; the loop where it is missing. */
const nativeCrc32 = (zlib as { crc32?: (data: Uint8Array, value?: number) => number }).crc32

/** CRC-32 (IEEE, as zlib and gzip). */
export function crc32(bytes: Uint8Array): number {
  return nativeCrc32 ? nativeCrc32(bytes) : crc32Table(bytes)
}

/** The table-driven CRC-32, for a Node without zlib.crc32. */
export function crc32Table(bytes: Uint8Array): number {
  let c = 0xffffffff
  for (let i = 0; i < bytes.length; i++) c = (CRC_TABLE[(c ^ (bytes[i] as number)) & 0xff] as number) ^ (c >>> 8)
  return (c ^ 0xffffffff) >>> 0
}

export function frame(record: unknown): Buffer {
  const json = JSON.stringify(record)
  const length = Buffer.byteLength(json)
  if (length > MAX_RECORD_BYTES) throw new FogmeshError(ErrorCode.tooLarge, `journal record is ${length} bytes; at most ${MAX_RECORD_BYTES}`)
  // encoded straight into the frame (no payload buffer to copy in)
  const out = Buffer.allocUnsafe(FRAME_HEAD + length)
  out.write(json, FRAME_HEAD)
  out.writeUInt32LE(length, 0)
  out.writeUInt32LE(crc32(out.subarray(FRAME_HEAD)), 4)
  return out
}

export interface ReplayResult {
  records: unknown[]
  /** Bytes of a torn last write that were cut off (0 when the file ended cleanly). */
  tornBytes: number
  /** Size of the file after opening. */
  bytes: number
}

/** Reads every record; cuts a torn tail off the file. */
function replay(path: string): ReplayResult {
  const buf = readFileSync(path)
  if (buf.length < JOURNAL_HEADER.length) {
    // a crash while the header was being written: nothing was ever appended
    if (JOURNAL_HEADER.subarray(0, buf.length).equals(buf)) return { records: [], tornBytes: buf.length, bytes: 0 }
    throw new JournalCorruptError(path, 'not a fogmesh journal (bad header)')
  }
  if (!buf.subarray(0, JOURNAL_HEADER.length).equals(JOURNAL_HEADER)) {
    const what = buf.subarray(0, 16).toString('latin1').startsWith('SQLite format 3') ? 'a SQLite journal from an older fogmesh' : 'not a fogmesh journal (bad header)'
    throw new JournalCorruptError(path, what)
  }
  const records: unknown[] = []
  let at = JOURNAL_HEADER.length
  while (at < buf.length) {
    const rest = buf.length - at
    if (rest < FRAME_HEAD) return { records, tornBytes: rest, bytes: at }
    const len = buf.readUInt32LE(at)
    if (len > MAX_RECORD_BYTES) {
      if (at + FRAME_HEAD + len >= buf.length) return { records, tornBytes: rest, bytes: at }
      throw new JournalCorruptError(path, `frame at byte ${at} claims ${len} bytes`)
    }
    const end = at + FRAME_HEAD + len
    if (end > buf.length) return { records, tornBytes: rest, bytes: at }
    const payload = buf.subarray(at + FRAME_HEAD, end)
    if (crc32(payload) !== buf.readUInt32LE(at + 4)) {
      if (end === buf.length) return { records, tornBytes: rest, bytes: at }
      throw new JournalCorruptError(path, `checksum mismatch in the frame at byte ${at}, with ${buf.length - end} bytes after it`)
    }
    try {
      records.push(JSON.parse(payload.toString('utf8')))
    } catch {
      throw new JournalCorruptError(path, `frame at byte ${at} is not JSON`)
    }
    at = end
  }
  return { records, tornBytes: 0, bytes: at }
}

function fsyncDir(dir: string): void {
  const fd = openSync(dir, 'r')
  try {
    fsyncSync(fd)
  } finally {
    closeSync(fd)
  }
}

export class JournalFile {
  private fd: number
  private size: number
  private inFlight = false

  private constructor(
    readonly path: string,
    fd: number,
    size: number,
    private readonly flags: number,
  ) {
    this.fd = fd
    this.size = size
  }

  /**
   * Opens (creating it when missing) and replays the file. With `dsync` the
   * descriptor is O_DSYNC: every write is on disk when it returns, so a synced
   * `appendBatch` is one write (one trip to libuv's pool), not a write and an fdatasync.
   */
  static open(path: string, o: { dsync?: boolean } = {}): { file: JournalFile; replayed: ReplayResult } {
    const dir = dirname(path)
    mkdirSync(dir, { recursive: true })
    rmSync(tmpPathOf(path), { force: true }) // a rewrite that crashed before its rename
    if (!existsSync(path)) {
      const fd = openSync(path, 'wx', 0o600)
      writeSync(fd, JOURNAL_HEADER)
      fdatasyncSync(fd)
      closeSync(fd)
      fsyncDir(dir) // the new name itself must survive a power cut
    }
    const replayed = replay(path)
    if (replayed.bytes === 0) {
      // the header itself was torn: start the file again
      const fd = openSync(path, 'w', 0o600)
      writeSync(fd, JOURNAL_HEADER)
      fdatasyncSync(fd)
      closeSync(fd)
      replayed.bytes = JOURNAL_HEADER.length
    }
    const flags = constants.O_RDWR | (o.dsync && constants.O_DSYNC ? constants.O_DSYNC : 0)
    const fd = openSync(path, flags)
    if (replayed.tornBytes > 0) {
      // cut the torn write off so that the next frame starts where the last good one ended
      ftruncateSync(fd, replayed.bytes)
      fdatasyncSync(fd)
    }
    return { file: new JournalFile(path, fd, replayed.bytes, flags), replayed }
  }

  /** Size of the file in bytes. */
  get bytes(): number {
    return this.size
  }

  /** Appends one record; it is on disk when this returns. */
  append(record: unknown): void {
    this.appendFrame(frame(record))
  }

  /** Whether every write is synced by itself (O_DSYNC). */
  get dsync(): boolean {
    return (this.flags & constants.O_DSYNC) !== 0 && constants.O_DSYNC !== undefined
  }

  /** True while an `appendBatch` is writing or syncing. */
  get busy(): boolean {
    return this.inFlight
  }

  /**
   * Appends `frames` (from `frame`) with one positional write and, when `sync`,
   * one fdatasync, off the main thread; `done` is called once they are written
   * (and on disk when `sync`), or with the error. On an error the file's size
   * is not advanced: the next append overwrites whatever part was written.
   */
  appendBatch(frames: Buffer[], sync: boolean, done: (err?: Error) => void): void {
    if (this.inFlight) {
      done(new FogmeshError(ErrorCode.internal, `journal ${this.path}: a batch is already being written`))
      return
    }
    const all = frames.length === 1 ? (frames[0] as Buffer) : Buffer.concat(frames)
    const fd = this.fd
    const at = this.size
    this.inFlight = true
    const finish = (err?: Error | null) => {
      this.inFlight = false
      if (err) return done(err)
      this.size = at + all.length
      done()
    }
    let off = 0
    const more = (err: Error | null, n: number) => {
      if (err) return finish(err)
      off += n
      if (off < all.length) return write(fd, all, off, all.length - off, at + off, more)
      if (!sync || this.dsync) return finish()
      fdatasync(fd, finish)
    }
    write(fd, all, 0, all.length, at, more)
  }

  appendFrame(f: Buffer): void {
    let off = 0
    while (off < f.length) off += writeSync(this.fd, f, off, f.length - off, this.size + off)
    if (!this.dsync) fdatasyncSync(this.fd)
    this.size += f.length
  }

  /** Replaces the file's content with `records` (a snapshot), atomically. */
  rewrite(records: unknown[]): void {
    const tmp = tmpPathOf(this.path)
    const fd = openSync(tmp, 'w', 0o600)
    let size = 0
    try {
      const parts = [JOURNAL_HEADER, ...records.map(frame)]
      const all = Buffer.concat(parts)
      while (size < all.length) size += writeSync(fd, all, size, all.length - size, size)
      fsyncSync(fd)
    } finally {
      closeSync(fd)
    }
    renameSync(tmp, this.path)
    fsyncDir(dirname(this.path))
    closeSync(this.fd)
    this.fd = openSync(this.path, this.flags)
    this.size = size
  }

  close(): void {
    closeSync(this.fd)
  }
}

const tmpPathOf = (path: string) => join(dirname(path), `.${basename(path)}.rewrite`)
