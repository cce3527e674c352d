/**
 * Publishes bytes as a content-addressed blob: every chunk retained on
 * `fm/v1/blobs/<sha256>` (QoS 1, each acknowledged by the broker), the
 * manifests last, so a blob is never named before its pieces are there.
 * Returns what a job names its input by.
 */
import { topics } from '../topics.ts'
import type { Connection } from '../transport.ts'
import { chunkBlob, type ChunkOptions } from './chunk-blob.ts'

export interface BlobRef {
  /** sha256 of the root manifest: `input: {"sha256": ...}` of a job. */
  sha256: string
  /** sha256 of the content: the job's `inputSha256`. */
  contentSha256: string
  size: number
  chunks: number
}

export interface PublishBlobOptions extends ChunkOptions {
  /** Pieces in flight at once (each is up to a chunk in the client's buffer). */
  window?: number
}

export async function publishBlob(conn: Connection, bytes: Uint8Array, options: PublishBlobOptions = {}): Promise<BlobRef> {
  const blob = chunkBlob(bytes, options)
  const entries = [...blob.pieces]
  const window = Math.max(1, options.window ?? 4)
  for (let i = 0; i < entries.length; i += window) {
    await Promise.all(entries.slice(i, i + window).map(([sha, piece]) => conn.publishAsync(topics.blob(sha), piece, { qos: 1, retain: true })))
  }
  return { sha256: blob.root, contentSha256: blob.contentSha256, size: blob.size, chunks: blob.chunks }
}
