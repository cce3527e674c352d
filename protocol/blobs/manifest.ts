/**
 * The `fogmesh-blob/1` manifest: what a content-addressed blob is made of.
 *
 * A blob larger than one MQTT packet travels as chunks, each retained on
 * `fm/v1/blobs/<sha256 of the chunk>`, plus a manifest — itself a blob, on
 * `fm/v1/blobs/<sha256 of the manifest>` — whose sha256 names the whole. Its
 * bytes are the canonical JSON (RFC 8785, protocol/canonical-json.ts) of
 *
 *     {"chunks":[{"sha256":"<hex>","size":N}, {"manifest":true,"sha256":"<hex>","size":N}, ...],
 *      "sha256":"<hex of the whole content>","size":<total bytes>,"type":"fogmesh-blob/1"}
 *
 * in order; an entry with `"manifest": true` is a nested manifest (its `size`
 * is what it expands to), so a very large blob is a shallow tree. Anything
 * but that exact byte form is refused (`blob_invalid_manifest`): one content,
 * one manifest, one name.
 */
import { createHash } from 'node:crypto'
import { canonicalJson } from '../canonical-json.ts'
import { ErrorCode } from '../errors.ts'
import { array, boolean, literal, number, object, optional, parseValue, sha256Hex, type Infer } from '../validate.ts'
import { BlobError } from './blob-error.ts'

export const BLOB_MANIFEST_TYPE = 'fogmesh-blob/1'
/** The most entries one manifest lists (a larger blob nests manifests). */
export const MAX_MANIFEST_ENTRIES = 4096
/** A manifest of MAX_MANIFEST_ENTRIES entries fits in this. */
export const MAX_MANIFEST_BYTES = 512 * 1024
/** 2^53 - 1: sizes stay exact in JSON. */
const MAX_SIZE = Number.MAX_SAFE_INTEGER

const entrySchema = object({
  sha256: sha256Hex,
  size: number({ min: 0, max: MAX_SIZE, integer: true }),
  /** Only ever `true` (a `false` is not canonical and refused). */
  manifest: optional(boolean),
})

export const manifestSchema = object({
  type: literal(BLOB_MANIFEST_TYPE),
  size: number({ min: 0, max: MAX_SIZE, integer: true }),
  sha256: sha256Hex,
  chunks: array(entrySchema, { max: MAX_MANIFEST_ENTRIES }),
})
export type BlobManifest = Infer<typeof manifestSchema>
export type ManifestEntry = BlobManifest['chunks'][number]

export const sha256Of = (bytes: Uint8Array): string => createHash('sha256').update(bytes).digest('hex')

/** The manifest's canonical bytes (what is published and hashed). */
export function encodeManifest(m: BlobManifest): Buffer {
  const chunks = m.chunks.map((c) => (c.manifest ? { manifest: true, sha256: c.sha256, size: c.size } : { sha256: c.sha256, size: c.size }))
  return Buffer.from(canonicalJson({ type: m.type, size: m.size, sha256: m.sha256, chunks }), 'utf8')
}

/** Whether `bytes` look like a manifest at all (its canonical form starts so). */
export function looksLikeManifest(bytes: Uint8Array): boolean {
  const head = '{"chunks":['
  if (bytes.length < head.length) return false
  return Buffer.from(bytes.buffer, bytes.byteOffset, head.length).toString('latin1') === head
}

/**
 * Parses and checks a manifest received as `name`: JSON of the schema, in its
 * canonical form, entries that add up to `size`, no entry naming the manifest
 * itself. The hash of `bytes` against `name` is the caller's (it may have
 * reasons to check it first or last).
 */
export function parseManifest(bytes: Uint8Array, name: string): BlobManifest {
  if (bytes.length > MAX_MANIFEST_BYTES) {
    throw new BlobError(ErrorCode.blobInvalidManifest, name, `manifest ${name} is ${bytes.length} bytes; at most ${MAX_MANIFEST_BYTES}`)
  }
  const text = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength).toString('utf8')
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    throw new BlobError(ErrorCode.blobInvalidManifest, name, `manifest ${name} is not JSON`)
  }
  const d = parseValue(raw, manifestSchema)
  if (!d.ok) throw new BlobError(ErrorCode.blobInvalidManifest, name, `manifest ${name}: ${d.error.shortMessage}`)
  const m = d.value
  if (!encodeManifest(m).equals(Buffer.from(text, 'utf8'))) {
    throw new BlobError(ErrorCode.blobInvalidManifest, name, `manifest ${name} is not in canonical form (RFC 8785, fields as ${BLOB_MANIFEST_TYPE})`)
  }
  let sum = 0
  for (const c of m.chunks) {
    if (c.manifest && c.sha256 === name) throw new BlobError(ErrorCode.blobLoop, name, `manifest ${name} names itself`)
    sum += c.size
  }
  if (sum !== m.size) throw new BlobError(ErrorCode.blobSizeMismatch, name, `manifest ${name} declares ${m.size} bytes but its entries add up to ${sum}`)
  return m
}
