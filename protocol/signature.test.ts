import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { agentIdFromPublicKey } from './agent-id.ts'
import { createSigner, NODE_ED25519, resultStatement, signResult, verifyResult, verifySignature } from './signature.ts'

// RFC 8032, section 7.1, TEST 1 and TEST 3
const VECTORS = [
  {
    seed: '9d61b19deffd5a60ba844af492ec2cc44449c5697b326919703bac031cae7f60',
    pub: 'd75a980182b10ab7d54bfed3c964073a0ee172f3daa62325af021a68f707511a',
    msg: '',
    sig: 'e5564300c360ac729086e2cc806e828a84877f1eb8e5d974d873e065224901555fb8821590a33bacc61e39701cf9b46bd25bf5f0595bbe24655141438e7a100b',
  },
  {
    seed: 'c5aa8df43f9f837bedb7442f31dcb7b166d38535076f094b85ce3a2e0b4458f7',
    pub: 'fc51cd8e6218a1a38da47ed00230f0580816ed13ba3303ac5deb911548908025',
    msg: 'af82',
    sig: '6291d657deec24024827e69c3abe01a30ce548a284743a445e3680d7db5ac3ac18ff9b538d16f290ae67f760984dc6594a7c15e9716ed28dc027beceea1ec40a',
  },
]

for (const backend of ['node', 'tweetnacl'] as const) {
  test(`${backend}: RFC 8032 known answers`, () => {
    if (backend === 'node' && !NODE_ED25519) return
    for (const v of VECTORS) {
      const s = createSigner(Buffer.from(v.seed, 'hex'), backend)
      assert.is(Buffer.from(s.publicKey).toString('hex'), v.pub)
      const sig = s.sign(Buffer.from(v.msg, 'hex'))
      assert.is(Buffer.from(sig).toString('hex'), v.sig)
      assert.ok(verifySignature(Buffer.from(v.msg, 'hex'), sig, v.pub, backend))
    }
  })
}

test('node:crypto is available on this runtime (the fast path)', () => {
  assert.ok(NODE_ED25519)
})

test('a result signature covers every field it names', () => {
  const signer = createSigner(Buffer.from(VECTORS[0]!.seed, 'hex'))
  const r = {
    id: 'job-1', agent: agentIdFromPublicKey(signer.publicKey), module: 'a'.repeat(64), inputSha256: 'b'.repeat(64),
    status: 'ok' as const, outputSha256: 'c'.repeat(64), fuel: 42,
  }
  const signature = signResult(r, signer)
  const pub = Buffer.from(signer.publicKey).toString('hex')
  assert.ok(verifyResult({ ...r, signature }, pub))
  for (const [k, v] of Object.entries({ id: 'job-2', agent: 'x', module: 'd'.repeat(64), inputSha256: 'e'.repeat(64), status: 'error', outputSha256: 'f'.repeat(64), fuel: 43 })) {
    assert.not.ok(verifyResult({ ...r, [k]: v, signature } as typeof r & { signature: string }, pub), `tampered ${k} must not verify`)
  }
  assert.not.ok(verifyResult({ ...r, signature }, 'ab'.repeat(32)), 'another key')
  assert.not.ok(verifyResult({ ...r, signature: 'not base64 at all' }, pub), 'garbage signature')
  assert.is(resultStatement(r).toString(), ['fogmesh/result/v1', 'job-1', r.agent, r.module, r.inputSha256, 'ok', r.outputSha256, '', '42'].join('\n'))
})

test('agent id derives from the public key', () => {
  assert.is(agentIdFromPublicKey(VECTORS[0]!.pub), agentIdFromPublicKey(Buffer.from(VECTORS[0]!.pub, 'hex')))
  assert.match(agentIdFromPublicKey(VECTORS[0]!.pub), /^[0-9a-f]{20}$/)
  assert.is.not(agentIdFromPublicKey(VECTORS[0]!.pub), agentIdFromPublicKey(VECTORS[1]!.pub))
})

test.run()
