/**
 * The batch tree against RFC 6962 / RFC 9162's published reference data (Certificate
 * Transparency's test leaves, tree heads and inclusion proofs), then every leaf of every tree
 * shape up to 33 leaves, and the ways a proof can lie.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { leafHash, nodeHash, proofLength, rootFromProof, treeRoot, treeWithProofs } from './batch-tree.ts'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')
const unhex = (h: string) => Buffer.from(h, 'hex')

// RFC 6962 reference leaves and the tree heads of their first 1..8
const CT_DATA = ['', '00', '10', '2021', '3031', '40414243', '5051525354555657', '606162636465666768696a6b6c6d6e6f'].map(unhex)
const CT_ROOTS = [
  '6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d',
  'fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125',
  'aeb6bcfe274b70a14fb067a5e5578264db0fa9b51af5e0ba159158f329e06e77',
  'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7',
  '4e3bbb1f7b478dcfe71fb631631519a3bca12c9aefca1612bfce4c13a86264d4',
  '76e67dadbcdf1e10e1b74ddc608abd2f98dfb16fbce75277b5232a127f2087ef',
  'ddb89be403809e325750d3d263cd78929c2942b7942a34b77e122c9594a74c8c',
  '5dc9da79a70659a9ad559cb701ded9a2ab9d823aad2f4960cfe370eff4604328',
]
// RFC 6962 reference inclusion proofs (0-based leaf index)
const CT_PROOFS = [
  { index: 0, size: 8, proof: ['96a296d224f285c67bee93c30f8a309157f0daa35dc5b87e410b78630a09cfc7', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', '6b47aaf29ee3c2af9af889bc1fb9254dabd31177f16232dd6aab035ca39bf6e4'] },
  { index: 5, size: 8, proof: ['bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b', 'ca854ea128ed050b41b35ffc1b87b8eb2bde461e9e3b5596ece6b9d5975a0ae0', 'd37ee418976dd95753c1c73862b9398fa2a2cf9b4ff0fdfe8b30cd95209614b7'] },
  { index: 2, size: 3, proof: ['fac54203e7cc696cf0dfcb42c92a1d9dbaf70ad9e621f4bd8d98662f00e3c125'] },
  { index: 1, size: 5, proof: ['6e340b9cffb37a989ca544e6bb780a2c78901d3fb33738768511a30617afa01d', '5f083f0a1a33ca076a95279832580db3e0ef4584bdff1f54c8a360f50de3031e', 'bc1a0643b12e4d2d7c77918f44e0f4f79a838b6cf9ec5b5c283e1f4d88599e6b'] },
]
const CT_LEAVES = CT_DATA.map(leafHash)

test('tree heads match RFC 6962 for 1..8 leaves', () => {
  for (let n = 1; n <= 8; n++) {
    assert.is(hex(treeRoot(CT_LEAVES.slice(0, n))), CT_ROOTS[n - 1], `size ${n}`)
    assert.is(hex(treeWithProofs(CT_LEAVES.slice(0, n)).root), CT_ROOTS[n - 1], `size ${n} (with proofs)`)
  }
})

test('inclusion proofs match and verify as RFC 6962 says', () => {
  for (const v of CT_PROOFS) {
    const leaves = CT_LEAVES.slice(0, v.size)
    assert.equal(treeWithProofs(leaves).proofs[v.index]!.map(hex), v.proof, `proof of ${v.index} in ${v.size}`)
    const root = rootFromProof(CT_LEAVES[v.index]!, v.index, v.size, v.proof.map(unhex))
    assert.is(root && hex(root), CT_ROOTS[v.size - 1])
  }
})

test('every leaf of every tree up to 33 leaves proves its place, and not a neighbour\'s', () => {
  for (let size = 1; size <= 33; size++) {
    const leaves = Array.from({ length: size }, (_, i) => leafHash(Buffer.from([i, size])))
    const { root, proofs } = treeWithProofs(leaves)
    assert.is(hex(root), hex(treeRoot(leaves)))
    for (let i = 0; i < size; i++) {
      const proof = proofs[i]!
      assert.is(proof.length, proofLength(i, size), `length of ${i}/${size}`)
      assert.is(hex(rootFromProof(leaves[i]!, i, size, proof)!), hex(root), `${i}/${size}`)
      // another index, another size, another leaf: never this root
      for (const j of [i - 1, i + 1]) {
        const r = j >= 0 && j < size ? rootFromProof(leaves[i]!, j, size, proof) : undefined
        assert.ok(!r || !r.equals(root), `leaf ${i} passed as ${j} of ${size}`)
      }
      // (the root alone does not pin the size — leaf 0 of 3 proves the same way in a "tree of 4" —
      // which is why the signed batch statement names the size: protocol/batch-signature.test.ts)
      if (size > 1) assert.ok(!rootFromProof(leaves[(i + 1) % size]!, i, size, proof)!.equals(root), `another leaf at ${i}/${size}`)
    }
  }
})

test('proofs that do not fit their position are refused, not stretched', () => {
  const leaves = CT_LEAVES
  const { root, proofs } = treeWithProofs(leaves)
  const p = proofs[5]!
  assert.is(rootFromProof(leaves[5]!, 5, 8, p.slice(0, 2)), undefined, 'too short')
  assert.is(rootFromProof(leaves[5]!, 5, 8, [...p, p[0]!]), undefined, 'too long')
  assert.is(rootFromProof(leaves[5]!, 8, 8, p), undefined, 'index outside the tree')
  assert.is(rootFromProof(leaves[5]!, -1, 8, p), undefined, 'negative index')
  assert.is(rootFromProof(leaves[5]!, 1.5, 8, p), undefined, 'fractional index')
  assert.is(rootFromProof(leaves[5]!, 5, 2 ** 32 + 1, p), undefined, 'a tree larger than a proof can address')
  const flipped = p.map((h, k) => (k === 1 ? Buffer.from(h.map((x, j) => (j === 0 ? x ^ 1 : x))) : h))
  assert.ok(!rootFromProof(leaves[5]!, 5, 8, flipped)!.equals(root), 'a changed sibling')
  assert.is(proofLength(0, 1), 0)
  assert.is(proofLength(4, 5), 1)
  assert.is(proofLength(5, 5), undefined)
})

test('a node is never a leaf: the inner hash of two leaves does not prove as a leaf (no second preimage)', () => {
  const leaves = CT_LEAVES.slice(0, 4)
  const { root } = treeWithProofs(leaves)
  const inner = nodeHash(leaves[0]!, leaves[1]!)
  // the two-leaf subtree presented as one leaf of a tree of 2 with sibling nodeHash(l2, l3)
  const other = nodeHash(leaves[2]!, leaves[3]!)
  assert.ok(rootFromProof(inner, 0, 2, [other])!.equals(root), 'as raw hashes the subtree does lead to the root...')
  // ...but a message is only ever hashed as a leaf, with its 0x00 prefix: no statement's leaf is that node
  assert.not.ok(leafHash(Buffer.concat([leaves[0]!, leaves[1]!])).equals(inner), 'leafHash(l0 ‖ l1) is not nodeHash(l0, l1)')
  assert.not.ok(rootFromProof(leafHash(Buffer.concat([Buffer.from([1]), leaves[0]!, leaves[1]!])), 0, 2, [other])!.equals(root))
})

test.run()
