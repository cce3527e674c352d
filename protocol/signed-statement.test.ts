import nacl from 'tweetnacl'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { signAssignment, assignmentSignedByItsRequester } from './assignment.ts'
import { bidSignedBy, signBid } from './bid-signature.ts'
import { identityFromSeed } from './identity.ts'
import { judgeBeat, judgeOffline, judgeOnline, markAfter, presenceSignedByItsAgent } from './presence-signature.ts'
import { signStatement, statementBytes, verifyStatement } from './signed-statement.ts'

// RFC 8032 §7.1 TEST 1 key
const ID = identityFromSeed(Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex'))
const OTHER = identityFromSeed(Buffer.alloc(32, 7))

test('the signed bytes are the documented ones: the kind line, then canonical JSON without the signature (checked with tweetnacl)', () => {
  const beat = { id: ID.id, epoch: 5, seq: 2, load: { running: 1, queued: 0 } }
  const sig = signStatement('heartbeat', beat, ID.signer)
  const bytes = Buffer.from(`fogmesh/heartbeat/v1\n{"epoch":5,"id":"${ID.id}","load":{"queued":0,"running":1},"seq":2}`)
  assert.equal(statementBytes('heartbeat', { ...beat, signature: sig }), bytes)
  assert.ok(nacl.sign.detached.verify(bytes, Buffer.from(sig, 'base64'), Buffer.from(ID.publicKeyHex, 'hex')))
  assert.ok(verifyStatement('heartbeat', { ...beat, signature: sig }, ID.publicKeyHex))
  // the kind is signed: a heartbeat is no bid
  assert.not.ok(verifyStatement('bid', { ...beat, signature: sig }, ID.publicKeyHex))
  // key order and whitespace do not matter, values do; unknown fields are covered
  assert.ok(verifyStatement('heartbeat', JSON.parse(JSON.stringify({ signature: sig, seq: 2, load: { queued: 0, running: 1 }, epoch: 5, id: ID.id }, null, 2)), ID.publicKeyHex))
  assert.not.ok(verifyStatement('heartbeat', { ...beat, seq: 3, signature: sig }, ID.publicKeyHex))
  assert.not.ok(verifyStatement('heartbeat', { ...beat, extra: 1, signature: sig }, ID.publicKeyHex))
  assert.not.ok(verifyStatement('heartbeat', { ...beat, signature: sig }, OTHER.publicKeyHex))
  for (const bad of [undefined, 7, 'short', 'A'.repeat(200)]) assert.not.ok(verifyStatement('heartbeat', { ...beat, signature: bad }, ID.publicKeyHex))
  // one spelling per signature: Node's base64 decoder skips stray characters, the check does not (found by bench/fuzz.bench.ts)
  for (const respelt of [`${sig.slice(0, -1)}?`, `${sig} `, `${sig.slice(0, 40)}\n${sig.slice(40)}`, sig.slice(0, -2), `${sig.slice(0, 85)}${sig[85] === 'A' ? 'B' : 'A'}==`]) {
    assert.not.ok(verifyStatement('heartbeat', { ...beat, signature: respelt }, ID.publicKeyHex), JSON.stringify(respelt))
  }
})

test('assignments: everything but the input is signed; the input is covered by inputSha256', () => {
  const a = signAssignment({
    id: 'j1@s1', attempt: 1, requester: 'r1', replyTo: 'fm/v1/requesters/r1/inbox', module: 'ab'.repeat(32), inputSha256: 'cd'.repeat(32),
    agent: 'a'.repeat(20), requesterKey: ID.publicKeyHex, nonce: '0'.repeat(32), expiresAt: 1_700_000_000_000, input: 'aGk=',
  }, ID.signer) as unknown as Record<string, unknown>
  assert.ok(assignmentSignedByItsRequester(a))
  assert.ok(assignmentSignedByItsRequester({ ...a, input: 'b3RoZXI=' }), 'input is not in the statement (its hash is)')
  for (const [k, v] of [['attempt', 2], ['agent', 'b'.repeat(20)], ['replyTo', 'evil'], ['nonce', '1'.repeat(32)], ['expiresAt', 1], ['inputSha256', 'ee'.repeat(32)], ['limits', { fuel: 1 }]] as const) {
    assert.not.ok(assignmentSignedByItsRequester({ ...a, [k]: v }), k)
  }
  assert.not.ok(assignmentSignedByItsRequester({ ...a, requesterKey: OTHER.publicKeyHex }), 'another key')
})

test('bids verify with the key of the agent they name', () => {
  const bid = signBid({ type: 'bid', offerId: 'o1', agent: ID.id, price: 3, load: { running: 0, queued: 0 }, slots: 2, leaseMs: 30_000 }, ID.signer)
  assert.ok(bidSignedBy(bid, ID.publicKeyHex))
  assert.not.ok(bidSignedBy({ ...bid, price: 0 }, ID.publicKeyHex))
  assert.not.ok(bidSignedBy(bid, OTHER.publicKeyHex))
})

test('presence: signed by the key its id derives from, or refused', () => {
  const body = { status: 'offline', id: ID.id, name: 'a', reason: 'lost', epoch: 9, publicKey: ID.publicKeyHex }
  assert.ok(presenceSignedByItsAgent({ ...body, signature: signStatement('presence', body, ID.signer) }))
  assert.not.ok(presenceSignedByItsAgent({ ...body, publicKey: OTHER.publicKeyHex, signature: signStatement('presence', { ...body, publicKey: OTHER.publicKeyHex }, OTHER.signer) }), "a key that is not the id's")
  assert.not.ok(presenceSignedByItsAgent({ ...body, signature: signStatement('presence', body, OTHER.signer) }))
  assert.not.ok(presenceSignedByItsAgent({ ...body }))
})

test('the order rule: later epochs win; within one, higher seqs until the epoch ends; beats only for the current epoch', () => {
  let m = markAfter(undefined, { status: 'online', epoch: 10, seq: 0 })
  assert.is(judgeOnline(m, { epoch: 10, seq: 0 }), 'stale', 'a replay of the same presence')
  assert.is(judgeOnline(m, { epoch: 10, seq: 1 }), 'accept')
  assert.is(judgeOnline(m, { epoch: 9, seq: 99 }), 'stale', 'an older epoch')
  assert.is(judgeOffline(m, { epoch: 9 }), 'stale', "an older epoch's will")
  assert.is(judgeBeat(m, { epoch: 10, seq: 0 }), 'accept')
  m.beatSeq = 4
  assert.is(judgeBeat(m, { epoch: 10, seq: 4 }), 'stale', 'a replayed beat')
  assert.is(judgeBeat(m, { epoch: 11, seq: 5 }), 'stale', 'a beat of an epoch not announced')
  assert.is(judgeOffline(m, { epoch: 10 }), 'accept')
  m = markAfter(m, { status: 'offline', epoch: 10 })
  assert.ok(m.ended)
  assert.is(judgeOnline(m, { epoch: 10, seq: 7 }), 'stale', 'an ended epoch stays ended')
  assert.is(judgeOffline(m, { epoch: 10 }), 'stale')
  assert.is(judgeBeat(m, { epoch: 10, seq: 9 }), 'stale')
  assert.is(judgeOnline(m, { epoch: 11, seq: 0 }), 'accept', 'a new connection')
  m = markAfter(m, { status: 'online', epoch: 11, seq: 0 })
  assert.equal([m.ended, m.beatSeq], [false, -1])
})

test.run()
