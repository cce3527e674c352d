/**
 * The quorum certificate verifier: what a third party checks with nothing but the certificate.
 * Built here from scratch (keys, signatures, co-signatures), then broken one way at a time.
 */
import { randomBytes } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { hexlify } from 'ethers'
import { agentIdFromPublicKey } from './agent-id.ts'
import { quorumCertificateSchema, requiredAgreement, verifyQuorumCertificate, type QuorumCertificate } from './quorum-certificate.ts'
import { createSigner, signResult } from './signature.ts'
import { Attester, StatementHasher, jobDigest, statementOf } from './statement.ts'
import { parseValue } from './validate.ts'

const COURT = { chainId: 31337, address: '0x5FbDB2315678afecb367f032d93F642f64180aa3' }
const LIMITS = { fuel: 1e10, memoryMiB: 64, outputBytes: 1 << 20 }

function certificate(n: number, opts: { attest?: boolean } = {}): QuorumCertificate {
  const base = { id: 'job-1@abc', module: 'ab'.repeat(32), inputSha256: 'cd'.repeat(32), status: 'ok' as const, outputSha256: 'ef'.repeat(32), fuel: 1234 }
  const hasher = StatementHasher.for(COURT.chainId, COURT.address)
  const job = jobDigest({ id: base.id, module: base.module, inputSha256: base.inputSha256, ...LIMITS })
  const agreeing = Array.from({ length: n }, () => {
    const signer = createSigner(randomBytes(32))
    const publicKey = Buffer.from(signer.publicKey).toString('hex')
    const agent = agentIdFromPublicKey(publicKey)
    const signature = signResult({ ...base, agent }, signer)
    if (!opts.attest) return { agent, publicKey, signature }
    const attester = new Attester(hexlify(randomBytes(32)))
    const sig = attester.sign(hasher, statementOf(job, 'ok', base.outputSha256, base.fuel))
    return { agent, publicKey, signature, attestation: { ...sig, attester: attester.address } }
  })
  return { v: 1, ...base, redundancy: 3, rule: 'majority', agreeing, dissenting: 0, limits: LIMITS, ...(opts.attest ? { court: COURT } : {}) }
}

test('required agreement: all of k, or more than half', () => {
  assert.equal([1, 2, 3, 4, 5].map((k) => requiredAgreement(k, 'majority')), [1, 2, 2, 3, 3])
  assert.equal([1, 2, 3, 4, 5].map((k) => requiredAgreement(k, 'all')), [1, 2, 3, 4, 5])
})

test('a good certificate verifies, as JSON too, with and without co-signatures', () => {
  for (const attest of [false, true]) {
    const qc = certificate(3, { attest })
    assert.ok(verifyQuorumCertificate(qc).ok)
    const parsed = parseValue(JSON.parse(JSON.stringify(qc)), quorumCertificateSchema)
    assert.ok(parsed.ok && verifyQuorumCertificate(parsed.value).ok, 'parsed from the wire')
  }
})

test('refused: too few, outnumbered, a tampered field, a key that does not derive, twice the same agent, a stranger key, a bad co-signature', () => {
  const bad: Array<[string, (qc: QuorumCertificate) => QuorumCertificate, RegExp]> = [
    ['too few for majority of 3', (qc) => ({ ...qc, agreeing: qc.agreeing.slice(0, 1) }), /needs 2/],
    ['too few for all', (qc) => ({ ...qc, rule: 'all', agreeing: qc.agreeing.slice(0, 2) }), /needs 3/],
    ['outnumbered', (qc) => ({ ...qc, agreeing: qc.agreeing.slice(0, 2), dissenting: 2 }), /do not outnumber/],
    ['another output', (qc) => ({ ...qc, outputSha256: '00'.repeat(32) }), /does not verify/],
    ['another fuel', (qc) => ({ ...qc, fuel: 1235 }), /does not verify/],
    ['another job id', (qc) => ({ ...qc, id: 'job-2@abc' }), /does not verify/],
    ['a key that does not derive to the id', (qc) => ({ ...qc, agreeing: [{ ...qc.agreeing[0]!, publicKey: qc.agreeing[1]!.publicKey }, ...qc.agreeing.slice(1)] }), /does not derive/],
    ['the same agent twice', (qc) => ({ ...qc, agreeing: [qc.agreeing[0]!, qc.agreeing[0]!, qc.agreeing[1]!] }), /counted twice/],
    ['an ok result without output', (qc) => ({ ...qc, outputSha256: undefined }), /names an output/],
  ]
  for (const [what, mutate, reason] of bad) {
    const r = verifyQuorumCertificate(mutate(certificate(3)))
    assert.not.ok(r.ok, what)
    if (!r.ok) assert.match(r.reason, reason, what)
  }
  const qc = certificate(3)
  const known = new Map(qc.agreeing.map((s) => [s.agent, s.publicKey]))
  assert.ok(verifyQuorumCertificate(qc, { keys: (a) => known.get(a) }).ok)
  const r = verifyQuorumCertificate(qc, { keys: () => 'ff'.repeat(32) })
  assert.ok(!r.ok && /not the one known/.test(r.reason))
  const att = certificate(3, { attest: true })
  const wrong = { ...att, agreeing: [{ ...att.agreeing[0]!, attestation: { ...att.agreeing[0]!.attestation!, attester: att.agreeing[1]!.attestation!.attester } }, ...att.agreeing.slice(1)] }
  const w = verifyQuorumCertificate(wrong)
  assert.ok(!w.ok && /not by attester/.test(w.reason))
  const noCourt = verifyQuorumCertificate({ ...att, court: undefined })
  assert.ok(!noCourt.ok && /without the court/.test(noCourt.reason))
})

test.run()
