/**
 * Cuts bytes into content-addressed chunks and the manifest(s) that name
 * them (protocol/blobs/manifest.ts): the one way a requester, a sensor's
 * library or a test makes a blob. Deterministic: the same bytes and chunk
 * size give the same names on every machine.
 */
import { checkNumber } from '../options.ts'
import { BLOB_MANIFEST_TYPE, MAX_MANIFEST_ENTRIES, encodeManifest, sha256Of, type BlobManifest, type ManifestEntry } from './manifest.ts'

/** Default chunk: well under the broker's packet cap (2 MiB, broker/limits). */
export const DEFAULT_CHUNK_BYTES = 512 * 1024

export interface ChunkedBlob {
  /** sha256 of the root manifest: the blob's name (what a job's `input: {sha256}` says). */
  root: string
  /** sha256 of the whole content (what the job's `inputSha256` is). */
  contentSha256: string
  size: number
  /** Every piece to publish, name → bytes: chunks first, manifests last (the root last of all). */
  pieces: Map<string, Buffer>
  /** How many data chunks. */
  chunks: number
}

export interface ChunkOptions {
  chunkBytes?: number
  /** Entries per manifest before nesting (default and most: MAX_MANIFEST_ENTRIES). */
  fanout?: number
}

export function chunkBlob(bytes: Uint8Array, options: ChunkOptions = {}): ChunkedBlob {
  const chunkBytes = checkNumber('chunkBytes', options.chunkBytes ?? DEFAULT_CHUNK_BYTES, { min: 1, integer: true })
  const fanout = checkNumber('fanout', options.fanout ?? MAX_MANIFEST_ENTRIES, { min: 2, max: MAX_MANIFEST_ENTRIES, integer: true })
  const data = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength)
  const pieces = new Map<string, Buffer>()
  let level: ManifestEntry[] = []
  const n = Math.max(1, Math.ceil(data.length / chunkBytes)) // an empty blob is one empty chunk
  for (let i = 0; i < n; i++) {
    const chunk = data.subarray(i * chunkBytes, Math.min(data.length, (i + 1) * chunkBytes))
    const sha = sha256Of(chunk)
    pieces.set(sha, chunk)
    level.push({ sha256: sha, size: chunk.length })
  }
  const chunks = level.length
  const contentSha256 = sha256Of(data)
  // nest until one manifest holds the level; every nested manifest names the content hash of its own span
  while (true) {
    const groups: ManifestEntry[][] = []
    for (let i = 0; i < level.length; i += fanout) groups.push(level.slice(i, i + fanout))
    if (groups.length === 1) {
      const root: BlobManifest = { type: BLOB_MANIFEST_TYPE, size: data.length, sha256: contentSha256, chunks: strip(groups[0] as ManifestEntry[]) }
      const encoded = encodeManifest(root)
      const name = sha256Of(encoded)
      pieces.delete(name)
      pieces.set(name, encoded)
      return { root: name, contentSha256, size: data.length, pieces, chunks }
    }
    let offset = 0
    const next: ManifestEntry[] = []
    for (const g of groups) {
      const size = g.reduce((n, e) => n + e.size, 0)
      const span = data.subarray(offset, offset + size)
      offset += size
      const m: BlobManifest = { type: BLOB_MANIFEST_TYPE, size, sha256: sha256Of(span), chunks: strip(g) }
      const encoded = encodeManifest(m)
      const name = sha256Of(encoded)
      pieces.set(name, encoded)
      next.push({ sha256: name, size, manifest: true })
    }
    level = next
  }
}

const strip = (entries: ManifestEntry[]): ManifestEntry[] => entries.map((e) => (e.manifest ? { sha256: e.sha256, size: e.size, manifest: true } : { sha256: e.sha256, size: e.size }))
