/**
 * Batch signatures end to end on results and assignments: a known-answer vector anyone can
 * rebuild from docs/contract.md, both forms verifying, every field of a batch proof tampered
 * with and refused by name (never a throw), the cache of verified roots bounded and used.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { assignmentSignedByItsRequester, signAssignment, signAssignmentBatched } from './assignment.ts'
import { batchProofSchema, batchStatement, VerifiedRoots, verifyBatched } from './batch-signature.ts'
import { BatchSigner } from './batch-signer.ts'
import { ephemeralIdentity } from './identity.ts'
import { assignSchema, resultSchema } from './messages.ts'
import { createSigner, resultSignatureProblem, resultStatement, signResult, verifyResult, type SignedResultFields } from './signature.ts'
import { parseValue } from './validate.ts'

// ---- the known answer (docs/contract.md, "Batch signatures") -----------------------------------

const SEED = Buffer.alloc(32, 7)
const PUB = 'ea4a6c63e29c520abef5507b132ec5f9954776aebebe7b92421eea691446d22c'
const fields = (i: number): SignedResultFields => ({
  id: `job-${i}@0123456789ab`, agent: 'a'.repeat(20), module: '1'.repeat(64), inputSha256: '2'.repeat(64), status: 'ok', outputSha256: '3'.repeat(64), fuel: 1000 + i,
})
const KAT = {
  root: '859ce869d91f5a5b805ca908602bd4d9621183bd7fabca7fa9dda3b5b0d28dc4',
  signature: 'BM20NF50IO/HI5hyyu2p5BQ4hLpTsqLyHNVpg/V/wR5s8yPLui7nPa0Q0s3IbFh8WNJ335xnxTgaYge555C2CA==',
  proofs: [
    ['b3fc6b45e739a20c2b5cec1cf606210014b1cdf9efdc200770bc74bb08369642', '4e7d0b6f3fc22882dc1e3e523bc33ea0d043a13bfa2f4496e446df74c27509ee'],
    ['e9c149e72da9c4e5a61516237441177847ab2d247e463d4617bd714aa1d46a82', '4e7d0b6f3fc22882dc1e3e523bc33ea0d043a13bfa2f4496e446df74c27509ee'],
    ['de2d72509b602226ceff864276b818fd1c13d69302c0a941d4418dca6f414af4'],
  ],
}

async function katBatch() {
  const signer = createSigner(SEED)
  const b = new BatchSigner('result', signer)
  return Promise.all([0, 1, 2].map((i) => b.sign(resultStatement(fields(i)))))
}

test('known answer: three results of one turn, their root, proofs and the one signature', async () => {
  assert.is(Buffer.from(createSigner(SEED).publicKey).toString('hex'), PUB)
  const signed = await katBatch()
  signed.forEach((s, i) => {
    assert.is(s.signature, KAT.signature)
    assert.equal(s.batch, { size: 3, index: i, root: KAT.root, proof: KAT.proofs[i] })
  })
  // the signed bytes are exactly these, and the tweetnacl backend gives the same signature
  const tweet = createSigner(SEED, 'tweetnacl').sign(Buffer.from(`fogmesh/result-batch/v1\n3\n${KAT.root}`))
  assert.is(Buffer.from(tweet).toString('base64'), KAT.signature)
  assert.equal(batchStatement('result', 3, KAT.root), Buffer.from(`fogmesh/result-batch/v1\n3\n${KAT.root}`))
})

test('both forms verify with verifyResult; a batch of one is the single form', async () => {
  const signed = await katBatch()
  signed.forEach((s, i) => assert.ok(verifyResult({ ...fields(i), ...s }, PUB), `batched ${i}`))
  const single = signResult(fields(0), createSigner(SEED))
  assert.ok(verifyResult({ ...fields(0), signature: single }, PUB), 'single form')
  const lone = await new BatchSigner('result', createSigner(SEED)).sign(resultStatement(fields(0)))
  assert.equal(lone, { signature: single }, 'a lone statement: its own signature, no batch')
  assert.not.ok(verifyResult({ ...fields(0), signature: KAT.signature }, PUB), 'the batch signature alone is not a result signature')
})

test('tampered leaf, index, size, root, proof or signature: refused with the field named, never thrown', async () => {
  const [s0, s1] = await katBatch()
  const r0 = { ...fields(0), ...s0! }
  const cases: Array<[string, Record<string, unknown>, RegExp]> = [
    ['leaf (fuel)', { ...r0, fuel: 9 }, /batch\.proof/],
    ['leaf (status)', { ...r0, status: 'error' }, /batch\.proof/],
    ['index', { ...r0, batch: { ...s0!.batch!, index: 1 } }, /batch\.proof/],
    ['index past the end', { ...r0, batch: { ...s0!.batch!, index: 3 } }, /batch\.index/],
    ['size', { ...r0, batch: { ...s0!.batch!, size: 4 } }, /signature/],
    ['root', { ...r0, batch: { ...s0!.batch!, root: 'f'.repeat(64) } }, /batch\.proof/],
    ['a sibling', { ...r0, batch: { ...s0!.batch!, proof: [s0!.batch!.proof[0], 'e'.repeat(64)] } }, /batch\.proof/],
    ["another leaf's proof", { ...r0, batch: s1!.batch }, /batch\.proof/],
    ['proof too short', { ...r0, batch: { ...s0!.batch!, proof: [s0!.batch!.proof[0]] } }, /batch\.proof: expected 2 hashes/],
    ['proof too long', { ...r0, batch: { ...s0!.batch!, proof: Array(33).fill('a'.repeat(64)) } }, /batch\.proof/],
    ['not hex', { ...r0, batch: { ...s0!.batch!, proof: ['zz', 'yy'] } }, /batch\.proof\[0\]/],
    ['size 1', { ...r0, batch: { ...s0!.batch!, size: 1, index: 0, proof: [] } }, /batch\.size/],
    ['not an object', { ...r0, batch: 'x' }, /batch/],
    ['signature', { ...r0, signature: signResult(fields(0), createSigner(Buffer.alloc(32, 8))) }, /signature/],
    ['signature not base64', { ...r0, signature: '!!' }, /signature/],
  ]
  for (const [what, r, reason] of cases) {
    let why: string | undefined
    try {
      why = resultSignatureProblem(r as never, PUB)
    } catch (err) {
      assert.unreachable(`${what}: threw ${(err as Error).message}`)
    }
    assert.ok(why !== undefined, `${what}: accepted`)
    assert.match(why!, reason, `${what}: ${why}`)
  }
  assert.not.ok(verifyResult({ ...r0 }, 'b'.repeat(64)), 'another key')
})

test('the wire schemas take a batch proof with bounds and name the field', async () => {
  const [s0] = await katBatch()
  const wire = { type: 'result', attempt: 1, durationMs: 1, ...fields(0), ...s0 }
  const d = parseValue(wire, resultSchema)
  assert.ok(d.ok && d.value.batch?.root === KAT.root)
  const bad = parseValue({ ...wire, batch: { ...s0!.batch, index: 7 } }, resultSchema)
  assert.ok(!bad.ok && /batch\.index/.test(bad.error.message), !bad.ok ? bad.error.message : '')
  const long = parseValue({ ...wire, batch: { ...s0!.batch, size: 2 ** 33 } }, resultSchema)
  assert.ok(!long.ok && /batch\.size/.test(long.error.message))
  assert.ok(!parseValue({ size: 2, index: 0, root: KAT.root, proof: [] }, (v) => batchProofSchema(v, 'batch')).ok, 'a proof of the wrong length')
})

test('a batch signature is checked once per cache, every proof every time; the cache is bounded', async () => {
  const signed = await katBatch()
  const cache = new VerifiedRoots(2)
  for (let round = 0; round < 2; round++) {
    signed.forEach((s, i) => assert.ok(verifyBatched('result', resultStatement(fields(i)), s.batch, s.signature, PUB, cache).ok))
  }
  assert.is(cache.size, 1)
  assert.is(cache.hits, 5, 'one verification, five hits')
  // a cached root does not let a wrong leaf or another key through
  assert.not.ok(verifyBatched('result', resultStatement({ ...fields(0), fuel: 1 }), signed[0]!.batch, signed[0]!.signature, PUB, cache).ok)
  assert.not.ok(verifyBatched('result', resultStatement(fields(0)), signed[0]!.batch, signed[0]!.signature, 'c'.repeat(64), cache).ok)
  // nor the same root under the other kind
  assert.not.ok(verifyBatched('assign', resultStatement(fields(0)), signed[0]!.batch, signed[0]!.signature, PUB, cache).ok)
  for (let n = 0; n < 5; n++) cache.add(`k${n}`)
  assert.is(cache.size, 2, 'bounded')
  assert.throws(() => new VerifiedRoots(0))
})

test('the signer closes a batch at maxLeaves and signs what is left at the end of the turn', async () => {
  const signer = createSigner(SEED)
  const b = new BatchSigner('result', signer, { maxLeaves: 4 })
  const all = await Promise.all(Array.from({ length: 10 }, (_, i) => b.sign(resultStatement(fields(i)))))
  assert.equal(all.map((s) => s.batch?.size ?? 1), [4, 4, 4, 4, 4, 4, 4, 4, 2, 2])
  assert.equal(b.stats, { batches: 3, statements: 10 })
  all.forEach((s, i) => assert.ok(verifyResult({ ...fields(i), ...s }, PUB), `result ${i}`))
  // statements of different turns are different batches
  const first = await b.sign(resultStatement(fields(0)))
  const second = await b.sign(resultStatement(fields(1)))
  assert.is(first.batch, undefined)
  assert.is(second.batch, undefined)
  assert.throws(() => new BatchSigner('result', signer, { maxWaitMs: 5 }), /maxWaitMs/)
  const windowed = new BatchSigner('result', signer, { maxWaitMs: 1 })
  const [a, c] = await Promise.all([windowed.sign(resultStatement(fields(0))), windowed.sign(resultStatement(fields(1)))])
  assert.is(a.batch?.size, 2)
  assert.is(c.batch?.index, 1)
})

test('a lone statement (nothing else in flight) is signed at once in the single form; the rest of its turn still batches', async () => {
  const signer = createSigner(SEED)
  const b = new BatchSigner('result', signer)
  let signedInTurn = false
  const lone = b.sign(resultStatement(fields(0)), true).then((s) => ((signedInTurn = true), s))
  await Promise.resolve()
  await Promise.resolve()
  assert.ok(signedInTurn, 'signed before the end of the turn (a microtask, no setImmediate)')
  assert.is((await lone).batch, undefined)
  assert.ok(verifyResult({ ...fields(0), ...(await lone) }, PUB))
  // more in the same turn, alone or not: one batch at its end
  const rest = await Promise.all([b.sign(resultStatement(fields(1)), true), b.sign(resultStatement(fields(2)))])
  assert.equal(rest.map((s) => s.batch?.size), [2, 2])
  rest.forEach((s, i) => assert.ok(verifyResult({ ...fields(i + 1), ...s }, PUB), `result ${i + 1}`))
  // a new turn: a lone one goes at once again
  await new Promise((r) => setImmediate(r))
  assert.is((await b.sign(resultStatement(fields(3)), true)).batch, undefined)
  assert.equal(b.stats, { batches: 3, statements: 4 })
})

test('assignments: batch form verifies from its own requesterKey, single form still does, nothing else does', async () => {
  const id = ephemeralIdentity()
  const base = (i: number) => ({
    id: `j${i}@abc`, attempt: 1, requester: 'r1', replyTo: 'inbox/r1', module: 'ab'.repeat(32), inputSha256: 'cd'.repeat(32), agent: 'f'.repeat(20),
    requesterKey: id.publicKeyHex, nonce: String(i).padStart(32, '0'), expiresAt: 1e13, input: 'aGVsbG8=', batchResults: true,
  })
  const b = new BatchSigner('assign', id.signer)
  const wires = (await Promise.all([0, 1, 2].map((i) => signAssignmentBatched(base(i), b)))) as unknown as Record<string, unknown>[]
  const cache = new VerifiedRoots()
  for (const w of wires) {
    assert.ok(w.batch, 'batch form')
    assert.ok(parseValue(w, assignSchema).ok, 'the schema takes it')
    assert.ok(assignmentSignedByItsRequester(w, cache))
    assert.ok(assignmentSignedByItsRequester({ ...w, input: 'b3RoZXI=' }, cache), 'input is not signed (its hash is)')
    assert.not.ok(assignmentSignedByItsRequester({ ...w, attempt: 2 }, cache), 'attempt')
    assert.not.ok(assignmentSignedByItsRequester({ ...w, agent: 'e'.repeat(20) }, cache), 'agent')
    assert.not.ok(assignmentSignedByItsRequester({ ...w, extra: 1 }, cache), 'an added field')
    assert.not.ok(assignmentSignedByItsRequester({ ...w, batch: { ...(w.batch as object), index: 9 } }, cache), 'index')
    const { batch: _b, ...noBatch } = w
    assert.not.ok(assignmentSignedByItsRequester(noBatch, cache), 'the batch signature read as a single one')
  }
  assert.is(cache.size, 1)
  const single = signAssignment(base(3), id.signer) as unknown as Record<string, unknown>
  assert.ok(assignmentSignedByItsRequester(single, cache), 'single form')
  assert.not.ok(assignmentSignedByItsRequester({ ...single, batch: wires[0]!.batch }, cache), 'a borrowed proof')
  assert.not.ok(assignmentSignedByItsRequester({ ...wires[0]!, requesterKey: ephemeralIdentity().publicKeyHex }, cache), 'another key')
  assert.not.ok(assignmentSignedByItsRequester({ ...wires[0]!, batch: { size: 'x' } }, cache), 'malformed batch: false, not a throw')
})

test.run()
