/**
 * Identities and access rules as aedes hooks: `authenticate` decides who a
 * client is, `authorizePublish` / `authorizeSubscribe` apply that identity's
 * rules (rules.ts). Injected into the broker through its `auth` option; like
 * aedes it logs nothing and emits events.
 *
 * Who a client is:
 * - **an agent**: username = its id, password = a token signed by its key
 *   (protocol/agent-token.ts), fresh (window), never seen before (nonce book),
 *   admitted (`open`, `allowlist`, `staked`: admission.ts). Its client id must be
 *   `fm-agent-<id>`: one session per agent, taken over only by that agent.
 * - **a user** of the credentials file: name and password (slow hash, cached once
 *   verified: password-checker.ts), with its role. Its MQTT client id is scoped to
 *   its name: kept when it is `<name>` or starts with `<name>:`, otherwise the
 *   broker uses `<name>:<given id>` — so no client can take over another
 *   identity's session (Mosquitto's `use_username_as_clientid`, without forcing
 *   one connection per user).
 * - **anonymous** (no username), only where `anonymous` allows it (`local`:
 *   loopback addresses only), with the anonymous rules; client ids are scoped to
 *   `anonymous:`. `fm-agent-…` client ids need the agent's key: refused.
 *
 * A last will is a publish like any other: a will the identity may not publish
 * refuses the connect.
 */
