/**
 * What `fogmesh status` adds to each agent: its stake as the chain sees it (the claim in its
 * presence checked against the VerificationCourt it names) and what this machine's requesters
 * observed of it (the reputation file the gateway keeps).
 */
import { existsSync, readFileSync } from 'node:fs'
import { getAddress, ZeroAddress, type JsonRpcProvider } from 'ethers'
import { CourtClient } from '../contracts/verification/court-client.ts'
import type { AgentRecord } from '../market/directory.ts'
import { readReputationFile, trustFromRecord, type AgentReputation } from '../market/reputation.ts'

export interface AgentStakeView {
  account: string
  court: string
  stake: string
  minStake: string
  eligible: boolean
  /** the account's mesh key and attester are the agent's */
  verified: boolean
  convictions: number
}

export async function readStandings(agents: AgentRecord[], provider: JsonRpcProvider): Promise<Map<string, AgentStakeView | { error: string }>> {
  const courts = new Map<string, Promise<CourtClient>>()
  const out = new Map<string, AgentStakeView | { error: string }>()
  const { chainId } = await provider.getNetwork()
  await Promise.all(agents.map(async (a) => {
    const claim = a.presence.stake
    if (!claim) return
    if (BigInt(claim.chainId) !== chainId) return void out.set(a.presence.id, { error: `staked on chain ${claim.chainId}, not this one (${chainId})` })
    const key = getAddress(claim.court)
    if (!courts.has(key)) courts.set(key, CourtClient.connect(key, provider))
    try {
      const s = await (await courts.get(key)!).standing(claim.account)
      const verified = s.meshKey.toLowerCase() === `0x${a.presence.publicKey}` && s.attester !== ZeroAddress && getAddress(s.attester) === getAddress(claim.attester)
      out.set(a.presence.id, { account: getAddress(claim.account), court: key, stake: s.stake.toString(), minStake: s.minStake.toString(), eligible: s.eligible && verified, verified, convictions: s.convictions })
    } catch (err) {
      out.set(a.presence.id, { error: (err as Error).message.split('\n')[0] ?? 'error' })
    }
  }))
  return out
}

/** The reputation file, or an empty map when there is none. */
export function readReputation(path: string): Map<string, AgentReputation> {
  if (!existsSync(path)) return new Map()
  const file = readReputationFile(readFileSync(path, 'utf8'), path)
  return new Map(Object.entries(file.agents).map(([id, r]) => [id, { ...r, trust: trustFromRecord(r) }]))
}
