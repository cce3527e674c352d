/**
 * A staked mesh for the verification tests and benches, all real: anvil with the verified
 * deployment, the embedded broker on port 0, agent processes staked on chain (honest ones with
 * `fogmesh agent`, dishonest ones TEST ONLY), and requesters in this process with the court.
 *
 *   const m = await startStakedMesh({ honest: 4, chain: { params: { challengeWindow: 60 } } })
 *   const liar = await m.addAgent('liar', { price: 0, lieEvery: 10, lieSeed: 'L' })
 *   const r = await m.requester({ verification: { spotCheck: 0.2 } })
 */
import type { Wallet } from 'ethers'
import type { Broker } from '../../broker/broker.ts'
import { CourtClient } from '../../contracts/verification/court-client.ts'
import { startRequester, type Requester, type RequesterOptions } from '../../market/requester.ts'
import type { AgentProcess } from './agents.ts'
import { startVerifiedChain, stopVerifiedChain, type VerifiedChainContext, type VerifiedChainOptions } from './verified-chain.ts'
import { agentKeys, spawnStakedAgent, stakeKeys, type SpawnOptions, type StakedKeys } from './verified-agents.ts'
import { testBroker } from './test-broker.ts'

export interface StakedAgent {
  keys: StakedKeys
  proc: AgentProcess
  id: string
}

export interface StakedMesh {
  chain: VerifiedChainContext
  broker: Broker
  agents: StakedAgent[]
  /** Stakes the next free wallet for a new agent and starts it. */
  addAgent(name: string, o?: Omit<SpawnOptions, 'rpc' | 'court' | 'chainId'> & { stake?: bigint }): Promise<StakedAgent>
  /** A requester on this mesh with the court, acting as `as` (default: the next free wallet) — the reporter. */
  requester(o?: Partial<RequesterOptions>, as?: Wallet): Promise<Requester>
  /** The next free wallet. */
  wallet(): Wallet
  close(): Promise<void>
}

export async function startStakedMesh(o: { honest?: number; chain?: VerifiedChainOptions } = {}): Promise<StakedMesh> {
  const chain = await startVerifiedChain({ accounts: 20, ...o.chain })
  const broker = await testBroker()
  const agents: StakedAgent[] = []
  const requesters: Requester[] = []
  let nextWallet = 1
  const wallet = () => {
    const w = chain.wallets[nextWallet++]
    if (!w) throw new Error('no dev account left: start the chain with more accounts')
    return w
  }
  const mesh: StakedMesh = {
    chain,
    broker,
    agents,
    wallet,
    async addAgent(name, a = {}) {
      const keys = await stakeKeys(chain.v.addresses.court, wallet(), agentKeys(name), a.stake ?? chain.v.settings.params.minStake)
      const proc = await spawnStakedAgent(broker.url, keys, { ...a, rpc: chain.node.rpc, court: chain.v.addresses.court, chainId: Number(chain.v.chainId) })
      const agent = { keys, proc, id: proc.id }
      agents.push(agent)
      return agent
    },
    async requester(r = {}, as) {
      const court = await CourtClient.connect(chain.v.addresses.court, as ?? wallet())
      const req = await startRequester({
        broker: broker.url,
        // a loaded test machine answers bids slowly: an agent whose bid misses the window loses its lease when it lapses
        auctionWindowMs: 2000,
        ...r,
        verification: { court, stake: { pollMs: 200 }, evidence: { pollMs: 3_600_000 }, ...r.verification },
      })
      requesters.push(req)
      await req.directory.waitFor(agents.length, 10_000)
      return req
    },
    async close() {
      for (const r of requesters) await r.close().catch(() => {})
      await Promise.all(agents.map((a) => a.proc.stop().catch(() => {})))
      await broker.close()
      await stopVerifiedChain(chain)
    },
  }
  try {
    for (let i = 1; i <= (o.honest ?? 0); i++) await mesh.addAgent(`h${i}`)
  } catch (e) {
    await mesh.close()
    throw e
  }
  return mesh
}