import { timingSafeEqual, createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import type { Aedes, AuthenticateError, Client, PublishPacket, Subscription } from 'aedes'
import { checkAgentToken, looksLikeAgentToken } from '../../protocol/agent-token.ts'
import { AuthError, toFogmeshError } from '../../protocol/errors.ts'
import { mergeOptions } from '../../protocol/options.ts'
import { Admission, type AdmissionMode, type StakeRegistry } from './admission.ts'
import { CredentialStore, type Role } from './credentials.ts'
import { NonceBook } from './nonce-book.ts'
import { PasswordChecker } from './password-checker.ts'
import { StreamGrants } from './stream-grants.ts'
import { canPublish, canSubscribe, rulesFor, type IdentityKind, type RuleSet } from './rules.ts'

export type AnonymousPolicy = 'none' | 'local' | 'any'

export interface BrokerAuthOptions {
  /** Users and the agent allowlist (default: none). */
  credentials?: CredentialStore
  /** Which agents may join (default `allowlist`). */
  agents?: AdmissionMode
  /** For `agents: 'staked'`. */
  registry?: StakeRegistry
  /** Clients without credentials (default `none`; `local`: from loopback addresses only). */
  anonymous?: AnonymousPolicy
  /** Users that live in memory only, e.g. the gateway inside `fogmesh broker`. */
  internalUsers?: Array<{ name: string; role: Role; password: string }>
  /** An agent token is valid this long either side of the broker's clock (default 300,000 ms). */
  tokenWindowMs?: number
  /** Agent-token nonces remembered against replay (default 100,000). */
  maxNonces?: number
  /** Password hashes computing at once (default 8). */
  maxPendingChecks?: number
  /** Verified passwords remembered as HMACs (default 10,000; 0: hash every connect). */
  maxVerifiedCache?: number
  /** Streams whose `replyTo` is granted to their agent, remembered at once (default 10,000; stream-grants.ts). */
  maxStreamGrants?: number
  now?: () => number
}

const DEFAULTS = { agents: 'allowlist' as AdmissionMode, anonymous: 'none' as AnonymousPolicy, tokenWindowMs: 300_000, maxNonces: 100_000, maxPendingChecks: 8, maxVerifiedCache: 10_000, maxStreamGrants: 10_000 }

export interface ClientIdentity {
  kind: IdentityKind
  /** The user's name, the agent's id, or `anonymous`. */
  name: string
  /** Agents: their ed25519 public key (hex). */
  publicKey?: string
  /** Users of the credentials file: the hash they logged in against (a new password ends the session). */
  hash?: string
  rules: RuleSet
}

export interface BrokerAuthEvents {
  authenticated: [{ clientId: string; kind: IdentityKind; name: string; remote: string }]
  authRefused: [{ clientId: string; username: string; remote: string; reason: string; message: string }]
  /** A publish (the client is disconnected, MQTT-3.3.5-2), a subscription (SUBACK 0x80) or a will the identity may not make. */
  denied: [{ clientId: string; kind: IdentityKind; name: string; action: 'publish' | 'subscribe'; topic: string }]
  /** A live session ended because its identity was removed, its role or password changed, or the agent left the allowlist (revokeStale). */
  revoked: [{ clientId: string; kind: IdentityKind; name: string; reason: 'removed' | 'role_changed' | 'password_changed' | 'not_allowlisted' }]
  /** A bound bit: `maxNonces` (old tokens refused until agents retry), `maxPendingChecks` (connects refused as busy), `maxStreamGrants` (the oldest stream's grant dropped). */
  limit: [{ limit: string; value: number }]
}

/** How a refusal travels in CONNACK (MQTT 3.1.1 return codes). */
const RETURN_CODE: Record<string, 2 | 3 | 4 | 5> = {
  client_id_reserved: 2, client_id_mismatch: 2, busy: 3, registry_unavailable: 3, bad_password: 4, unknown_user: 4, agent_needs_token: 4,
  token_malformed: 4, token_wrong_id: 4, token_bad_signature: 4, token_expired: 4, token_from_future: 4, token_replayed: 4,
  // everything else (anonymous_refused, anonymous_not_local, not_admitted, will_not_allowed): 5, not authorized
}

export class BrokerAuth extends EventEmitter<BrokerAuthEvents> {
  readonly credentials: CredentialStore
  readonly admission: Admission
  readonly anonymous: AnonymousPolicy
  private readonly opts: ReturnType<typeof mergeOptions<BrokerAuthOptions, typeof DEFAULTS>>
  private readonly nonces: NonceBook
  private readonly passwords: PasswordChecker
  /** Stream replies granted to the agents running them. */
  readonly streamGrants: StreamGrants
  private readonly identities = new WeakMap<Client, ClientIdentity>()
  private readonly internal: Map<string, { role: Role; password: Buffer }>
  private readonly now: () => number

  constructor(options: BrokerAuthOptions = {}) {
    super()
    this.opts = mergeOptions(options, DEFAULTS, {
      tokenWindowMs: { min: 1000, max: 86_400_000, integer: true },
      maxNonces: { min: 1, integer: true },
      maxPendingChecks: { min: 1, integer: true },
      maxVerifiedCache: { min: 0, integer: true },
      maxStreamGrants: { min: 1, integer: true },
    }, 'auth')
    this.credentials = this.opts.credentials ?? CredentialStore.inMemory()
    this.anonymous = this.opts.anonymous
    this.now = this.opts.now ?? Date.now
    this.admission = new Admission({ mode: this.opts.agents, allowed: (id) => this.credentials.hasAgent(id), ...(this.opts.registry ? { registry: this.opts.registry } : {}) })
    this.nonces = new NonceBook({ windowMs: this.opts.tokenWindowMs, maxEntries: this.opts.maxNonces, onLimit: () => this.emit('limit', { limit: 'maxNonces', value: this.opts.maxNonces }) })
    this.passwords = new PasswordChecker({
      maxPending: this.opts.maxPendingChecks,
      maxCached: this.opts.maxVerifiedCache,
      onLimit: () => this.emit('limit', { limit: 'maxPendingChecks', value: this.opts.maxPendingChecks }),
    })
    this.streamGrants = new StreamGrants({ maxGrants: this.opts.maxStreamGrants, onLimit: () => this.emit('limit', { limit: 'maxStreamGrants', value: this.opts.maxStreamGrants }) })
    this.internal = new Map((this.opts.internalUsers ?? []).map((u) => [u.name, { role: u.role, password: Buffer.from(u.password) }]))
  }

  /** Who `client` authenticated as (undefined before CONNECT completed). */
  identityOf(client: Client): ClientIdentity | undefined {
    return this.identities.get(client)
  }

  /** The aedes hooks; `remoteOf` tells a client's remote address (for `anonymous: 'local'`). */
  hooks(remoteOf: (client: Client) => string | undefined) {
    return {
      authenticate: (client: Client, username: Readonly<string | undefined>, password: Readonly<Buffer | undefined>, done: (error: AuthenticateError | null, success: boolean | null) => void) => {
        const remote = remoteOf(client) ?? ''
        const given = client.id
        this.identify(client, username ?? '', password, remote).then(
          (identity) => {
            this.identities.set(client, identity)
            this.emit('authenticated', { clientId: client.id, kind: identity.kind, name: identity.name, remote })
            done(null, true)
          },
          (err: unknown) => {
            const e = err instanceof AuthError ? err : new AuthError('internal', toFogmeshError(err).shortMessage, { cause: err })
            this.emit('authRefused', { clientId: given, username: username ?? '', remote, reason: e.reason, message: e.shortMessage })
            done(Object.assign(new Error(e.shortMessage), { returnCode: RETURN_CODE[e.reason] ?? 5 }) as AuthenticateError, false)
          },
        )
      },
      authorizePublish: (client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void) => {
        if (!client) return callback(null) // the broker's own publishes (wills of clients of a previous run were checked at their connect)
        const id = this.identities.get(client)
        const narrowed = id?.kind === 'agent' && this.streamGrants.stateRefusal(id.name, packet.topic) === true // another stream's state
        if (id && !narrowed && canPublish(id.rules, packet.topic)) {
          if (id.kind === 'gateway') this.streamGrants.observe(packet.topic, packet.payload) // a stream start grants its agent the replyTo
          return callback(null)
        }
        if (id?.kind === 'agent' && this.streamGrants.allows(id.name, packet.topic)) return callback(null)
        this.emit('denied', { clientId: client.id, kind: id?.kind ?? 'anonymous', name: id?.name ?? '?', action: 'publish', topic: packet.topic })
        callback(new Error(`not authorized to publish on ${packet.topic}`))
      },
      authorizeSubscribe: (client: Client, sub: Subscription, callback: (error: Error | null, subscription?: Subscription | null) => void) => {
        const id = this.identities.get(client)
        if (id && canSubscribe(id.rules, sub.topic)) return callback(null, sub)
        this.emit('denied', { clientId: client.id, kind: id?.kind ?? 'anonymous', name: id?.name ?? '?', action: 'subscribe', topic: sub.topic })
        callback(null, null) // SUBACK 0x80; the client stays connected
      },
    }
  }

  /**
   * Ends every live session whose identity no longer holds (after the credentials file was re-read):
   * a removed user, a user whose role or password changed, an agent taken off the allowlist.
   * Their next connect is checked afresh. Returns how many were closed.
   */
  revokeStale(clients: Iterable<Client>): number {
    let closed = 0
    for (const client of clients) {
      const id = this.identities.get(client)
      if (!id) continue
      let reason: BrokerAuthEvents['revoked'][0]['reason'] | undefined
      if (id.kind === 'agent') {
        if (this.admission.mode === 'allowlist' && !this.credentials.hasAgent(id.name)) reason = 'not_allowlisted'
      } else if (id.kind !== 'anonymous' && id.hash !== undefined) {
        const entry = this.credentials.user(id.name)
        reason = !entry ? 'removed' : entry.role !== id.kind ? 'role_changed' : entry.hash !== id.hash ? 'password_changed' : undefined
      }
      if (!reason) continue
      this.identities.delete(client)
      this.emit('revoked', { clientId: client.id, kind: id.kind, name: id.name, reason })
      client.close()
      closed++
    }
    return closed
  }

  private async identify(client: Client, username: string, passwordBytes: Readonly<Buffer | undefined>, remote: string): Promise<ClientIdentity> {
    const given = client.id
    const password = passwordBytes ? Buffer.from(passwordBytes).toString('utf8') : ''
    let identity: ClientIdentity
    if (username === '' && password === '') {
      if (this.anonymous === 'none') throw new AuthError('anonymous_refused', 'this broker takes no anonymous clients: give a user name and password')
      if (this.anonymous === 'local' && !isLoopback(remote)) throw new AuthError('anonymous_not_local', `anonymous clients only from this machine (not ${remote})`)
      if (isAgentClientId(given)) throw new AuthError('client_id_reserved', `client id ${given} is an agent's: connect with that agent's key`)
      identity = { kind: 'anonymous', name: 'anonymous', rules: rulesFor('anonymous', 'anonymous') }
      setClientId(client, scopedClientId('anonymous', given))
    } else if (looksLikeAgentToken(password)) {
      const now = this.now()
      const t = checkAgentToken(username, password, now, this.opts.tokenWindowMs)
      if (given !== `fm-agent-${t.id}`) throw new AuthError('client_id_mismatch', `agent ${t.id} must connect with client id fm-agent-${t.id} (got ${given})`)
      if (!this.nonces.accept(t.id, t.nonce, t.issuedAt, now)) throw new AuthError('token_replayed', `agent token of ${t.id} was used before (or is older than the replay window holds)`)
      await this.admission.admit(t.id, t.publicKey, now)
      identity = { kind: 'agent', name: t.id, publicKey: t.publicKey, rules: rulesFor('agent', t.id) }
    } else {
      if (/^[0-9a-f]{20}$/.test(username)) throw new AuthError('agent_needs_token', `agent ${username}: the fogmesh broker checks agents by their key (a signed token), not a password`)
      const { role, hash } = await this.checkUser(username, password)
      if (isAgentClientId(given)) throw new AuthError('client_id_reserved', `client id ${given} is an agent's: connect with that agent's key`)
      identity = { kind: role, name: username, rules: rulesFor(role, username), ...(hash !== undefined ? { hash } : {}) }
      setClientId(client, scopedClientId(username, given))
    }
    const will = (client as unknown as { _will?: { topic: string } | null })._will
    if (will && !canPublish(identity.rules, will.topic)) throw new AuthError('will_not_allowed', `${identity.kind} ${identity.name} may not publish its will on ${will.topic}`)
    return identity
  }

  private async checkUser(name: string, password: string): Promise<{ role: Role; hash?: string }> {
    const internal = this.internal.get(name)
    if (internal) {
      const a = createHash('sha256').update(password).digest()
      if (!timingSafeEqual(a, createHash('sha256').update(internal.password).digest())) throw new AuthError('bad_password', `bad user name or password for "${name}"`)
      return { role: internal.role }
    }
    const entry = this.credentials.user(name)
    await this.passwords.check(name, entry?.hash, password)
    return { role: entry!.role, hash: entry!.hash }
  }
}

export function createBrokerAuth(options: BrokerAuthOptions = {}): BrokerAuth {
  return new BrokerAuth(options)
}

const AGENT_CLIENT_ID = /^fm-agent-/
const isAgentClientId = (id: string) => AGENT_CLIENT_ID.test(id)

/** `<scope>` or `<scope>:…` stays; anything else becomes `<scope>:<id>`. */
export function scopedClientId(scope: string, given: string): string {
  return given === scope || given.startsWith(`${scope}:`) ? given : `${scope}:${given}`
}

/** aedes reads `client.id` after `authenticate` (session takeover, persistence): the scoped id is the session. */
function setClientId(client: Client, id: string): void {
  ;(client as { id: string }).id = id
}

/** The sessions connected now (aedes keeps them by client id; its types leave the map out): for `revokeStale`. */
export function liveClients(broker: { aedes: Aedes }): Client[] {
  return Object.values((broker.aedes as unknown as { clients: Record<string, Client> }).clients)
}

export function isLoopback(address: string): boolean {
  const a = address.startsWith('::ffff:') ? address.slice(7) : address
  return a === '::1' || /^127\.\d{1,3}\.\d{1,3}\.\d{1,3}$/.test(a)
}
