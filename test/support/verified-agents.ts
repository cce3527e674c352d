/**
 * Staked agents for the verification tests and benches: keys made first (the ed25519 identity
 * and the attester, in a fresh data dir, as the agent itself makes them), the account staked on
 * chain with them, then the agent started on that data dir as a real process advertising the
 * stake — `fogmesh agent` for an honest one, dishonest-agent.main.ts (TEST ONLY) for a liar or a
 * lazy one.
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import type { Wallet } from 'ethers'
import { loadOrCreateAttester } from '../../agent/attester-key.ts'
import { loadOrCreateIdentity } from '../../agent/identity.ts'
import { CourtClient } from '../../contracts/verification/court-client.ts'
import { stakeAgent } from '../../contracts/verification/staking.ts'
import type { Attester } from '../../protocol/statement.ts'
import type { AgentProcess } from './agents.ts'
import { stopChild, trackChild } from './child-processes.ts'
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

/** `node ARGS` as an agent process on data dir `dir`; resolves once it printed its "online" line. */
async function spawnOnline(name: string, dir: string, args: string[]): Promise<AgentProcess> {
  const keys = { name }
  const proc = trackChild(spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FOGMESH_HOME: dir } }))
  let out = ''
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()))
  const id = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent ${keys.name} did not come online in 30 s: ${out}`)), 30_000)
    const check = () => {
      const m = /^agent ([0-9a-f]+) "[^"]*" online/m.exec(out)
      if (!m) return
      clearTimeout(timer)
      proc.stdout!.off('data', check)
      resolve(m[1]!)
    }
    proc.stdout!.on('data', check)
    proc.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`agent ${keys.name} exited with ${code}: ${out}`))
    })
  })
  return {
    name: keys.name,
    id,
    pid: proc.pid!,
    proc,
    output: () => out,
    kill: (signal = 'SIGKILL') =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve()
        proc.once('exit', () => resolve())
        proc.kill(signal)
      }),
    stop: () => stopChild(proc),
  }
}
