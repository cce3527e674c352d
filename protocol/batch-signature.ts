/**
 * Batch signatures: one ed25519 signature over the root of a Merkle tree (protocol/batch-tree.ts)
 * of the statements a signer made in one event-loop turn, each statement travelling with its
 * own inclusion proof — so signing costs one signature per turn, and verification stays per
 * message for anyone: the statement is rebuilt from the message, hashed into its leaf, walked
 * up its proof to the root, and the root's signature checked with the signer's key.
 *
 * The signed bytes of a batch (docs/contract.md, "Batch signatures"):
 *
 *   fogmesh/<kind>-batch/v1 \n <size, decimal> \n <root, 64 lowercase hex>
 *
 * with `kind` `result` (agent results, protocol/signature.ts) or `assign` (requester
 * assignments, protocol/assignment.ts). The leaves are the very bytes the single form signs
 * (`resultStatement`, the `assign` statement), so one message's meaning never depends on which
 * form carries it. On the wire: `signature` is the batch's signature and
 *
 *   "batch": { "size": n, "index": i, "root": "<hex>", "proof": ["<hex>", ...] }
 *
 * A batch of one is never made: a lone statement is signed on its own (the single form, which
 * every older verifier checks).
 *
 * Verifiers remember the batches whose signature they checked (`VerifiedRoots`, bounded), so a
 * batch's signature is checked once per process while every message's proof is still checked.
 */
import { signatureBytes, verifySignature } from './signature.ts'
import { leafHash, rootFromProof } from './batch-tree.ts'
import { batchProofSchema, type BatchProof } from './batch-proof.ts'
import { parseValue } from './validate.ts'

export { batchProofSchema, type BatchProof, type BatchProofWire } from './batch-proof.ts'

export type BatchKind = 'result' | 'assign'

/** The bytes a batch's signature covers. */
export function batchStatement(kind: BatchKind, size: number, root: string): Buffer {
  return Buffer.from(`fogmesh/${kind}-batch/v1\n${size}\n${root}`)
}

/** Default bound of `VerifiedRoots`. */
export const VERIFIED_ROOTS_MAX = 4096

/**
 * Batches whose signature verified, by (kind, key, size, root, signature): bounded, the oldest
 * forgotten first (a forgotten batch is just checked again). Only verified facts go in, so an
 * entry is true for everyone; a flood of batches costs re-verification, never a false accept.
 */
export class VerifiedRoots {
  private readonly seen = new Map<string, true>()
  hits = 0

  constructor(readonly max = VERIFIED_ROOTS_MAX) {
    if (!Number.isInteger(max) || max < 1) throw new RangeError('VerifiedRoots max: a positive integer')
  }

  get size(): number {
    return this.seen.size
  }

  has(key: string): boolean {
    const hit = this.seen.has(key)
    if (hit) this.hits++
    return hit
  }

  add(key: string): void {
    if (this.seen.has(key)) return
    if (this.seen.size >= this.max) this.seen.delete(this.seen.keys().next().value as string)
    this.seen.set(key, true)
  }
}

/** The process's cache, shared by every verifier in it (results and assignments: the kind is in the key). */
export const verifiedRoots = new VerifiedRoots()

export type BatchCheck = { ok: true } | { ok: false; reason: string }

/**
 * Whether `statement` is in the batch `batch` describes and that batch is signed by
 * `publicKeyHex` with `signature` (base64). Never throws: anything malformed is a reason.
 */
export function verifyBatched(
  kind: BatchKind,
  statement: Uint8Array,
  batch: unknown,
  signature: unknown,
  publicKeyHex: string,
  cache: VerifiedRoots = verifiedRoots,
): BatchCheck {
  const parsed = parseValue(batch, (v) => batchProofSchema(v, 'batch'))
  if (!parsed.ok) return { ok: false, reason: parsed.error.shortMessage }
  return verifyBatchProof(kind, statement, parsed.value, signature, publicKeyHex, cache)
}

/**
 * As `verifyBatched`, for a `batch` its message's schema parsed already (batchProofSchema: the
 * assignment's `batch` field) — the proof is not validated a second time. Never throws.
 */
export function verifyBatchProof(
  kind: BatchKind,
  statement: Uint8Array,
  b: BatchProof,
  signature: unknown,
  publicKeyHex: string,
  cache: VerifiedRoots = verifiedRoots,
): BatchCheck {
  const sig = signatureBytes(signature)
  if (!sig) return { ok: false, reason: 'signature: not an ed25519 signature in canonical base64' }
  const root = rootFromProof(leafHash(statement), b.index, b.size, b.proof.map((h) => Buffer.from(h, 'hex')))
  if (!root || root.toString('hex') !== b.root) return { ok: false, reason: 'batch.proof: does not lead from this message to batch.root' }
  const key = `${kind}\n${publicKeyHex}\n${b.size}\n${b.root}\n${signature as string}`
  if (cache.has(key)) return { ok: true }
  if (!verifySignature(batchStatement(kind, b.size, b.root), sig, publicKeyHex)) return { ok: false, reason: 'signature: the batch root is not signed by this key' }
  cache.add(key)
  return { ok: true }
}
