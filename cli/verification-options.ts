/**
 * The verification options of the commands that run a requester (gateway): the court that makes
 * the market staked (and takes evidence), the spot-check rate, the reputation file.
 */
import { formatUnits, type JsonRpcProvider } from 'ethers'
import type { Verifier, VerificationOptions } from '../market/verification.ts'
import { givenInt, UsageError } from './command.ts'
import { defaultReputationFile } from './commands/status.ts'
import { openCourt } from './staking-options.ts'

export const VERIFICATION_OPTIONS = {
  court: { type: 'string' },
  'spot-check': { type: 'string' },
  'max-spot-checks': { type: 'string' },
  reputation: { type: 'string' },
} as const

export const VERIFICATION_USAGE = `  --court ADDRESS  a staked market: only agents staked in this VerificationCourt are assigned,
                 results are co-signed, contradictions go on chain as evidence (with --rpc
                 and --keystore: the reporter's account)
  --spot-check P   re-run this fraction (0..1) of single-agent results on another agent
                 (default: the court's governed rate, else 0)
  --max-spot-checks N  spot checks in flight at once; more are skipped (default 64)
  --reputation F   where to keep what was observed of each agent (default $FOGMESH_HOME/reputation.json)`

export async function verificationFromOptions(values: Record<string, unknown>): Promise<{
  options: VerificationOptions
  describe(v: Verifier): string[]
  /** What verification decides, one line each, as it happens: outvoted agents, spot-check catches, cases on chain. */
  watch(v: Verifier, print: (line: string) => void): void
  close(): void
}> {
  let spotCheck: number | undefined
  if (values['spot-check'] !== undefined) {
    const raw = String(values['spot-check'])
    spotCheck = Number(raw)
    if (!/^(0|1|0?\.\d+|1\.0*)$/.test(raw) || !(spotCheck >= 0 && spotCheck <= 1)) throw new UsageError(`--spot-check takes a fraction from 0 to 1 (got ${raw})`)
  }
  const reputation = { file: typeof values.reputation === 'string' ? values.reputation : defaultReputationFile() }
  let provider: JsonRpcProvider | undefined
  const maxSpotChecks = givenInt(values, 'max-spot-checks', 0, 100_000)
  const options: VerificationOptions = { reputation, ...(spotCheck !== undefined ? { spotCheck } : {}), ...(maxSpotChecks !== undefined ? { maxSpotChecks } : {}) }
  if (values.court !== undefined) {
    const opened = await openCourt(values)
    provider = opened.provider
    options.court = opened.court
  }
  return {
    options,
    describe: (v) => {
      const lines = [`verify   spot checks ${(v.spot.rate * 100).toFixed(1)}%; reputation in ${reputation.file}`]
      const p = v.stake?.params
      if (options.court && p) lines.push(`stake    court ${options.court.address}: minimum ${formatUnits(p.minStake, 18)} MESH, evidence quorum ${p.quorumMinAgents}, challenge window ${p.challengeWindow} s`)
      return lines
    },
    watch: (v, print) => {
      v.on('dissent', (d) => print(`verify   ${d.id}: ${d.outvoted.join(', ')} outvoted by ${d.agreeing.length} agreeing (${d.referees} referee${d.referees === 1 ? '' : 's'})`))
      v.on('noQuorum', (d) => print(`verify   ${d.id}: no quorum among ${d.heard} results`))
      v.on('spotCheck', (c) => {
        if (c.outcome === 'caught' || c.outcome === 'cleared') print(`verify   spot check of ${c.id}: ${c.agent} ${c.outcome} by ${c.checkers.length} agents`)
      })
      v.on('spotCheckSkipped', (c) => print(`verify   spot check of ${c.id} skipped: ${c.inFlight} in flight (--max-spot-checks)`))
      const e = v.evidence
      e?.on('accused', (a) => print(`evidence ${a.job}: ${a.accused.join(', ')} accused on ${a.witnesses} witnesses (tx ${a.txHash}, ${a.gasUsed} gas); resolvable after ${new Date(Number(a.closesAt) * 1000).toISOString()}`))
      e?.on('convicted', (c) => print(`evidence ${c.job}: ${c.accounts.join(', ')} convicted and slashed (tx ${c.txHash}, ${c.gasUsed} gas)`))
      e?.on('dismissed', (c) => print(`evidence ${c.job}: dismissed (no quorum stood)`))
      e?.on('failed', (f) => print(`evidence ${f.job}: ${f.step} failed: ${f.message}`))
      e?.on('dropped', (d) => print(`evidence ${d.job}: dropped, the case book is full`))
    },
    close: () => provider?.destroy(),
  }
}
