/**
 * How an agent gets a job's content-addressed input: its BlobStore first,
 * then MQTT (retained copy, else holders on request), every piece checked
 * by protocol/blobs/resolve-blob.ts and kept in the store once good. The
 * budget is checked from the manifest, before any chunk is fetched: a blob
 * over `maxBytes` (or over the whole cache) is refused `blob_too_large`.
 */
import type { BlobError } from '../protocol/blobs/blob-error.ts'
import { MqttBlobSource, type MqttBlobSourceOptions } from '../protocol/blobs/mqtt-blob-source.ts'
import { DEFAULT_RESOLVE_LIMITS, resolveBlob, type BlobSource, type ResolvedBlob, type ResolveLimits } from '../protocol/blobs/resolve-blob.ts'
import type { Connection } from '../protocol/transport.ts'
import type { BlobStore } from './blob-store.ts'

export interface BlobFetcherOptions extends MqttBlobSourceOptions {
  limits?: Partial<ResolveLimits>
}

export class BlobFetcher implements BlobSource {
  readonly mqtt: MqttBlobSource
  private readonly limits: ResolveLimits
  /** Pieces refused (bad hash or size), for stats. */
  refusedPieces = 0

  constructor(
    conn: Connection,
    readonly store: BlobStore,
    options: BlobFetcherOptions = {},
  ) {
    const { limits, ...mqtt } = options
    this.mqtt = new MqttBlobSource(conn, mqtt)
    const merged = { ...DEFAULT_RESOLVE_LIMITS }
    for (const [k, v] of Object.entries(limits ?? {})) if (v !== undefined) (merged as Record<string, number>)[k] = v
    // what the cache cannot hold, the agent does not take
    merged.maxBytes = Math.min(merged.maxBytes, store.maxBytes)
    this.limits = merged
  }

  /** The verified bytes of blob `root` (a `fogmesh-blob/1` manifest's sha256). */
  resolve(root: string): Promise<ResolvedBlob> {
    return resolveBlob(this, root, this.limits)
  }

  async get(sha256: string, maxBytes: number): Promise<Buffer> {
    return this.store.get(sha256) ?? this.mqtt.get(sha256, maxBytes)
  }

  refuse(sha256: string, _reason: BlobError): void {
    this.refusedPieces++
    this.store.delete(sha256)
  }

  verified(sha256: string, bytes: Buffer): void {
    this.store.put(sha256, bytes)
  }
}
