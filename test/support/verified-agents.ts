/**
 * Staked agents for the verification tests and benches: keys made first (the ed25519 identity
 * and the attester, in a fresh data dir, as the agent itself makes them), the account staked on
 * chain with them, then the agent started on that data dir as a real process advertising the
 * stake — `fogmesh agent` for an honest one, dishonest-agent.main.ts (TEST ONLY) for a liar or a
 * lazy one.
 */
import { join } from 'node:path'
import type { Wallet } from 'ethers'
import { loadOrCreateAttester } from '../../agent/attester-key.ts'
import { loadOrCreateIdentity } from '../../agent/identity.ts'
import { CourtClient } from '../../contracts/verification/court-client.ts'
import { stakeAgent } from '../../contracts/verification/staking.ts'
import type { Attester } from '../../protocol/statement.ts'
import { spawnOnline, type AgentProcess } from './agents.ts'
import { ROOT } from './paths.ts'
import { tmpDir } from './temp-dirs.ts'

export interface AgentKeys {
  name: string
  dir: string
  id: string
  publicKey: string
  attester: Attester
}

export function agentKeys(name: string): AgentKeys {
  const dir = tmpDir(`fm-agent-${name}-`)
  const identity = loadOrCreateIdentity(dir)
  return { name, dir, id: identity.id, publicKey: identity.publicKeyHex, attester: loadOrCreateAttester(dir).attester }
}

export interface StakedKeys extends AgentKeys {
  account: string
  wallet: Wallet
  court: CourtClient
}

/** Stakes `amount` from `wallet` for these keys (register + bind the attester). */
export async function stakeKeys(courtAddress: string, wallet: Wallet, keys: AgentKeys, amount: bigint): Promise<StakedKeys> {
  const court = await CourtClient.connect(courtAddress, wallet)
  await stakeAgent({ court, meshKey: `0x${keys.publicKey}`, attester: keys.attester, amount })
  return { ...keys, account: wallet.address, wallet, court }
}

export interface SpawnOptions {
  rpc: string
  court: string
  chainId: number
  price?: number
  /** slots advertised (honest: also run) */
  slots?: number
  /** TEST ONLY: lie on one job in this many */
  lieEvery?: number
  lieSeed?: string
  /** TEST ONLY: workers actually running (below `slots`: a lazy agent) */
  workers?: number
}

export async function spawnStakedAgent(broker: string, keys: StakedKeys, o: SpawnOptions): Promise<AgentProcess> {
  const dishonest = o.lieEvery !== undefined || o.workers !== undefined
  const common = ['--broker', broker, '--name', keys.name, '--data', keys.dir, '--court', o.court, '--account', keys.account, '--price', String(o.price ?? 1)]
  const args = dishonest
    ? ['--import', 'tsx', join(ROOT, 'test/support/dishonest-agent.main.ts'), ...common, '--chain-id', String(o.chainId),
        '--advertise-slots', String(o.slots ?? 1), '--workers', String(o.workers ?? o.slots ?? 1),
        ...(o.lieEvery !== undefined ? ['--lie-every', String(o.lieEvery), '--lie-seed', o.lieSeed ?? 'seed'] : [])]
    : [join(ROOT, 'bin/fogmesh.js'), 'agent', ...common, '--rpc', o.rpc, '--slots', String(o.slots ?? 1), '--isolation', 'thread', '--accept-from', 'any'] // an open test mesh
  return spawnOnline(keys.name, keys.dir, args)
}

/** TEST ONLY: a lying agent process on a mesh without a chain (fresh keys; one job in `lieEvery` flipped, correctly signed). */
export function spawnLyingAgent(broker: string, name: string, o: { lieEvery: number; lieSeed: string; price?: number }): Promise<AgentProcess> {
  const dir = tmpDir(`fm-agent-${name}-`)
  return spawnOnline(name, dir, ['--import', 'tsx', join(ROOT, 'test/support/dishonest-agent.main.ts'), '--broker', broker, '--name', name, '--data', dir,
    '--price', String(o.price ?? 1), '--lie-every', String(o.lieEvery), '--lie-seed', o.lieSeed])
}
