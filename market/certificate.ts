/**
 * Building the quorum certificate of an answer (protocol/quorum-certificate.ts checks it): the
 * agreeing agents' signed results, their keys and co-signatures, how many disagreed.
 */
import type { PresenceOnline, Result } from '../protocol/messages.ts'
import type { QuorumCertificate } from '../protocol/quorum-certificate.ts'
import { limitsOf, type Job } from './verified-job.ts'

export function buildCertificate(o: {
  job: Job
  redundancy: number
  rule: 'all' | 'majority'
  agreeing: Result[]
  dissenting: number
  presenceOf: (agent: string) => PresenceOnline | undefined
  court: { chainId: number; address: string } | undefined
}): QuorumCertificate {
  const lead = o.agreeing[0]!
  return {
    v: 1, id: o.job.id, module: o.job.module, inputSha256: lead.inputSha256, status: lead.status,
    ...(lead.status === 'ok' ? { outputSha256: lead.outputSha256 } : { error: { code: lead.error!.code } }),
    fuel: lead.fuel, redundancy: o.redundancy, rule: o.rule,
    agreeing: o.agreeing.map((r) => {
      const p = o.presenceOf(r.agent)
      return {
        agent: r.agent, publicKey: p?.publicKey ?? '', signature: r.signature, ...(r.batch ? { batch: r.batch } : {}),
        ...(r.attestation && p?.stake ? { attestation: { ...r.attestation, attester: p.stake.attester, account: p.stake.account } } : {}),
      }
    }),
    dissenting: o.dissenting,
    limits: limitsOf(o.job),
    ...(o.court ? { court: o.court } : {}),
  }
}
