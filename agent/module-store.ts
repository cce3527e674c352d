/**
 * Modules by sha256: fetched from the retained topic `fm/v1/modules/<sha256>`
 * (or `fm/v1/models/<sha256>`: a model file is loaded the same way),
 * hash-checked on arrival (whatever the broker did), handed to the executor
 * (which compiles and checks it once, away from the agent's keys), and cached
 * in memory and on disk.
 *
 * Verdicts that cannot change (not WebAssembly, not a command, bad imports,
 * wrong hash) are cached too, so a hostile module costs one compile, not one
 * per job. "Not found" is not cached: the module may be published later.
 */
import { createHash } from 'node:crypto'
import { mkdirSync, readFileSync, renameSync, rmSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { systemClock, type Clock, type Timer } from '../protocol/clock.ts'
import { ErrorCode, FogmeshError, JobError } from '../protocol/errors.ts'
import { topics } from '../protocol/topics.ts'
import type { Connection } from '../protocol/transport.ts'
import type { Executor, ModuleInfo } from './engine/executor.ts'

export interface ModuleStoreOptions {
  /** Where compiled-from bytes are kept between starts; undefined for memory only. */
  dir?: string | undefined
  /** How long to wait for the retained module after subscribing. */
  fetchTimeoutMs: number
  maxBytes: number
  /** Times the fetch (default: the system clock). */
  clock?: Clock
}

export interface ModuleStoreStats {
  cached: number
  fetched: number
  fromDisk: number
  rejected: number
}

export class ModuleStore {
  private readonly ready = new Map<string, Promise<ModuleInfo>>()
  private readonly stats_: ModuleStoreStats = { cached: 0, fetched: 0, fromDisk: 0, rejected: 0 }

  constructor(
    private readonly conn: Connection,
    private readonly executor: Executor,
    private readonly options: ModuleStoreOptions,
  ) {
    if (options.dir) mkdirSync(options.dir, { recursive: true })
  }

  /** Resolves when the module can run on the executor; rejects with a JobError that says why not. */
  get(sha256: string): Promise<ModuleInfo> {
    let p = this.ready.get(sha256)
    if (!p) {
      p = this.load(sha256)
      this.ready.set(sha256, p)
      p.catch((err: unknown) => {
        if (err instanceof FogmeshError && err.code === ErrorCode.moduleNotFound) this.ready.delete(sha256)
        else this.stats_.rejected++
      })
    }
    return p
  }

  /** Starts fetching a module ahead of need (on an offer); errors surface on `get`. */
  prefetch(sha256: string): void {
    this.get(sha256).catch(() => {})
  }

  stats(): ModuleStoreStats {
    return { ...this.stats_, cached: this.ready.size }
  }

  private async load(sha256: string): Promise<ModuleInfo> {
    const bytes = this.readDisk(sha256) ?? (await this.fetch(sha256))
    // compiled and checked by the executor, never in this (key-holding) process
    const info = await this.executor.load(sha256, bytes)
    this.writeDisk(sha256, bytes)
    return info
  }

  /** The module's bytes from the disk cache (hash-checked), for others that want it (agent/blob-holder.ts). */
  cached(sha256: string): Buffer | undefined {
    if (!/^[0-9a-f]{64}$/.test(sha256)) return undefined
    const bytes = this.readDisk(sha256)
    return bytes ? Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength) : undefined
  }

  private readDisk(sha256: string): Uint8Array | undefined {
    if (!this.options.dir) return undefined
    const path = join(this.options.dir, `${sha256}.wasm`)
    let bytes: Buffer
    try {
      bytes = readFileSync(path)
    } catch {
      return undefined
    }
    if (createHash('sha256').update(bytes).digest('hex') !== sha256) {
      rmSync(path, { force: true }) // corrupt cache entry: fetch again
      return undefined
    }
    this.stats_.fromDisk++
    return bytes
  }

  private writeDisk(sha256: string, bytes: Uint8Array): void {
    if (!this.options.dir) return
    const path = join(this.options.dir, `${sha256}.wasm`)
    const tmp = `${path}.${process.pid}.tmp`
    try {
      writeFileSync(tmp, bytes)
      renameSync(tmp, path)
    } catch {
      rmSync(tmp, { force: true }) // the disk cache is an optimisation; a full disk must not fail the job
    }
  }

  private async fetch(sha256: string): Promise<Uint8Array> {
    // a module, or a model (one file, content-addressed the same way): whichever is published
    const wanted = [topics.module(sha256), topics.model(sha256)]
    const clock = this.options.clock ?? systemClock
    const bytes = await new Promise<Buffer>((resolve, reject) => {
      let timer: Timer | undefined
      let settled = false
      const done = (err: Error | undefined, payload?: Buffer) => {
        if (settled) return
        settled = true
        timer?.cancel()
        for (const t of wanted) this.conn.unroute(t)
        this.conn.unsubscribe(wanted).catch(() => {})
        if (err) reject(err)
        else resolve(payload as Buffer)
      }
      for (const t of wanted) {
        this.conn.route(t, (_t, payload) => {
          if (payload.length > 0) done(undefined, payload)
        })
      }
      this.conn
        .subscribe(wanted, 1)
        .then(() => {
          // retained messages follow the SUBACK; give them a moment to arrive
          if (settled) return
          // nothing retained: ask the agents that cache it (agent/blob-holder.ts), then wait as long again
          timer = clock.setTimeout(() => {
            if (settled) return
            this.conn.publish(topics.blobWant(sha256), '', { qos: 0 })
            timer = clock.setTimeout(
              () => done(new JobError(ErrorCode.moduleNotFound, `module ${sha256} is not published on ${wanted.join(' or ')}, and no agent that caches it answered`)),
              this.options.fetchTimeoutMs,
            )
          }, this.options.fetchTimeoutMs)
        })
        .catch((err: unknown) => done(new FogmeshError(ErrorCode.closed, 'cannot subscribe for module', { cause: err })))
    })
    if (bytes.length > this.options.maxBytes) {
      throw new JobError(ErrorCode.tooLarge, `module is ${bytes.length} bytes; this agent takes at most ${this.options.maxBytes}`)
    }
    const actual = createHash('sha256').update(bytes).digest('hex')
    if (actual !== sha256) throw new JobError(ErrorCode.moduleHashMismatch, `module bytes hash to ${actual}, not ${sha256}`)
    this.stats_.fetched++
    return bytes
  }
}
