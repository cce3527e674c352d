/**
 * contracts/merkle.ts: the incremental root equals a plain level-by-level build, every proof
 * verifies in TypeScript and on-chain (PaymentChannels.verifyResult = OpenZeppelin MerkleProof),
 * and the TypeScript leaf equals PaymentChannels.resultLeaf.
 *
 *   node --import tsx contracts/merkle.test.ts
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ZeroHash, hexlify, keccak256, randomBytes, toUtf8Bytes } from 'ethers'
import { ResultsTree, hashPair, jobIdHash, merkleRoot, resultLeaf, verifyMerkleProof } from './merkle.ts'
import { useChain } from './test-helpers.ts'

const chain = useChain(test)
const t = chain.test

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

t('leaf encoding: TypeScript == Solidity, job id string or its hash, fuel range checked', async () => {
  const { mesh } = chain.ctx
  const cases = [
    { jobId: 'sensor-1-3fa9c2-100000', outputSha256: 'ab'.repeat(32), fuel: 184_233 },
    { jobId: 'x', outputSha256: `0x${'00'.repeat(32)}`, fuel: 0 },
    { jobId: 'ünïcode-✓', outputSha256: keccak256(toUtf8Bytes('o')), fuel: 2n ** 64n - 1n },
  ]
  for (const c of cases) {
    const ts = resultLeaf(c)
    assert.is(ts, resultLeaf({ jobIdHash: jobIdHash(c.jobId), outputSha256: c.outputSha256, fuel: c.fuel }))
    const out = c.outputSha256.startsWith('0x') ? c.outputSha256 : `0x${c.outputSha256}`
    assert.is(await mesh.channels.getFunction('resultLeaf')(jobIdHash(c.jobId), out, c.fuel), ts)
  }
  assert.throws(() => resultLeaf({ jobId: 'a', outputSha256: 'ab'.repeat(32), fuel: 2n ** 64n }), /uint64/)
  assert.throws(() => resultLeaf({ jobId: 'a', outputSha256: 'abc', fuel: 1 }), /32 bytes/)
})

t('proofs verify on-chain (OpenZeppelin MerkleProof) for trees of 1, 2, 3, 7, 64, 1000 results', async () => {
  const { mesh } = chain.ctx
  const verify = mesh.channels.getFunction('verifyResult')
  for (const n of [1, 2, 3, 7, 64, 1000]) {
    const ls = Array.from({ length: n }, (_, i) => resultLeaf({ jobId: `job-${n}-${i}`, outputSha256: keccak256(toUtf8Bytes(`${i}`)), fuel: i }))
    const tree = ResultsTree.from(ls)
    const sample = n <= 64 ? ls.map((_, i) => i) : [0, 1, 2, 511, 512, 998, 999]
    for (const i of sample) assert.ok(await verify(tree.root, tree.proof(i), ls[i]!), `n=${n} leaf ${i}`)
    assert.not.ok(await verify(tree.root, tree.proof(0), resultLeaf({ jobId: 'not-in-it', outputSha256: ZeroHash, fuel: 0 })))
  }
})

test.run()
