/**
 * The broker-connection port: everything the agent and the market need from
 * MQTT, and nothing of mqtt.js. Two implementations:
 *
 * - `connect(url)` (transport/mqtt-connection.ts): a real MQTT 3.1.1 client
 *   (any broker works), TCP_NODELAY on its socket;
 * - `MemoryBus` (transport/memory-bus.ts): an in-process broker with the MQTT
 *   semantics the mesh relies on (wildcards, retained messages, last wills,
 *   per-publisher order), for fast unit tests.
 *
 * Each message kind has one handler: `route(filter, handler)` dispatches an
 * arriving message to the handler of the first matching filter (exact topics first).
 */
export { connect, type MqttConnection } from './transport/mqtt-connection.ts'
import { connect } from './transport/mqtt-connection.ts'

/** How a message arrived. */
export interface Delivery {
  /** True when sent because a subscription was made (the broker's retained copy), false for live messages. */
  retain: boolean
}

export type Handler = (topic: string, payload: Buffer, delivery: Delivery) => void

/** The message the broker publishes for a client whose connection dies without a clean disconnect. */
export interface Will {
  topic: string
  payload: Buffer | string
  retain: boolean
  qos: 0 | 1
}

export interface ConnectOptions {
  clientId?: string
  /** The last will; a function is called again before every (re)connect (a will signed for that connection's epoch). */
  will?: Will | (() => Will)
  keepaliveSeconds?: number
  connectTimeoutMs?: number
  /** Reconnect after a lost connection (default true); subscriptions are made again on reconnect. */
  reconnect?: boolean
  /**
   * `false`: a persistent session (MQTT clean session off) — the broker keeps the
   * subscriptions and queues QoS 1 messages while this client is away. Needs a
   * stable `clientId`. Default true.
   */
  clean?: boolean
  /**
   * Where QoS 1 publishes wait for their PUBACK: an mqtt.js store such as
   * agent/outbox.ts (on disk, so results survive a restart while the broker is
   * unreachable). Default: in memory. The in-memory bus ignores it.
   */
  outbox?: object
  /** Who this client is to a broker with authentication (`fogmesh broker --auth`, Mosquitto with a password file). */
  credentials?: ClientCredentials
  /**
   * Routes in place before CONNECT leaves. With `clean: false` the broker sends the session's
   * queued messages right after its CONNACK — before `connect()` resolves, so before any
   * `route()` after it: without a route there they would be acknowledged and dropped.
   */
  routes?: ReadonlyArray<readonly [filter: string, handler: Handler]>
  /** Packets of one event-loop turn leave in one socket write (transport/turn-writes.ts): for clients that send many a turn. Default false. */
  writesPerTurn?: boolean
}

/** What a client authenticates with: a user name and password, or an agent's id and a fresh token per connect. */
export interface ClientCredentials {
  username?: string
  /** A password, or a function called before every (re)connect (agent tokens are single-use). */
  password?: string | (() => string)
  /** PEM CA certificate(s) to trust for `mqtts://` and `wss://` (default: the system's). */
  ca?: string | Buffer
  /**
   * Skip the TLS certificate check. Only for a process talking to its own broker over
   * loopback (the gateway inside `fogmesh broker`), where the certificate names another host.
   */
  loopbackTrust?: boolean
}

export interface PublishOptions {
  qos?: 0 | 1
  retain?: boolean
}

/** `connect`: (re)connected to the broker; `offline`: the connection was lost (a reconnect may follow). */
export interface ConnectionEvents {
  connect: []
  offline: []
  /** A route handler threw on a message (a bug, contained: the message is dropped, the connection goes on). */
  handlerError: [{ topic: string; error: unknown }]
}

export interface Connection {
  readonly clientId: string
  /** Whether the connection to the broker is up right now. */
  readonly connected: boolean
  /** Routes messages whose topic matches `filter` (MQTT wildcards) to `handler`. */
  route(filter: string, handler: Handler): void
  /** Removes the handler set for `filter`. */
  unroute(filter: string): void
  /** Resolves once the broker acknowledged (SUBACK); retained messages follow. */
  subscribe(filters: string | string[], qos?: 0 | 1): Promise<void>
  unsubscribe(filters: string | string[]): Promise<void>
  /** Fire and forget (QoS 0 by default); a QoS 0 message is dropped while offline, QoS 1 is queued. */
  publish(topic: string, payload: Buffer | string, opts?: PublishOptions): void
  /** Resolves once the broker took the message (QoS 1 by default: its PUBACK). */
  publishAsync(topic: string, payload: Buffer | string, opts?: PublishOptions): Promise<void>
  on<E extends keyof ConnectionEvents>(event: E, listener: (...args: ConnectionEvents[E]) => void): unknown
  off<E extends keyof ConnectionEvents>(event: E, listener: (...args: ConnectionEvents[E]) => void): unknown
  /** Disconnects. `force`: drop the link at once, without DISCONNECT — the broker then publishes the will. */
  close(force?: boolean): Promise<void>
}

/** Something that opens connections to one broker: a URL's MQTT client, or a `MemoryBus`. */
export interface Connector {
  connect(options?: ConnectOptions): Promise<Connection>
}

/** A broker given as a URL (`mqtt://…`, `ws://…`) or as a connector (e.g. an in-memory bus). */
export type BrokerAddress = string | Connector

export function connectorFor(broker: BrokerAddress): Connector {
  return typeof broker === 'string' ? { connect: (options) => connect(broker, options) } : broker
}
