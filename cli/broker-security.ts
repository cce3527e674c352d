/**
 * `fogmesh broker`'s security flags, turned into broker options: identities and
 * rules (`--auth`, `--agents`, `--anonymous`), the one-line refusal of an open
 * broker on the network, TLS, and the credentials of the gateway that runs
 * inside the broker (a user that lives in memory only).
 */
import { readFileSync } from 'node:fs'
import type { Client } from 'aedes'
import { ADMISSION_MODES, type AdmissionMode } from '../broker/auth/admission.ts'
import { createBrokerAuth, isLoopback, type AnonymousPolicy, type BrokerAuth } from '../broker/auth/broker-auth.ts'
import { CredentialStore } from '../broker/auth/credentials.ts'
import { generatePassword } from '../broker/auth/password-hash.ts'
import { connectRegistryReader, type RegistryReader } from '../broker/auth/registry-reader.ts'
import { FogmeshError } from '../protocol/errors.ts'
import type { ClientCredentials } from '../protocol/transport.ts'
import { intOption, UsageError, type Options } from './command.ts'

export const SECURITY_OPTIONS: Options = {
  auth: { type: 'string' },
  agents: { type: 'string' },
  anonymous: { type: 'string' },
  'allow-anonymous': { type: 'boolean' },
  rpc: { type: 'string' },
  registry: { type: 'string' },
  'tls-cert': { type: 'string' },
  'tls-key': { type: 'string' },
  'token-window-ms': { type: 'string' },
  'max-nonces': { type: 'string' },
  'max-pending-auth': { type: 'string' },
  'max-stream-grants': { type: 'string' },
}

export const SECURITY_USAGE = `  --auth FILE           identities and access rules (fogmesh auth add ...); default host becomes 0.0.0.0.
                        Without it: anonymous clients with full access, from this machine only
  --agents MODE         which agents may join: allowlist (default; fogmesh auth add-agent ID), open (any key),
                        staked (an active stake in AgentRegistry: needs --rpc URL --registry ADDRESS)
  --anonymous WHO       with --auth, clients without credentials: none (default) or local (this machine only,
                        under the anonymous rules: fm/v1/jobs/submit and topics outside fm/)
  --allow-anonymous     without --auth: serve a non-loopback --host anyway (anyone who reaches it has full
                        access); with --auth: anonymous clients from anywhere, under the anonymous rules
  --tls-cert FILE --tls-key FILE
                        TLS on both listeners: mqtts:// and wss:// (PEM)
  --token-window-ms N   how far an agent token's time may be from the broker's clock (default 300000)
  --max-nonces N        agent-token nonces remembered against replay (default 100000)
  --max-pending-auth N  password checks (PBKDF2) computing at once; more are refused as busy (default 8)
  --max-stream-grants N streams whose replyTo the broker grants to their agent (default 10000; the oldest goes)`

/** The names of the gateway and the console inside `fogmesh broker` (users in memory only). */
export const BROKER_GATEWAY_USER = 'broker-gateway'
export const BROKER_CONSOLE_USER = 'broker-console'

export interface BrokerSecurity {
  host: string
  auth: BrokerAuth | undefined
  allowAnonymous: boolean
  tls: { cert: Buffer; key: Buffer } | undefined
  /** What the gateway inside the broker connects with (undefined: anonymous, the broker has no auth). */
  gatewayCredentials: ClientCredentials | undefined
  /** What the console server inside the broker connects with (an operator: it reads everything, publishes alerts). */
  consoleCredentials: ClientCredentials | undefined
  /** Lines for the start-up banner. */
  lines: string[]
  /** Re-reads the credentials file (SIGHUP) and ends the sessions of identities that no longer hold. */
  reload(clients?: Iterable<Client>): string
  close(): void
}

