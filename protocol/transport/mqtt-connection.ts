/**
 * The real broker connection: mqtt.js speaking MQTT 3.1.1 (any broker works),
 * TCP_NODELAY on the client socket too (mqtt.js leaves Nagle on, which costs
 * tens of milliseconds per small message on loopback).
 */
import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import type { Duplex } from 'node:stream'
import mqtt, { MqttClient, type IClientOptions } from 'mqtt'
import { AuthError, ErrorCode, FogmeshError } from '../errors.ts'
import type { Connection, ConnectionEvents, ConnectOptions, Handler, PublishOptions } from '../transport.ts'
import { writeOncePerTurn } from './turn-writes.ts'
import { TopicRouter } from './topic-router.ts'

/** How long an unforced close waits for in-flight publishes to be acknowledged before it ends forced. */
export const CLOSE_GRACE_MS = 5_000

export class MqttConnection extends EventEmitter<ConnectionEvents> implements Connection {
  private readonly router = new TopicRouter((topic, error) => this.emit('handlerError', { topic, error }))

  /** The mqtt.js client underneath: for diagnostics (packet taps in bench/), never for the mesh's own code. */
  constructor(readonly client: MqttClient, readonly clientId: string) {
    super()
    client.on('message', (topic, payload, packet) => this.router.dispatch(topic, payload, { retain: packet.retain }))
    client.on('connect', () => this.emit('connect'))
    client.on('offline', () => this.emit('offline'))
  }

  get connected(): boolean {
    return this.client.connected
  }

  route(filter: string, handler: Handler): void {
    this.router.route(filter, handler)
  }

  unroute(filter: string): void {
    this.router.unroute(filter)
  }

  async subscribe(filters: string | string[], qos: 0 | 1 = 1): Promise<void> {
    try {
      await this.client.subscribeAsync(filters, { qos })
    } catch (err) {
      // SUBACK 0x80: the broker's access rules refuse (one of) the filters for this identity
      if (err instanceof Error && /^Subscribe error/.test(err.message)) {
        throw new AuthError('subscribe_refused', `the broker refused the subscription to ${[filters].flat().join(', ')} (not allowed for this identity)`, { cause: err })
      }
      throw err
    }
  }

  async unsubscribe(filters: string | string[]): Promise<void> {
    await this.client.unsubscribeAsync(filters)
  }

  publish(topic: string, payload: Buffer | string, o: PublishOptions = {}): void {
    this.client.publish(topic, payload, { qos: o.qos ?? 0, retain: o.retain ?? false })
  }

  async publishAsync(topic: string, payload: Buffer | string, o: PublishOptions = {}): Promise<void> {
    await this.client.publishAsync(topic, payload, { qos: o.qos ?? 1, retain: o.retain ?? false })
  }

  /**
   * Ends the session. Unforced, mqtt.js waits for every in-flight QoS 1 publish to be acknowledged,
   * which a broker that withholds PUBACKs (Redis away, a journal behind) can make last forever; after
   * CLOSE_GRACE_MS it ends forced. Nothing acknowledged is lost by that: what was not acknowledged
   * stays in the outgoing store (the agent's on-disk outbox) and goes out on the next connect.
   */
  async close(force = false): Promise<void> {
    if (!force && Object.keys(this.client.outgoing).length > 0) {
      // mqtt.js's own unforced end waits for 'outgoingEmpty' with no bound, and a second end() is a no-op
      let timer: NodeJS.Timeout | undefined
      let onEmpty: (() => void) | undefined
      const drained = await Promise.race([
        new Promise<boolean>((resolve) => this.client.once('outgoingEmpty', (onEmpty = () => resolve(true)))),
        new Promise<boolean>((resolve) => (timer = setTimeout(() => resolve(false), CLOSE_GRACE_MS))),
      ])
      clearTimeout(timer)
      if (onEmpty) this.client.off('outgoingEmpty', onEmpty)
      force = !drained
    }
    await this.client.endAsync(force)
  }
}

/**
 * Several brokers of one cluster, given as `URL,URL,...` (the CLI's `--broker A,B`): mqtt.js's
 * `servers` failover — the first is tried first, and every reconnect moves on to the next one.
 */
export function brokerUrls(url: string): URL[] {
  return url.split(',').map((one) => {
    const u = one.trim()
    let parsed: URL
    try {
      parsed = new URL(u)
    } catch {
      throw new FogmeshError(ErrorCode.usage, `broker URL is not a URL: ${u}`)
    }
    if (!['mqtt:', 'tcp:', 'ws:', 'wss:', 'mqtts:'].includes(parsed.protocol)) {
      throw new FogmeshError(ErrorCode.usage, `broker URL must start with mqtt://, ws:// or wss:// (got ${u})`)
    }
    return parsed
  })
}

export async function connect(url: string, options: ConnectOptions = {}): Promise<MqttConnection> {
  const urls = brokerUrls(url)
  if (urls.length > 1 && urls.some((u) => u.protocol === 'ws:' || u.protocol === 'wss:')) {
    throw new FogmeshError(ErrorCode.usage, `several broker URLs (failover) must be mqtt:// or mqtts:// (got ${url})`)
  }
  const servers = urls.length > 1 ? urls.map((u) => ({ host: u.hostname, port: Number(u.port || (u.protocol === 'mqtts:' ? 8883 : 1883)), protocol: u.protocol.slice(0, -1) as 'mqtt' | 'mqtts' | 'tcp' })) : undefined
  const opts: IClientOptions = {
    ...clientOptions(options),
    ...(servers ? { servers } : {}),
  }
  return established(mqtt.connect(urls[0]!.href, opts), url, options, servers?.length)
}

