import { createPrivateKey, createPublicKey, diffieHellman } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { boxKeyPairFromPrivate, boxKeyPairFromSeed, frameSalted, generateBoxKeyPair, hkdfSha256, jobSealContext, SealError, Sealer, unframeSalted } from './seal.ts'

const hex = (s: string) => Buffer.from(s, 'hex')

test('HKDF-SHA256 known answers (RFC 5869, test cases 1 and 3)', () => {
  const okm1 = hkdfSha256(hex('0b'.repeat(22)), hex('000102030405060708090a0b0c'), hex('f0f1f2f3f4f5f6f7f8f9'), 42)
  assert.is(okm1.toString('hex'), '3cb25f25faacd57a90434f64d0362f2a2d2d0a90cf1a5a4c5db02d56ecc4c5bf34007208d5b887185865')
  const okm3 = hkdfSha256(hex('0b'.repeat(22)), Buffer.alloc(0), Buffer.alloc(0), 42)
  assert.is(okm3.toString('hex'), '8da4e775a563c18f715f802a063c5a31b8a11f5c5ee1879ec3454e5f3c738d2d9d201395faa4b61a96c8')
})

test('X25519 known answer (RFC 7748 §6.1): both sides agree on the shared secret', () => {
  const alice = boxKeyPairFromPrivate(hex('77076d0a7318a57d3c16c17251b26645df4c2f87ebc0992ab177fba51db92c2a'))
  const bob = boxKeyPairFromPrivate(hex('5dab087e624a8a4b79e17f8b83800ee66f3bb1292618b6fd1c2f8b27ff88e0eb'))
  assert.is(alice.publicKeyHex, '8520f0098930a754748b7ddcb43ef75a0dbf3a0d26381af4eba4a98eaa9b4e6a')
  assert.is(bob.publicKeyHex, 'de9edb7d7b7dc1b4d35b61c2ece435373f8343c85b78674dadfc7e146f882b4f')
  const pub = (h: string) => createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: hex(h).toString('base64url') }, format: 'jwk' })
  assert.is(diffieHellman({ privateKey: alice.privateKey, publicKey: pub(bob.publicKeyHex) }).toString('hex'), '4a5d9d5ba4ce2de1728e3bf480350f25e07e21c947d19e3376f09b3c1e161742')
  assert.ok(createPrivateKey) // node:crypto is the implementation
})

test('a sealed payload opens for its recipient, from its sender, in its context — and nowhere else', () => {
  const agent = generateBoxKeyPair()
  const requester = generateBoxKeyPair()
  const other = generateBoxKeyPair()
  const ctx = jobSealContext('assign', 'job-1', 'agent-x')
  const env = new Sealer(requester).seal(Buffer.from('secret input'), agent.publicKeyHex, ctx)
  assert.match(env, /^fms1\.[A-Za-z0-9_-]{22}\.[A-Za-z0-9_-]+$/)
  assert.not.match(env, /secret/)
  assert.is(new Sealer(agent).open(env, requester.publicKeyHex, ctx).toString(), 'secret input')
  const refused = (f: () => unknown) => assert.throws(f, (e: unknown) => e instanceof SealError && e.code === 'seal_broken')
  refused(() => new Sealer(other).open(env, requester.publicKeyHex, ctx)) // another recipient
  refused(() => new Sealer(agent).open(env, other.publicKeyHex, ctx)) // another sender
  refused(() => new Sealer(agent).open(env, requester.publicKeyHex, jobSealContext('assign', 'job-2', 'agent-x'))) // another job
  refused(() => new Sealer(agent).open(env, requester.publicKeyHex, jobSealContext('assign', 'job-1', 'agent-y'))) // another agent
  refused(() => new Sealer(requester).open(env, agent.publicKeyHex, ctx)) // reflected back
  const parts = env.split('.')
  const body = Buffer.from(parts[2]!, 'base64url')
  body[0]! ^= 1
  refused(() => new Sealer(agent).open(`${parts[0]}.${parts[1]}.${body.toString('base64url')}`, requester.publicKeyHex, ctx)) // tampered
  for (const junk of ['', 'fms1', 'fms1..', 'fms2.AAAA.AAAA', `fms1.${parts[1]}.AA`]) refused(() => new Sealer(agent).open(junk, requester.publicKeyHex, ctx))
  refused(() => new Sealer(agent).seal(Buffer.from('x'), 'zz', ctx))
})

test('every seal is new: the same plaintext twice gives two envelopes; a low-order peer key is refused', () => {
  const a = generateBoxKeyPair()
  const b = generateBoxKeyPair()
  const s = new Sealer(a)
  assert.is.not(s.seal(Buffer.from('x'), b.publicKeyHex, 'c'), s.seal(Buffer.from('x'), b.publicKeyHex, 'c'))
  // the all-zero point: X25519 with it gives an all-zero secret
  assert.throws(() => s.seal(Buffer.from('x'), '00'.repeat(32), 'c'), (e: unknown) => e instanceof SealError)
})

test('the box key derives from the identity seed (one secret holds both keys); salted frames round-trip', () => {
  const seed = Buffer.alloc(32, 5)
  assert.is(boxKeyPairFromSeed(seed).publicKeyHex, boxKeyPairFromSeed(Buffer.from(seed)).publicKeyHex)
  assert.is.not(boxKeyPairFromSeed(seed).publicKeyHex, boxKeyPairFromSeed(Buffer.alloc(32, 6)).publicKeyHex)
  const salt = Buffer.alloc(16, 1)
  const { salt: s2, data } = unframeSalted(frameSalted(salt, Buffer.from('out')))
  assert.equal([s2.toString('hex'), data.toString()], [salt.toString('hex'), 'out'])
  assert.throws(() => unframeSalted(Buffer.alloc(3)), (e: unknown) => e instanceof SealError)
})

test('the shared-secret cache is bounded', () => {
  const s = new Sealer(generateBoxKeyPair(), 4)
  for (let i = 0; i < 10; i++) s.seal(Buffer.from('x'), generateBoxKeyPair().publicKeyHex, 'c')
  assert.ok((s as unknown as { shared: Map<string, Buffer> }).shared.size <= 4)
})

test.run()