function readPem(flag: string, path: string): Buffer {
  try {
    return readFileSync(path)
  } catch (err) {
    throw new UsageError(`cannot read ${flag} ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
  }
}

export async function securityFromOptions(values: Record<string, unknown>, inside: { gateway: boolean; console: boolean }): Promise<BrokerSecurity> {
  const file = typeof values.auth === 'string' ? values.auth : undefined
  const allowAnonymous = values['allow-anonymous'] === true
  const host = typeof values.host === 'string' ? values.host : file ? '0.0.0.0' : '127.0.0.1'
  const local = host === 'localhost' || isLoopback(host)
  for (const f of ['agents', 'anonymous', 'rpc', 'registry', 'token-window-ms', 'max-nonces', 'max-pending-auth', 'max-stream-grants'] as const) {
    if (!file && values[f] !== undefined) throw new UsageError(`--${f} needs --auth FILE`)
  }
  if (!file && !local && !allowAnonymous) {
    throw new UsageError(`refusing to serve ${host} without --auth: anyone who can reach it would have full access (give --auth FILE, or --allow-anonymous)`)
  }
  if ((values['tls-cert'] === undefined) !== (values['tls-key'] === undefined)) throw new UsageError('--tls-cert and --tls-key go together')
  const tls = typeof values['tls-cert'] === 'string' ? { cert: readPem('--tls-cert', values['tls-cert']), key: readPem('--tls-key', String(values['tls-key'])) } : undefined
  const tlsLine = tls ? [`tls      on: mqtts:// and wss:// (certificate ${String(values['tls-cert'])})`] : []
  if (!file) {
    return {
      host, auth: undefined, allowAnonymous, tls, gatewayCredentials: tls ? { loopbackTrust: true } : undefined, consoleCredentials: tls ? { loopbackTrust: true } : undefined,
      lines: [local ? `auth     none: anonymous clients with full access, from this machine only (${host}); --auth FILE to serve others` : `auth     none: anonymous clients with full access from anywhere (--allow-anonymous)`, ...tlsLine],
      reload: () => 'no credentials file to re-read',
      close() {},
    }
  }
  const agents = (values.agents ?? 'allowlist') as AdmissionMode
  if (!(ADMISSION_MODES as readonly string[]).includes(agents)) throw new UsageError(`--agents is ${ADMISSION_MODES.join(', ')} (got ${String(values.agents)})`)
  const anonymous: AnonymousPolicy = allowAnonymous ? 'any' : ((values.anonymous ?? 'none') as AnonymousPolicy)
  if (anonymous !== 'none' && anonymous !== 'local' && anonymous !== 'any') throw new UsageError(`--anonymous is none or local (got ${String(values.anonymous)})`)
  const limits = {
    tokenWindowMs: intOption(values, 'token-window-ms', 300_000, 1000, 86_400_000),
    maxNonces: intOption(values, 'max-nonces', 100_000, 1),
    maxPendingChecks: intOption(values, 'max-pending-auth', 8, 1, 1024),
    maxStreamGrants: intOption(values, 'max-stream-grants', 10_000, 1),
  }
  let store: CredentialStore
  try {
    store = CredentialStore.load(file)
  } catch (err) {
    throw new UsageError((err as FogmeshError).shortMessage)
  }
  for (const [name, used, flag] of [[BROKER_GATEWAY_USER, inside.gateway, '--no-gateway'], [BROKER_CONSOLE_USER, inside.console, '--no-console']] as const) {
    if (used && store.user(name)) throw new UsageError(`${file} has a user "${name}": that name is the broker's own (remove it, or run with ${flag})`)
  }
  let registry: RegistryReader | undefined
  let stakeLine = ''
  if (agents === 'staked') {
    if (typeof values.rpc !== 'string' || typeof values.registry !== 'string') throw new UsageError('--agents staked needs --rpc URL and --registry ADDRESS (the AgentRegistry contract)')
    try {
      registry = await connectRegistryReader(values.rpc, values.registry)
    } catch (err) {
      throw new UsageError((err as FogmeshError).shortMessage)
    }
    stakeLine = ` (AgentRegistry ${registry.address}, minimum stake ${await registry.minStake()} base units)`
  }
  const password = generatePassword()
  const consolePassword = generatePassword()
  const internalUsers = [
    ...(inside.gateway ? [{ name: BROKER_GATEWAY_USER, role: 'gateway' as const, password }] : []),
    ...(inside.console ? [{ name: BROKER_CONSOLE_USER, role: 'operator' as const, password: consolePassword }] : []),
  ]
  const auth = createBrokerAuth({
    ...limits,
    credentials: store,
    agents,
    anonymous,
    ...(registry ? { registry } : {}),
    internalUsers,
  })
  const summary = () => `${store.users().length} users, ${store.agents().length} allowlisted agents`
  return {
    host, auth, allowAnonymous, tls,
    gatewayCredentials: inside.gateway ? { username: BROKER_GATEWAY_USER, password, ...(tls ? { loopbackTrust: true } : {}) } : undefined,
    consoleCredentials: inside.console ? { username: BROKER_CONSOLE_USER, password: consolePassword, ...(tls ? { loopbackTrust: true } : {}) } : undefined,
    lines: [`auth     ${file}: ${summary()}; agents: ${agents}${stakeLine}; anonymous: ${anonymous === 'any' ? 'from anywhere, anonymous rules' : anonymous === 'local' ? 'this machine only, anonymous rules' : 'refused'}`, ...tlsLine],
    reload(clients) {
      store.reload()
      const closed = clients ? auth.revokeStale(clients) : 0
      return `re-read ${file}: ${summary()}${closed ? `; closed ${closed} session(s) of removed or changed identities` : ''}`
    },
    close: () => registry?.close(),
  }
}
