import { test } from 'uvu'
import * as assert from 'uvu/assert'
import nacl from 'tweetnacl'
import { createHash } from 'node:crypto'
import { AuthError } from './errors.ts'
import { checkAgentToken, createAgentToken, looksLikeAgentToken } from './agent-token.ts'
import { createSigner } from './signature.ts'

// RFC 8032 section 7.1 TEST 1 key
const SEED = Buffer.from('9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60', 'hex')
const PUB = 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a'
const NOW = 1_700_000_000_000
const NONCE = '00112233445566778899aabbccddeeff'
const KNOWN = {
  username: '21fe31dfa154a261626b',
  password:
    'fmat1.d75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a.1700000000000.00112233445566778899aabbccddeeff.EN66s3x4VAM9ftvTHoNTdvEP3cYPgrrUu2W3oRB84pN13eowkK1bnqVnfkGIoFQEg2jqKMyY2LJbvzipVXw9CQ',
}

const reason = (f: () => unknown): string => {
  try {
    f()
  } catch (err) {
    assert.instance(err, AuthError)
    return (err as AuthError).reason
  }
  throw new Error('expected an AuthError')
}

test('known answer: the token of the RFC 8032 test key at a fixed time and nonce', () => {
  const t = createAgentToken(createSigner(SEED), { now: NOW, nonce: NONCE })
  assert.equal(t, KNOWN)
  assert.is(t.username, createHash('sha256').update(Buffer.from(PUB, 'hex')).digest('hex').slice(0, 20))
})

test('the signature covers exactly the documented lines (checked with tweetnacl, not our verifier)', () => {
  const sig = Buffer.from(KNOWN.password.split('.')[4]!, 'base64url')
  const statement = Buffer.from(`fogmesh/agent-token/v1\n${KNOWN.username}\n${PUB}\n${NOW}\n${NONCE}`)
  assert.ok(nacl.sign.detached.verify(statement, sig, Buffer.from(PUB, 'hex')))
  assert.ok(!nacl.sign.detached.verify(Buffer.from(`${statement}x`), sig, Buffer.from(PUB, 'hex')))
})

test('check: accepts a fresh token and returns its parts', () => {
  const parts = checkAgentToken(KNOWN.username, KNOWN.password, NOW + 1000, 300_000)
  assert.equal(parts, { id: KNOWN.username, publicKey: PUB, issuedAt: NOW, nonce: NONCE })
  assert.ok(looksLikeAgentToken(KNOWN.password))
  assert.not.ok(looksLikeAgentToken('hunter2'))
})

test('check: each way a token can be wrong has its reason', () => {
  const other = createAgentToken(createSigner(Buffer.alloc(32, 7)), { now: NOW })
  assert.is(reason(() => checkAgentToken(KNOWN.username, 'fmat1.nope', NOW, 300_000)), 'token_malformed')
  assert.is(reason(() => checkAgentToken(KNOWN.username, `${KNOWN.password}x`, NOW, 300_000)), 'token_malformed')
  assert.is(reason(() => checkAgentToken(KNOWN.username, 'x'.repeat(300), NOW, 300_000)), 'token_malformed')
  // someone else's valid token under the victim's id
  assert.is(reason(() => checkAgentToken(KNOWN.username, other.password, NOW, 300_000)), 'token_wrong_id')
  // the victim's key and id with a signature made by another key
  const forged = KNOWN.password.split('.').slice(0, 4).concat(other.password.split('.')[4]!).join('.')
  assert.is(reason(() => checkAgentToken(KNOWN.username, forged, NOW, 300_000)), 'token_bad_signature')
  // a changed timestamp breaks the signature
  const moved = KNOWN.password.replace('.1700000000000.', '.1700000000001.')
  assert.is(reason(() => checkAgentToken(KNOWN.username, moved, NOW, 300_000)), 'token_bad_signature')
  assert.is(reason(() => checkAgentToken(KNOWN.username, KNOWN.password, NOW + 300_001, 300_000)), 'token_expired')
  assert.is(reason(() => checkAgentToken(KNOWN.username, KNOWN.password, NOW - 300_001, 300_000)), 'token_from_future')
})

test('every token is new: fresh nonces, same id', () => {
  const s = createSigner(SEED)
  const a = createAgentToken(s)
  const b = createAgentToken(s)
  assert.is(a.username, b.username)
  assert.is.not(a.password, b.password)
})

test.run()
