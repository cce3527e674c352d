/**
 * The results tree a voucher commits to (`resultsRoot`), compatible with OpenZeppelin's
 * `MerkleProof.verify` (and PaymentChannels.verifyResult).
 *
 * Leaf of one result (PaymentChannels.resultLeaf):
 *   keccak256(bytes.concat(keccak256(abi.encode(bytes32 jobIdHash, bytes32 outputSha256, uint64 fuel))))
 * where jobIdHash = keccak256(utf8(job id)) and outputSha256 is the result's sha256 of its output.
 * Double hashing keeps a leaf from ever being read as an inner node (OpenZeppelin's advice).
 *
 * Tree: leaves in job order (leaf i = the i-th paid job of the channel); each level pairs
 * neighbours, an odd last node moves up unchanged; a pair hashes as keccak256(min(a,b) ‖ max(a,b))
 * (OpenZeppelin's commutative hash, so a proof is just the list of siblings). The root of no
 * leaves is bytes32(0). That shape equals "fold the perfect-subtree peaks from the right", so
 * `ResultsTree.append` and `.root` are O(log n): a requester can sign a new root per job.
 */
import { AbiCoder, getBytes, hexlify, keccak256, toUtf8Bytes, ZeroHash } from 'ethers'
import { ValidationError } from './errors.ts'

export interface ResultLeafInput {
  /** keccak256 of the job id's UTF-8 bytes; or give `jobId` */
  jobIdHash?: string
  jobId?: string
  /** hex sha256 of the output, with or without 0x */
  outputSha256: string
  fuel: bigint | number
}

const abi = AbiCoder.defaultAbiCoder()

export function jobIdHash(jobId: string): string {
  return keccak256(toUtf8Bytes(jobId))
}

function bytes32(hex: string, what: string): string {
  const h = hex.startsWith('0x') ? hex : `0x${hex}`
  if (!/^0x[0-9a-fA-F]{64}$/.test(h)) throw new ValidationError(what, `32 bytes of hex (got ${hex.slice(0, 80)})`)
  return h.toLowerCase()
}

/** The leaf of one result (same as PaymentChannels.resultLeaf). */
export function resultLeaf(r: ResultLeafInput): string {
  const idHash = r.jobIdHash !== undefined ? bytes32(r.jobIdHash, 'jobIdHash') : r.jobId !== undefined ? jobIdHash(r.jobId) : null
  if (idHash === null) throw new ValidationError('jobId', 'a job id, or its keccak256 as jobIdHash')
  const fuel = BigInt(r.fuel)
  if (fuel < 0n || fuel >= 1n << 64n) throw new ValidationError('fuel', `a uint64 (got ${fuel})`)
  const inner = keccak256(abi.encode(['bytes32', 'bytes32', 'uint64'], [idHash, bytes32(r.outputSha256, 'outputSha256'), fuel]))
  return keccak256(inner)
}

// ---- hashing on bytes (hex only at the API boundary) ------------------------------------------

type Node = Uint8Array

function compare(a: Node, b: Node): number {
  for (let i = 0; i < 32; i++) {
    const d = (a[i] as number) - (b[i] as number)
    if (d !== 0) return d
  }
  return 0
}

const pairBuf = new Uint8Array(64)
function hashPairBytes(a: Node, b: Node): Node {
  const [lo, hi] = compare(a, b) <= 0 ? [a, b] : [b, a]
  pairBuf.set(lo, 0)
  pairBuf.set(hi, 32)
  return getBytes(keccak256(pairBuf))
}

/** OpenZeppelin's commutative pair hash (Hashes.commutativeKeccak256). */
export function hashPair(a: string, b: string): string {
  return hexlify(hashPairBytes(getBytes(a), getBytes(b)))
}

function toNode(leaf: string): Node {
  let b: Uint8Array
  try {
    b = getBytes(leaf)
  } catch {
    throw new ValidationError('leaf', '32 bytes of 0x hex')
  }
  if (b.length !== 32) throw new ValidationError('leaf', `32 bytes (got ${b.length})`)
  return b
}

// ---- the tree -----------------------------------------------------------------------------------

/** An append-only results tree. */
export class ResultsTree {
  #leaves: Node[] = []
  /** perfect-subtree roots, largest first: peaks[k] covers 2^height[k] leaves */
  #peaks: Array<{ node: Node; height: number }> = []
  #levels: Node[][] | null = null

  static from(leaves: string[]): ResultsTree {
    const t = new ResultsTree()
    for (const l of leaves) t.append(l)
    return t
  }

  get size(): number {
    return this.#leaves.length
  }

  leaf(index: number): string {
    const l = this.#leaves[index]
    // a RangeError, as for an array: the caller's index, not input from the network
    if (!l) throw new RangeError(`no leaf ${index} (size ${this.size})`)
    return hexlify(l)
  }

  /** Adds a leaf (a 32-byte hex from `resultLeaf`); O(log n). Returns its index. */
  append(leaf: string): number {
    let node = toNode(leaf)
    let height = 0
    this.#leaves.push(node)
    this.#levels = null
    for (let top = this.#peaks.at(-1); top && top.height === height; top = this.#peaks.at(-1)) {
      node = hashPairBytes(top.node, node)
      height++
      this.#peaks.pop()
    }
    this.#peaks.push({ node, height })
    return this.#leaves.length - 1
  }

  /** The root; bytes32(0) when empty. O(log n). */
  get root(): string {
    const peaks = this.#peaks
    if (peaks.length === 0) return ZeroHash
    let acc = (peaks[peaks.length - 1] as { node: Node }).node
    for (let i = peaks.length - 2; i >= 0; i--) acc = hashPairBytes((peaks[i] as { node: Node }).node, acc)
    return hexlify(acc)
  }

  /** The siblings from leaf `index` up to the root, for MerkleProof.verify. O(n) once per change. */
  proof(index: number): string[] {
    if (!Number.isInteger(index) || index < 0 || index >= this.size) throw new RangeError(`no leaf ${index} (size ${this.size})`)
    const levels = this.#allLevels()
    const proof: string[] = []
    let i = index
    for (let h = 0; h < levels.length - 1; h++) {
      const level = levels[h] as Node[]
      const sibling = level[i ^ 1]
      if (sibling) proof.push(hexlify(sibling))
      i >>= 1
    }
    return proof
  }

  #allLevels(): Node[][] {
    if (this.#levels) return this.#levels
    const levels: Node[][] = [this.#leaves.slice()]
    for (let cur = levels[0] as Node[]; cur.length > 1; ) {
      const next: Node[] = []
      for (let j = 0; j < cur.length; j += 2) {
        const right = cur[j + 1]
        next.push(right ? hashPairBytes(cur[j] as Node, right) : (cur[j] as Node))
      }
      levels.push(next)
      cur = next
    }
    this.#levels = levels
    return levels
  }
}

export function merkleRoot(leaves: string[]): string {
  return ResultsTree.from(leaves).root
}

/** OpenZeppelin MerkleProof.processProof + compare, in TypeScript. */
export function verifyMerkleProof(root: string, proof: string[], leaf: string): boolean {
  let acc = toNode(leaf)
  for (const p of proof) acc = hashPairBytes(acc, toNode(p))
  return hexlify(acc) === root.toLowerCase()
}
