/**
 * The Merkle tree of a signing batch (protocol/batch-signature.ts): the statements one signer
 * signed in one event-loop turn under one ed25519 signature over the tree's root.
 *
 * It is the tree of RFC 9162 (Certificate Transparency 2.0, §2.1; the same as RFC 6962) with
 * SHA-256, so it is specified elsewhere to the bit and any CT library can check it:
 *
 *   leaf hash   SHA-256(0x00 ‖ statement bytes)
 *   node hash   SHA-256(0x01 ‖ left ‖ right)
 *   tree of n   MTH(d0..dn-1) = node(MTH(d0..dk-1), MTH(dk..dn-1)), k the largest power of two below n;
 *               MTH of one leaf is its leaf hash
 *
 * The 0x00/0x01 prefixes keep a leaf from ever being read as an inner node (no second
 * preimages), the left/right order is kept (not sorted), and the inclusion proof is checked
 * against the leaf's index *and* the tree's size (RFC 9162 §2.1.3.2), so a proof proves one
 * position in one tree shape. This is not the settlement tree (protocol/results-tree.ts: keccak,
 * commutative pairs, for the EVM) — that one proves membership, not position, and costs a
 * JavaScript keccak per node where this one costs an OpenSSL SHA-256.
 */
import { sha256Prefixed } from './sha256.ts'
import { MAX_PROOF_HASHES, MAX_TREE_SIZE, split } from './batch-proof.ts'

export { MAX_PROOF_HASHES, MAX_TREE_SIZE, proofLength } from './batch-proof.ts'


const LEAF = 0x00
const NODE = 0x01

export function leafHash(statement: Uint8Array): Buffer {
  return sha256Prefixed(LEAF, statement)
}

export function nodeHash(left: Uint8Array, right: Uint8Array): Buffer {
  return sha256Prefixed(NODE, left, right)
}


/** MTH over leaf hashes (at least one). */
export function treeRoot(leaves: readonly Uint8Array[]): Buffer {
  if (leaves.length === 0) throw new RangeError('a batch tree has at least one leaf')
  if (leaves.length === 1) return Buffer.from(leaves[0] as Uint8Array)
  const k = split(leaves.length)
  return nodeHash(treeRoot(leaves.slice(0, k)), treeRoot(leaves.slice(k)))
}

/**
 * The root and every leaf's inclusion proof (RFC 9162 PATH(m, D[n]): the siblings from the leaf
 * up), in one pass: O(n log n) hashes for n leaves.
 */
export function treeWithProofs(leaves: readonly Uint8Array[]): { root: Buffer; proofs: Buffer[][] } {
  if (leaves.length === 0) throw new RangeError('a batch tree has at least one leaf')
  const proofs: Buffer[][] = leaves.map(() => [])
  const build = (from: number, to: number): Buffer => {
    if (to - from === 1) return Buffer.from(leaves[from] as Uint8Array)
    const k = from + split(to - from)
    const left = build(from, k)
    const right = build(k, to)
    for (let i = from; i < k; i++) (proofs[i] as Buffer[]).push(right)
    for (let i = k; i < to; i++) (proofs[i] as Buffer[]).push(left)
    return nodeHash(left, right)
  }
  return { root: build(0, leaves.length), proofs }
}

/**
 * The root that leaf hash `leaf` at `index` of a tree of `size` leads to with `proof`
 * (RFC 9162 §2.1.3.2), or undefined when the proof does not fit that position (too short,
 * too long, an index outside the tree). Compare it with the signed root.
 */
export function rootFromProof(leaf: Uint8Array, index: number, size: number, proof: readonly Uint8Array[]): Buffer | undefined {
  if (!Number.isInteger(index) || !Number.isInteger(size) || index < 0 || index >= size || size > MAX_TREE_SIZE) return undefined
  if (proof.length > MAX_PROOF_HASHES) return undefined
  // fn, sn as in the RFC; numbers up to 2^32 stay exact, so plain arithmetic instead of 32-bit shifts
  let fn = index
  let sn = size - 1
  let r: Buffer = Buffer.from(leaf)
  for (const p of proof) {
    if (sn === 0) return undefined
    if (fn % 2 === 1 || fn === sn) {
      r = nodeHash(p, r)
      while (fn % 2 === 0 && fn !== 0) {
        fn = Math.floor(fn / 2)
        sn = Math.floor(sn / 2)
      }
    } else {
      r = nodeHash(r, p)
    }
    fn = Math.floor(fn / 2)
    sn = Math.floor(sn / 2)
  }
  return sn === 0 ? r : undefined
}
