/**
 * A whole mesh for tests: embedded broker on port 0, N in-process agents with
 * their own data dirs, a requester, optionally the gateway. All real parts.
 * The requester's identity is made first and the agents accept work from it
 * (and from nobody else) — the safe default a real mesh runs with.
 */
import { startAgent, type Agent, type AgentOptions } from '../../agent/agent.ts'
import type { Broker } from '../../broker/broker.ts'
import { startGateway, type Gateway } from '../../market/gateway.ts'
import { startRequester, type Requester, type RequesterOptions } from '../../market/requester.ts'
import { ephemeralIdentity, type KeyIdentity } from '../../protocol/identity.ts'
import { tmpDir } from './temp-dirs.ts'
import { testBroker } from './test-broker.ts'

export interface Mesh {
  broker: Broker
  agents: Agent[]
  requester: Requester
  gateway: Gateway | undefined
  /** The requester id the agents accept work from, and its identity (to sign assignments by hand). */
  requesterId: string
  identity: KeyIdentity
  publish(bytes: Uint8Array): Promise<string>
  close(): Promise<void>
}

export async function startMesh(
  opts: { agents?: number; gateway?: boolean; agent?: Partial<AgentOptions>; requester?: Partial<RequesterOptions> } = {},
): Promise<Mesh> {
  const broker = await testBroker()
  const agents: Agent[] = []
  const n = opts.agents ?? 2
  const identity = opts.requester?.identity ?? ephemeralIdentity()
  for (let i = 0; i < n; i++) {
    agents.push(await startAgent({ broker: broker.url, dataDir: tmpDir('fm-agent-'), name: `t${i + 1}`, slots: 1, acceptFrom: [identity.id], ...opts.agent }))
  }
  const gateway = opts.gateway ? await startGateway({ broker: broker.url, ...opts.requester, identity }) : undefined
  const requester = gateway?.requester ?? (await startRequester({ broker: broker.url, ...opts.requester, identity }))
  await requester.directory.waitFor(n, 20_000)
  return {
    broker,
    agents,
    requester,
    gateway,
    requesterId: identity.id,
    identity,
    publish: (bytes) => requester.publishModule(bytes),
    async close() {
      if (gateway) await gateway.close()
      else await requester.close()
      await Promise.all(agents.map((a) => a.close({ graceMs: 200 })))
      await broker.close()
    },
  }
}
