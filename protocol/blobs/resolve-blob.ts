/**
 * From a blob's name to its verified bytes, over any `BlobSource` (the
 * agent's MQTT fetcher with its cache, or the in-memory one of tests):
 *
 * 1. plan: fetch the root manifest and any nested ones, depth first; refuse a
 *    manifest that names itself or one above it (`blob_loop`), nests deeper
 *    than `maxDepth`, declares more than `maxBytes` (`blob_too_large`) or
 *    more than `maxChunks` chunks (`blob_too_many_chunks`) — all before a
 *    single data chunk is fetched;
 * 2. fetch the chunks, a few at a time, each checked against its name
 *    (`blob_hash_mismatch`: the source is told, so it drops that copy, and
 *    asked once more — another holder may have a good one) and its declared
 *    size (`blob_size_mismatch`);
 * 3. the whole must hash to the manifest's `sha256` and be `size` long.
 */
import { ErrorCode } from '../errors.ts'
import { BlobError } from './blob-error.ts'
import { MAX_MANIFEST_BYTES, parseManifest, sha256Of, type BlobManifest } from './manifest.ts'

/** Where blob pieces come from: one implementation per transport (and one in memory). */
export interface BlobSource {
  /** The bytes published as `sha256` (not yet checked), at most `maxBytes`; rejects with `blob_not_found` when none come. */
  get(sha256: string, maxBytes: number): Promise<Buffer>
  /** The copy `get` gave was bad (wrong hash or size): forget it; the next `get` looks for another. */
  refuse?(sha256: string, reason: BlobError): void
  /** A piece checked good (the cache keeps it). */
  verified?(sha256: string, bytes: Buffer): void
}

export interface ResolveLimits {
  /** Most bytes the whole may have. */
  maxBytes: number
  /** Most data chunks, over all manifests. */
  maxChunks: number
  /** Most levels of nested manifests below the root. */
  maxDepth: number
  /** Chunks fetched at once. */
  concurrency: number
}

export const DEFAULT_RESOLVE_LIMITS: ResolveLimits = { maxBytes: 64 * 1024 * 1024, maxChunks: 16_384, maxDepth: 4, concurrency: 4 }

export interface ResolvedBlob {
  manifest: BlobManifest
  bytes: Buffer
  chunks: number
}

/** The manifest `name`, checked (hash, form, no loop, within limits); does not fetch its chunks. */
export async function fetchManifest(source: BlobSource, name: string, limits: Pick<ResolveLimits, 'maxBytes'>, above: readonly string[] = []): Promise<BlobManifest> {
  const bytes = await source.get(name, MAX_MANIFEST_BYTES)
  let m: BlobManifest
  try {
    m = parseManifest(bytes, name)
    // a cycle is named before the bytes' hash: the clearer of the two faults
    for (const c of m.chunks) {
      if (c.manifest && above.includes(c.sha256)) throw new BlobError(ErrorCode.blobLoop, name, `manifest ${name} names ${c.sha256}, a manifest above it (a cycle)`)
    }
    const actual = sha256Of(bytes)
    if (actual !== name) throw new BlobError(ErrorCode.blobHashMismatch, name, `manifest bytes hash to ${actual}, not ${name}`)
  } catch (err) {
    if (err instanceof BlobError) source.refuse?.(name, err)
    throw err
  }
  if (m.size > limits.maxBytes) throw new BlobError(ErrorCode.blobTooLarge, name, `blob ${name} is ${m.size} bytes; this agent takes at most ${limits.maxBytes}`)
  source.verified?.(name, bytes)
  return m
}

interface Planned {
  sha256: string
  size: number
}

export async function resolveBlob(source: BlobSource, root: string, limits: ResolveLimits = DEFAULT_RESOLVE_LIMITS): Promise<ResolvedBlob> {
  const rootManifest = await fetchManifest(source, root, limits)
  const plan: Planned[] = []
  await expand(source, root, rootManifest, [root], plan, limits)
  const parts = new Array<Buffer>(plan.length)
  let next = 0
  const worker = async () => {
    while (next < plan.length) {
      const i = next++
      parts[i] = await fetchChunk(source, plan[i] as Planned)
    }
  }
  await Promise.all(Array.from({ length: Math.min(limits.concurrency, plan.length) }, worker))
  const bytes = Buffer.concat(parts)
  if (bytes.length !== rootManifest.size) throw new BlobError(ErrorCode.blobSizeMismatch, root, `blob ${root} declares ${rootManifest.size} bytes; its chunks hold ${bytes.length}`)
  const actual = sha256Of(bytes)
  if (actual !== rootManifest.sha256) throw new BlobError(ErrorCode.blobHashMismatch, root, `blob ${root}: content hashes to ${actual}, the manifest says ${rootManifest.sha256}`)
  return { manifest: rootManifest, bytes, chunks: plan.length }
}

async function expand(source: BlobSource, name: string, m: BlobManifest, path: string[], plan: Planned[], limits: ResolveLimits): Promise<void> {
  for (const c of m.chunks) {
    if (!c.manifest) {
      if (plan.length >= limits.maxChunks) throw new BlobError(ErrorCode.blobTooManyChunks, path[0] as string, `blob ${path[0]} has more than ${limits.maxChunks} chunks`)
      plan.push({ sha256: c.sha256, size: c.size })
      continue
    }
    if (path.length > limits.maxDepth) throw new BlobError(ErrorCode.blobLoop, name, `blob ${path[0]} nests manifests deeper than ${limits.maxDepth}`)
    const sub = await fetchManifest(source, c.sha256, limits, path)
    if (sub.size !== c.size) throw new BlobError(ErrorCode.blobSizeMismatch, c.sha256, `manifest ${name} says ${c.sha256} holds ${c.size} bytes; it declares ${sub.size}`)
    await expand(source, c.sha256, sub, [...path, c.sha256], plan, limits)
  }
}

/** One chunk, checked; a bad copy is refused and one more is asked for. */
async function fetchChunk(source: BlobSource, c: Planned): Promise<Buffer> {
  for (let attempt = 1; ; attempt++) {
    const bytes = await source.get(c.sha256, c.size)
    const actual = sha256Of(bytes)
    if (actual === c.sha256) {
      // the right bytes: a size other than declared is the manifest's lie, and no other copy mends it
      if (bytes.length !== c.size) throw new BlobError(ErrorCode.blobSizeMismatch, c.sha256, `chunk ${c.sha256} is ${bytes.length} bytes; its manifest says ${c.size}`)
      source.verified?.(c.sha256, bytes)
      return bytes
    }
    const fault = new BlobError(ErrorCode.blobHashMismatch, c.sha256, `chunk bytes hash to ${actual}, not ${c.sha256}`)
    source.refuse?.(c.sha256, fault)
    if (attempt >= 2) throw fault
  }
}
