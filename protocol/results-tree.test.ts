/**
 * protocol/results-tree.ts: the incremental root equals a plain level-by-level build, and every
 * proof verifies in TypeScript (the on-chain checks: contracts/channels/results-tree.test.ts).
 *
 *   node --import tsx protocol/results-tree.test.ts
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ZeroHash, hexlify, randomBytes } from 'ethers'
import { ResultsTree, hashPair, merkleRoot, verifyMerkleProof } from './results-tree.ts'

const leaves = (n: number) => Array.from({ length: n }, () => hexlify(randomBytes(32)))

/** The textbook build: pair neighbours, carry an odd last node up unchanged. */
function referenceRoot(ls: string[]): string {
  if (ls.length === 0) return ZeroHash
  let level = ls
  while (level.length > 1) {
    const next: string[] = []
    for (let i = 0; i < level.length; i += 2) next.push(i + 1 < level.length ? hashPair(level[i]!, level[i + 1]!) : level[i]!)
    level = next
  }
  return level[0]!
}

test('incremental root == reference root for 0..80 leaves; every proof verifies; wrong ones do not', () => {
  for (let n = 0; n <= 80; n++) {
    const ls = leaves(n)
    const tree = new ResultsTree()
    for (const [i, l] of ls.entries()) {
      assert.is(tree.append(l), i)
      assert.is(tree.root, referenceRoot(ls.slice(0, i + 1)), `root after ${i + 1} appends`)
    }
    assert.is(merkleRoot(ls), referenceRoot(ls))
    for (let i = 0; i < n; i++) {
      const proof = tree.proof(i)
      assert.ok(proof.length <= Math.ceil(Math.log2(Math.max(n, 1))), 'proof length <= ceil(log2 n)')
      assert.ok(verifyMerkleProof(tree.root, proof, ls[i]!), `proof ${i}/${n}`)
      if (n > 1) assert.not.ok(verifyMerkleProof(tree.root, proof, ls[(i + 1) % n]!), `proof ${i} does not fit leaf ${(i + 1) % n}`)
    }
  }
  assert.is(new ResultsTree().root, ZeroHash)
  assert.throws(() => new ResultsTree().proof(0), RangeError)
})

test.run()
