/**
 * A message's place in its signing batch, as it travels (`"batch": {size, index, root, proof}`,
 * protocol/batch-signature.ts), and its boundary parser — without any hashing, so the schemas of
 * protocol/messages.ts stay free of node:crypto (the console's browser bundle imports them).
 * The tree itself is protocol/batch-tree.ts (RFC 9162).
 */
import { array, number, object, sha256Hex, type Infer, type Parser } from './validate.ts'
import { ValidationError } from './errors.ts'

/** The most leaves a proof can address: 2^32 (a proof of at most 32 hashes). */
export const MAX_TREE_SIZE = 2 ** 32
export const MAX_PROOF_HASHES = 32

/** The largest power of two strictly below n (n ≥ 2). */
export function split(n: number): number {
  let k = 1
  while (k * 2 < n) k *= 2
  return k
}

/** How many hashes the inclusion proof of leaf `index` in a tree of `size` has (undefined: no such leaf). */
export function proofLength(index: number, size: number): number | undefined {
  if (!Number.isInteger(index) || !Number.isInteger(size) || index < 0 || index >= size || size > MAX_TREE_SIZE) return undefined
  let n = 0
  for (let from = 0, to = size; to - from > 1; n++) {
    const k = from + split(to - from)
    if (index < k) to = k
    else from = k
  }
  return n
}

/** A message's place in its batch, as it travels. */
export interface BatchProof {
  size: number
  index: number
  root: string
  proof: string[]
}

const batchShape = object({
  size: number({ min: 2, max: MAX_TREE_SIZE, integer: true }),
  index: number({ min: 0, max: MAX_TREE_SIZE - 1, integer: true }),
  root: sha256Hex,
  proof: array(sha256Hex, { max: MAX_PROOF_HASHES }),
})

/** The boundary parser of `batch`: the field named when the index is outside the tree or the proof is not that leaf's length. */
export const batchProofSchema: Parser<BatchProof> = (v, path) => {
  const b = batchShape(v, path)
  if (b.index >= b.size) throw new ValidationError(fieldAt(path, 'index'), `an index below size (${b.size})`)
  const need = proofLength(b.index, b.size)
  if (b.proof.length !== need) throw new ValidationError(fieldAt(path, 'proof'), `${need} hashes for leaf ${b.index} of ${b.size}`)
  return b
}

/** Module level: a named closure per parse costs tsx's __name (a defineProperty) on every message. */
const fieldAt = (path: string, f: string) => (path ? `${path}.${f}` : f)
export type BatchProofWire = Infer<typeof batchProofSchema>

