/**
 * protocol/results-tree.ts against the contract: every proof verifies on-chain
 * (PaymentChannels.verifyResult = OpenZeppelin MerkleProof), and the TypeScript leaf equals
 * PaymentChannels.resultLeaf. (The tree itself: protocol/results-tree.test.ts.)
 *
 *   node --import tsx contracts/channels/results-tree.test.ts
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ZeroHash, keccak256, toUtf8Bytes } from 'ethers'
import { ResultsTree, jobIdHash, resultLeaf } from '../../protocol/results-tree.ts'
import { useChain } from '../../test/support/chain.ts'

const chain = useChain(test)
const t = chain.test

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
