/**
 * The agent's cache of content-addressed pieces (chunks and manifests,
 * protocol/blobs/): least recently used first out, within a byte budget
 * (`blobCacheBytes`, `--blob-cache-bytes`). On disk under `dir` (one file per
 * piece, named by its sha256; the order survives a restart through the
 * files' mtimes), or in memory without one. Every read is hash-checked: a
 * damaged file is dropped, never served. `evicted` fires when the budget
 * bites.
 */
import { EventEmitter } from 'node:events'
import { mkdirSync, readdirSync, readFileSync, renameSync, rmSync, statSync, utimesSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { sha256Of } from '../protocol/blobs/manifest.ts'
import { mergeOptions } from '../protocol/options.ts'

export interface BlobStoreOptions {
  /** Where pieces are kept between starts; undefined: memory only. */
  dir?: string | undefined
  /** Budget for all pieces together (bytes). */
  maxBytes?: number
}

export const BLOB_STORE_DEFAULTS = { maxBytes: 256 * 1024 * 1024 }

export interface BlobStoreEvents {
  /** The budget bit: `sha256` was dropped to make room (or not kept at all: `reason: 'larger_than_budget'`). */
  evicted: [{ sha256: string; bytes: number; reason: 'budget' | 'larger_than_budget'; usedBytes: number; maxBytes: number }]
}

const NAME = /^[0-9a-f]{64}$/

export class BlobStore extends EventEmitter<BlobStoreEvents> {
  readonly maxBytes: number
  private readonly dir: string | undefined
  /** sha256 → size, least recently used first (a Map keeps insertion order). */
  private readonly index = new Map<string, number>()
  private readonly memory = new Map<string, Buffer>()
  private used = 0
  private stats_ = { hits: 0, misses: 0, stored: 0, evicted: 0, corrupt: 0 }

  constructor(options: BlobStoreOptions = {}) {
    super()
    const o = mergeOptions(options, BLOB_STORE_DEFAULTS, { maxBytes: { min: 0, integer: true } }, 'blobCache')
    this.maxBytes = o.maxBytes
    this.dir = o.dir
    if (this.dir) this.load(this.dir)
  }

  /** What a restart found on disk, oldest use first. */
  private load(dir: string): void {
    mkdirSync(dir, { recursive: true })
    const found: { sha: string; size: number; mtime: number }[] = []
    for (const name of readdirSync(dir)) {
      if (!NAME.test(name)) {
        if (name.endsWith('.tmp')) rmSync(join(dir, name), { force: true }) // a torn write
        continue
      }
      try {
        const st = statSync(join(dir, name))
        found.push({ sha: name, size: st.size, mtime: st.mtimeMs })
      } catch {
        // gone meanwhile
      }
    }
    found.sort((a, b) => a.mtime - b.mtime)
    for (const f of found) {
      this.index.set(f.sha, f.size)
      this.used += f.size
    }
    this.makeRoom(0)
  }

  has(sha256: string): boolean {
    return this.index.has(sha256)
  }

  get usedBytes(): number {
    return this.used
  }

  get size(): number {
    return this.index.size
  }

  stats() {
    return { ...this.stats_, pieces: this.index.size, usedBytes: this.used, maxBytes: this.maxBytes }
  }

  /** The piece's bytes (checked against its name), or undefined; a hit makes it the most recently used. */
  get(sha256: string): Buffer | undefined {
    const size = this.index.get(sha256)
    if (size === undefined) {
      this.stats_.misses++
      return undefined
    }
    let bytes: Buffer | undefined
    if (this.dir) {
      try {
        bytes = readFileSync(join(this.dir, sha256))
      } catch {
        bytes = undefined
      }
    } else bytes = this.memory.get(sha256)
    if (!bytes || sha256Of(bytes) !== sha256) {
      this.stats_.corrupt++
      this.delete(sha256)
      this.stats_.misses++
      return undefined
    }
    this.touch(sha256, size)
    this.stats_.hits++
    return bytes
  }

  /** Keeps a piece already checked against its name; evicts the least recently used to make room. */
  put(sha256: string, bytes: Buffer): void {
    if (this.index.has(sha256)) return this.touch(sha256, bytes.length)
    if (bytes.length > this.maxBytes) {
      this.emit('evicted', { sha256, bytes: bytes.length, reason: 'larger_than_budget', usedBytes: this.used, maxBytes: this.maxBytes })
      return
    }
    this.makeRoom(bytes.length)
    if (this.dir) {
      const path = join(this.dir, sha256)
      const tmp = `${path}.${process.pid}.tmp`
      try {
        writeFileSync(tmp, bytes)
        renameSync(tmp, path)
      } catch {
        rmSync(tmp, { force: true }) // a full disk costs the cache entry, never the job
        return
      }
    } else this.memory.set(sha256, bytes)
    this.index.set(sha256, bytes.length)
    this.used += bytes.length
    this.stats_.stored++
  }

  delete(sha256: string): void {
    const size = this.index.get(sha256)
    if (size === undefined) return
    this.index.delete(sha256)
    this.memory.delete(sha256)
    this.used -= size
    if (this.dir) rmSync(join(this.dir, sha256), { force: true })
  }

  private touch(sha256: string, size: number): void {
    this.index.delete(sha256)
    this.index.set(sha256, size)
    if (this.dir) {
      const now = new Date()
      try {
        utimesSync(join(this.dir, sha256), now, now)
      } catch {
        // the order on disk is a hint for the next start
      }
    }
  }

  private makeRoom(incoming: number): void {
    for (const [sha, size] of this.index) {
      if (this.used + incoming <= this.maxBytes) break
      this.delete(sha)
      this.stats_.evicted++
      this.emit('evicted', { sha256: sha, bytes: size, reason: 'budget', usedBytes: this.used, maxBytes: this.maxBytes })
    }
  }
}
