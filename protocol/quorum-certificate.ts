/**
 * A quorum certificate: the answer to a redundant job together with every agreeing agent's
 * signed result statement, so anyone can check the quorum without trusting the requester or
 * the gateway that forwarded it.
 *
 * What `verifyQuorumCertificate` checks, with nothing but the certificate:
 *   - every statement is an ed25519 signature by the agent's key over the result statement
 *     (protocol/signature.ts) of the same job and the same result (status, output, fuel) —
 *     or over the root of a batch the statement's `batch` proof puts it in;
 *   - every agent id derives from its key (so a key cannot vouch twice under two ids), and the
 *     agents are distinct;
 *   - there are enough of them: all `redundancy` for `all`, more than half for `majority`,
 *     and more than the statements that disagreed;
 *   - where a statement carries a co-signature for a court (attestation), it recovers to the
 *     attester the statement names (whether that attester is staked is for the chain to say).
 * Pass `keys` to also require the agents' keys to be the ones you know (e.g. from presence).
 */
import { agentIdFromPublicKey } from './agent-id.ts'
import { MAX_REDUNDANCY } from './messages.ts'
import { verifyResult } from './signature.ts'
import { batchProofSchema } from './batch-proof.ts'
import { StatementHasher, jobDigest, statementOf, statementSigner } from './statement.ts'
import { array, bytes32Hex, evmAddress, id, literal, meshJobId, number, object, optional, sha256Hex, string, type Infer } from './validate.ts'

const address = evmAddress
const bytes32 = bytes32Hex

export const certifiedStatementSchema = object({
  agent: id,
  publicKey: string({ min: 64, max: 64, pattern: /^[0-9a-f]{64}$/, describe: 'an ed25519 public key as 64 hex characters' }),
  /** ed25519, base64, over the result statement */
  signature: string({ min: 86, max: 88, describe: 'an ed25519 signature in base64' }),
  /** The statement's place in the agent's signing batch, when it was signed in one (protocol/batch-signature.ts). */
  batch: optional(batchProofSchema),
  /** The co-signature for the court, when the job was attested: the attester and (claimed) account. */
  attestation: optional(object({ r: bytes32, vs: bytes32, attester: address, account: optional(address) })),
})
export type CertifiedStatement = Infer<typeof certifiedStatementSchema>

export const quorumCertificateSchema = object({
  v: literal(1),
  id: meshJobId,
  module: sha256Hex,
  inputSha256: sha256Hex,
  status: literal('ok', 'error'),
  outputSha256: optional(sha256Hex),
  error: optional(object({ code: string({ min: 1, max: 64 }) })),
  fuel: number({ min: 0, integer: true }),
  redundancy: number({ min: 1, max: MAX_REDUNDANCY, integer: true }),
  rule: literal('all', 'majority'),
  agreeing: array(certifiedStatementSchema, { max: 64 }),
  /** Statements that disagreed (agents outvoted, referees included). */
  dissenting: number({ min: 0, max: 64, integer: true }),
  /** The limits the agents ran under (fuel, memory, output): the job digest of the attestations. */
  limits: optional(object({
    fuel: number({ min: 1, integer: true }),
    memoryMiB: number({ min: 1, integer: true }),
    outputBytes: number({ min: 0, integer: true }),
  })),
  court: optional(object({ chainId: number({ min: 1, integer: true }), address })),
})
export type QuorumCertificate = Infer<typeof quorumCertificateSchema>

/** Agreeing agents a rule needs out of `redundancy`. */
export function requiredAgreement(redundancy: number, rule: 'all' | 'majority'): number {
  return rule === 'all' ? redundancy : Math.floor(redundancy / 2) + 1
}

export type CertificateCheck = { ok: true; agents: string[] } | { ok: false; reason: string }

export function verifyQuorumCertificate(qc: QuorumCertificate, opts: { keys?: (agent: string) => string | undefined } = {}): CertificateCheck {
  const need = requiredAgreement(qc.redundancy, qc.rule)
  if (qc.agreeing.length < need) return { ok: false, reason: `${qc.agreeing.length} agreeing statements; ${qc.rule} of ${qc.redundancy} needs ${need}` }
  if (qc.agreeing.length <= qc.dissenting) return { ok: false, reason: `${qc.agreeing.length} agreeing statements do not outnumber ${qc.dissenting} dissenting` }
  if ((qc.status === 'ok') !== (qc.outputSha256 !== undefined) || (qc.status === 'error') !== (qc.error !== undefined)) {
    return { ok: false, reason: 'an ok result names an output, an error result an error code' }
  }
  const seen = new Set<string>()
  const hasher = qc.court ? StatementHasher.for(qc.court.chainId, qc.court.address) : undefined
  const job = qc.limits ? jobDigest({ id: qc.id, module: qc.module, inputSha256: qc.inputSha256, ...qc.limits }) : undefined
  for (const s of qc.agreeing) {
    if (seen.has(s.agent)) return { ok: false, reason: `agent ${s.agent} counted twice` }
    seen.add(s.agent)
    if (agentIdFromPublicKey(s.publicKey) !== s.agent) return { ok: false, reason: `key of ${s.agent} does not derive to its id` }
    const known = opts.keys?.(s.agent)
    if (opts.keys && known !== s.publicKey) return { ok: false, reason: `key of ${s.agent} is not the one known for it` }
    const fields = { id: qc.id, agent: s.agent, module: qc.module, inputSha256: qc.inputSha256, status: qc.status, outputSha256: qc.outputSha256, error: qc.error, fuel: qc.fuel, signature: s.signature, batch: s.batch }
    if (!verifyResult(fields, s.publicKey)) return { ok: false, reason: `signature of ${s.agent} does not verify` }
    if (s.attestation) {
      if (!hasher || !job) return { ok: false, reason: `attestation of ${s.agent} without the court and limits it was made for` }
      const signer = statementSigner(hasher, statementOf(job, qc.status, qc.outputSha256, qc.fuel, qc.error?.code), s.attestation)
      if (signer?.toLowerCase() !== s.attestation.attester.toLowerCase()) return { ok: false, reason: `attestation of ${s.agent} is not by attester ${s.attestation.attester}` }
    }
  }
  return { ok: true, agents: [...seen] }
}