/**
 * An MQTT client over a stream of its own making (`build` is called again for every reconnect):
 * e.g. a MessagePort into the broker's thread (port-stream.ts). Everything else as `connect`.
 */
export function connectStream(build: () => Duplex, label: string, options: ConnectOptions = {}): Promise<MqttConnection> {
  const opts = clientOptions(options)
  return established(new MqttClient(() => build() as never, opts), label, options, undefined)
}

function clientOptions(options: ConnectOptions): IClientOptions & { clientId: string } {
  const creds = options.credentials
  const clientId = options.clientId ?? (creds?.username ? `${creds.username}:${randomBytes(6).toString('hex')}` : `fm-${randomBytes(6).toString('hex')}`)
  const password = () => (typeof creds?.password === 'function' ? creds.password() : creds?.password)
  const w = typeof options.will === 'function' ? options.will() : options.will
  const will = w ? { ...w, payload: Buffer.from(w.payload) } : undefined
  return {
    clientId,
    protocolVersion: 4,
    clean: options.clean ?? true,
    keepalive: options.keepaliveSeconds ?? 10,
    connectTimeout: options.connectTimeoutMs ?? 5000,
    reconnectPeriod: options.reconnect === false ? 0 : 500,
    queueQoSZero: false,
    // mqtt.js calls its debug logger ~20 times per packet (args gathered, an `enabled` getter each
    // time) even when it logs nothing: a no-op unless DEBUG asks for logs at all
    ...(process.env.DEBUG ? {} : { log: noLog }),
    ...(options.outbox ? { outgoingStore: options.outbox as IClientOptions['outgoingStore'] } : {}),
    ...(creds?.username !== undefined ? { username: creds.username } : {}),
    ...(creds?.password !== undefined ? { password: password() } : {}),
    ...(creds?.ca !== undefined ? { ca: creds.ca } : {}),
    ...(creds?.loopbackTrust ? { rejectUnauthorized: false } : {}),
    ...(will ? { will } : {}),
  }
}

/** Waits for the first CONNACK of `client`; then the connection, with per-connection wills, fresh passwords and nodelay kept up. */
async function established(client: MqttClient, url: string, options: ConnectOptions, serverCount: number | undefined): Promise<MqttConnection> {
  const creds = options.credentials
  const clientId = client.options.clientId!
  const password = () => (typeof creds?.password === 'function' ? creds.password() : creds?.password)
  const willNow = () => {
    const w = typeof options.will === 'function' ? options.will() : options.will
    return w ? { ...w, payload: Buffer.from(w.payload) } : undefined
  }
  const servers = serverCount
  // the connection (its message listener and the caller's early routes) before the CONNACK: a
  // persistent session's queued messages may come in the same read as it
  const conn = new MqttConnection(client, clientId)
  for (const [filter, handler] of options.routes ?? []) conn.route(filter, handler)
  // mqtt.js sends `options.will` again on every reconnect: a will made per connection is made anew
  if (typeof options.will === 'function') client.on('reconnect', () => (client.options.will = willNow()))
  // mqtt.js re-sends the options' password on every reconnect: a token must be fresh each time
  if (typeof creds?.password === 'function') client.on('reconnect', () => (client.options.password = password()))
  const setNoDelay = () => (client.stream as { setNoDelay?: (on: boolean) => void } | undefined)?.setNoDelay?.(true)
  client.on('connect', setNoDelay)
  // nodelay as early as possible: before CONNECT leaves
  client.stream?.once?.('connect', setNoDelay)
  if (options.writesPerTurn) {
    // each stream of a reconnect anew (before CONNACK only CONNECT has left)
    const perTurn = () => client.stream && writeOncePerTurn(client.stream as unknown as Duplex)
    client.on('connect', perTurn)
    perTurn()
  }

  // with several brokers: a refused or dead first one is a move to the next, until each was tried
  let tried = 1
  const onReconnect = () => void tried++
  if (servers !== undefined) client.on('reconnect', onReconnect)
  await new Promise<void>((resolve, reject) => {
    const onError = (err: Error & { code?: unknown }) => {
      if (servers !== undefined && typeof err.code === 'string' && tried < servers) return
      cleanup()
      client.end(true)
      // CONNACK 2 (identifier rejected), 4 (bad user name or password), 5 (not authorized)
      if (err.code === 2 || err.code === 4 || err.code === 5) {
        reject(new AuthError('refused', `broker ${url} refused ${creds?.username ? `"${creds.username}"` : 'an anonymous client'}: ${err.message}`, { cause: err }))
      } else reject(new FogmeshError(ErrorCode.closed, `cannot connect to broker ${url}: ${err.message}`, { cause: err }))
    }
    const timer = setTimeout(() => ((tried = servers ?? 1), onError(new Error('timed out'))), ((options.connectTimeoutMs ?? 5000) + 100) * (servers ?? 1))
    const onConnect = () => {
      cleanup()
      resolve()
    }
    const cleanup = () => {
      clearTimeout(timer)
      client.off('connect', onConnect)
      client.off('error', onError)
      client.off('reconnect', onReconnect)
    }
    client.once('connect', onConnect)
    client.on('error', onError)
  })
  // after the first connection, errors are reconnect noise; the 'offline'/'connect' events tell the story
  client.on('error', () => {})
  return conn
}

const noLog = (): void => {}
