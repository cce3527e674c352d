/**
 * A mesh with identities on: the embedded broker with a credentials store (a
 * sensor or two, a gateway, a deployer, an operator), allowlisted in-process
 * agents proving their ids with their keys, the gateway authenticated, and a
 * way to connect as anyone — including as nobody (anonymous, from loopback).
 */
import { createHash } from 'node:crypto'
import type { MqttClient } from 'mqtt'
import { startAgent, type Agent, type AgentOptions } from '../../agent/agent.ts'
import { loadOrCreateIdentity } from '../../agent/identity.ts'
import { createBrokerAuth, type BrokerAuth, type BrokerAuthOptions } from '../../broker/auth/broker-auth.ts'
import { CredentialStore, type Role } from '../../broker/auth/credentials.ts'
import type { Broker } from '../../broker/broker.ts'
import { startGateway, type Gateway } from '../../market/gateway.ts'
import { ephemeralIdentity } from '../../protocol/identity.ts'
import { topics } from '../../protocol/topics.ts'
import { connect } from '../../protocol/transport.ts'
import { plainClient, type PlainClientOptions } from './mqtt-clients.ts'
import { tmpDir } from './temp-dirs.ts'
import { testBroker } from './test-broker.ts'

export interface SecureMesh {
  broker: Broker
  auth: BrokerAuth
  store: CredentialStore
  /** Passwords by user name. */
  passwords: Record<string, string>
  agents: Agent[]
  gateway: Gateway
  /** Publishes a module as the deployer; returns its sha256. */
  deploy(bytes: Uint8Array): Promise<string>
  /** A plain mqtt.js client as `user` (its password), or anonymous when `user` is undefined. */
  client(user?: string, opts?: PlainClientOptions): Promise<MqttClient>
  /** Starts one more allowlisted agent. */
  addAgent(name: string, opts?: Partial<AgentOptions>): Promise<Agent>
  close(): Promise<void>
}

export const USERS: Record<string, Role> = { s1: 'sensor', s2: 'sensor', gw: 'gateway', dep: 'deployer', ops: 'operator' }

export async function startSecureMesh(opts: { agents?: number; auth?: Partial<BrokerAuthOptions>; agent?: Partial<AgentOptions> } = {}): Promise<SecureMesh> {
  const store = CredentialStore.inMemory()
  const passwords: Record<string, string> = {}
  for (const [name, role] of Object.entries(USERS)) passwords[name] = await store.addUser(name, role, { iterations: 1000 })
  const auth = createBrokerAuth({ credentials: store, agents: 'allowlist', anonymous: 'local', ...opts.auth })
  const broker = await testBroker({ auth })
  const agents: Agent[] = []
  const gatewayIdentity = ephemeralIdentity() // the agents take the gateway's signed assignments
  const addAgent = async (name: string, o: Partial<AgentOptions> = {}) => {
    const dataDir = tmpDir(`fm-agent-${name}-`)
    await store.addAgent(loadOrCreateIdentity(dataDir).id, { iterations: 1000 })
    const a = await startAgent({ broker: broker.url, dataDir, name, slots: 1, isolation: 'thread', acceptFrom: [gatewayIdentity.id], ...opts.agent, ...o })
    agents.push(a)
    return a
  }
  for (let i = 1; i <= (opts.agents ?? 2); i++) await addAgent(`t${i}`)
  const gateway = await startGateway({ broker: broker.url, identity: gatewayIdentity, credentials: { username: 'gw', password: passwords.gw! } })
  await gateway.requester.directory.waitFor(agents.length, 20_000)
  return {
    broker,
    auth,
    store,
    passwords,
    agents,
    gateway,
    addAgent,
    async deploy(bytes) {
      const sha = createHash('sha256').update(bytes).digest('hex')
      const conn = await connect(broker.url, { reconnect: false, credentials: { username: 'dep', password: passwords.dep! } })
      await conn.publishAsync(topics.module(sha), Buffer.from(bytes), { qos: 1, retain: true })
      await conn.close()
      return sha
    },
    client: (user, o = {}) =>
      plainClient(broker.url, { ...(user ? { username: user, password: passwords[user] ?? 'wrong', clientId: `${user}:${Math.random().toString(36).slice(2)}` } : {}), ...o }),
    async close() {
      await gateway.close()
      await Promise.all(agents.map((a) => a.close({ graceMs: 200 })))
      await broker.close()
    },
  }
}

/** Resolves with the error (or 'closed') once `client` is disconnected by the broker; throws after `ms`. */
export function closedByBroker(client: MqttClient, ms = 3000): Promise<string> {
  return new Promise((resolve, reject) => {
    if (!client.connected) return resolve('closed')
    const timer = setTimeout(() => reject(new Error('the broker did not close the connection')), ms)
    client.once('close', () => {
      clearTimeout(timer)
      resolve('closed')
    })
  })
}
