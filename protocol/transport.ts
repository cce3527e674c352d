/**
 * The one way the mesh opens an MQTT connection: MQTT 3.1.1 (any broker
 * works), TCP_NODELAY on the client socket too (mqtt.js leaves Nagle on, which
 * costs tens of milliseconds per small message on loopback), and a topic
 * dispatcher so that each message kind has one handler.
 */
import { randomBytes } from 'node:crypto'
import mqtt, { type IClientOptions, type MqttClient } from 'mqtt'
import { AuthError, ErrorCode, FogmeshError } from './errors.ts'

export type Handler = (topic: string, payload: Buffer) => void

export interface ConnectOptions {
  clientId?: string
  will?: { topic: string; payload: Buffer | string; retain: boolean; qos: 0 | 1 }
  keepaliveSeconds?: number
  connectTimeoutMs?: number
  /** Reconnect after a lost connection (default true). */
  reconnect?: boolean
  /** Who this client is to a broker with authentication (`fogmesh broker --auth`, Mosquitto with a password file). */
  credentials?: ClientCredentials
}

/** What a client authenticates with: a user name and password, or an agent's id and a fresh token per connect. */
export interface ClientCredentials {
  username?: string
  /** A password, or a function called before every (re)connect (agent tokens are single-use). */
  password?: string | (() => string)
  /** PEM CA certificate(s) to trust for `mqtts://` and `wss://` (default: the system's). */
  ca?: string | Buffer
}

export interface Connection {
  readonly client: MqttClient
  readonly clientId: string
  /** Routes messages whose topic matches `filter` (MQTT wildcards) to `handler`. */
  route(filter: string, handler: Handler): void
  /** Removes the handler set for `filter`. */
  unroute(filter: string): void
  subscribe(filters: string | string[], qos?: 0 | 1): Promise<void>
  unsubscribe(filters: string | string[]): Promise<void>
  publish(topic: string, payload: Buffer | string, opts?: { qos?: 0 | 1; retain?: boolean }): void
  publishAsync(topic: string, payload: Buffer | string, opts?: { qos?: 0 | 1; retain?: boolean }): Promise<void>
  close(force?: boolean): Promise<void>
}

export async function connect(url: string, options: ConnectOptions = {}): Promise<Connection> {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new FogmeshError(ErrorCode.usage, `broker URL is not a URL: ${url}`)
  }
  if (!['mqtt:', 'tcp:', 'ws:', 'wss:', 'mqtts:'].includes(parsed.protocol)) {
    throw new FogmeshError(ErrorCode.usage, `broker URL must start with mqtt://, ws:// or wss:// (got ${url})`)
  }
  const creds = options.credentials
  // an authenticated client's id is scoped to its name (broker/auth/broker-auth.ts): pick one the broker keeps as is
  const clientId = options.clientId ?? (creds?.username ? `${creds.username}:${randomBytes(6).toString('hex')}` : `fm-${randomBytes(6).toString('hex')}`)
  const password = () => (typeof creds?.password === 'function' ? creds.password() : creds?.password)
  const opts: IClientOptions = {
    clientId,
    protocolVersion: 4,
    clean: true,
    keepalive: options.keepaliveSeconds ?? 10,
    connectTimeout: options.connectTimeoutMs ?? 5000,
    reconnectPeriod: options.reconnect === false ? 0 : 500,
    queueQoSZero: false,
    ...(creds?.username !== undefined ? { username: creds.username } : {}),
    ...(creds?.password !== undefined ? { password: password() } : {}),
    ...(creds?.ca !== undefined ? { ca: creds.ca } : {}),
    ...(options.will ? { will: { ...options.will, payload: Buffer.from(options.will.payload) } } : {}),
  }
  const client = mqtt.connect(url, opts)
  // mqtt.js re-sends the options' password on every reconnect: a token must be fresh each time
  if (typeof creds?.password === 'function') client.on('reconnect', () => (client.options.password = password()))
  const setNoDelay = () => (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true)
  client.on('connect', setNoDelay)
  // nodelay as early as possible: before CONNECT leaves
  client.stream?.once?.('connect', setNoDelay)

  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error & { code?: unknown }) => {
      cleanup()
      client.end(true)
      // CONNACK 4 (bad user name or password) and 5 (not authorized), 2 (identifier rejected)
      if (err.code === 4 || err.code === 5 || err.code === 2) {
        reject(new AuthError('refused', `broker ${url} refused ${creds?.username ? `"${creds.username}"` : 'an anonymous client'}: ${err.message}`, { cause: err }))
      } else reject(new FogmeshError(ErrorCode.closed, `cannot connect to broker ${url}: ${err.message}`, { cause: err }))
    }
    const timer = setTimeout(() => onError(new Error('timed out')), (options.connectTimeoutMs ?? 5000) + 100)
    const onConnect = () => {
      cleanup()
      resolve()
    }
    const cleanup = () => {
      clearTimeout(timer)
      client.off('connect', onConnect)
      client.off('error', onError)
    }
    client.once('connect', onConnect)
    client.once('error', onError)
  })
  // after the first connection, errors are reconnect noise; the 'offline'/'connect' events tell the story
  client.on('error', () => {})

  const routes: Array<{ filter: string; parts: string[]; handler: Handler }> = []
  const exact = new Map<string, Handler>()
  client.on('message', (topic, payload) => {
    const direct = exact.get(topic)
    if (direct) return direct(topic, payload)
    for (const r of routes) {
      if (matches(r.parts, topic)) return r.handler(topic, payload)
    }
  })

  return {
    client,
    clientId,
    route(filter, handler) {
      if (filter.includes('+') || filter.includes('#')) routes.push({ filter, parts: filter.split('/'), handler })
      else exact.set(filter, handler)
    },
    unroute(filter) {
      exact.delete(filter)
      const i = routes.findIndex((r) => r.filter === filter)
      if (i >= 0) routes.splice(i, 1)
    },
    async subscribe(filters, qos = 1) {
      await client.subscribeAsync(filters, { qos })
    },
    async unsubscribe(filters) {
      await client.unsubscribeAsync(filters)
    },
    publish(topic, payload, o = {}) {
      client.publish(topic, payload, { qos: o.qos ?? 0, retain: o.retain ?? false })
    },
    async publishAsync(topic, payload, o = {}) {
      await client.publishAsync(topic, payload, { qos: o.qos ?? 1, retain: o.retain ?? false })
    },
    async close(force = false) {
      await client.endAsync(force)
    },
  }
}

/** MQTT topic filter matching (`+` one level, `#` the rest). */
export function matches(filterParts: string[], topic: string): boolean {
  const t = topic.split('/')
  for (let i = 0; i < filterParts.length; i++) {
    const f = filterParts[i]
    if (f === '#') return true
    if (i >= t.length) return false
    if (f !== '+' && f !== t[i]) return false
  }
  return filterParts.length === t.length
}
