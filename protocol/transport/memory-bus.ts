/**
 * The in-memory twin of an MQTT broker and its clients, for unit tests of the
 * agent and the market. It keeps the semantics the mesh relies on:
 *
 * - topic filters with `+` and `#` (a wildcard first level never matches `$…`);
 * - retained messages, delivered with `retain: true` right after the SUBACK;
 *   an empty retained payload clears the topic (and is delivered live);
 * - live messages reach every client with a matching subscription once, with
 *   `retain: false`, in the order each publisher sent them within a QoS level;
 *   as with aedes, a QoS 0 message may overtake a QoS 1 one sent just before
 *   it (the broker acknowledges a QoS 1 message before forwarding it), so
 *   code that passes tests here does not lean on an order MQTT does not promise;
 * - the last will, published when a link dies (`drop`, or `close(true)`), not
 *   on a clean `close()`;
 * - clean sessions: a dropped client loses its broker-side subscriptions and
 *   what was published meanwhile; on `reconnect` it subscribes again (as
 *   mqtt.js does), gets the retained messages again, and sends the QoS 1
 *   messages it queued while offline (QoS 0 ones were dropped) — forwarded
 *   before its new subscriptions are in place, as aedes does.
 *
 * Deliveries are asynchronous, like a network: the bus works through its
 * queue in `setImmediate` turns. `flush()` resolves once the queue is empty.
 */
import { randomBytes } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { ErrorCode, FogmeshError } from '../errors.ts'
import type { Connection, ConnectionEvents, ConnectOptions, Connector, Handler, PublishOptions, Will } from '../transport.ts'
import { filterMatchesTopic, TopicRouter } from './topic-router.ts'

type Op =
  | { kind: 'publish'; topic: string; payload: Buffer; qos: 0 | 1; retain: boolean; done: (() => void) | undefined }
  | { kind: 'subscribe'; client: MemoryConnection; filters: string[]; qos: 0 | 1; done: () => void }
  | { kind: 'retained'; client: MemoryConnection; filters: string[] }
  | { kind: 'unsubscribe'; client: MemoryConnection; filters: string[]; done: () => void }
  | { kind: 'disconnect'; client: MemoryConnection; done: () => void }

export class MemoryBus implements Connector {
  /** Connected clients and their broker-side subscriptions (filter → QoS). */
  private readonly sessions = new Map<MemoryConnection, Map<string, 0 | 1>>()
  private readonly byId = new Map<string, MemoryConnection>()
  private readonly retained = new Map<string, Buffer>()
  private queue: Op[] = []
  private scheduled = false
  private readonly idle: Array<() => void> = []

  async connect(options: ConnectOptions = {}): Promise<Connection> {
    const clientId = options.clientId ?? `fm-${randomBytes(6).toString('hex')}`
    const old = this.byId.get(clientId)
    if (old) this.drop(clientId) // a second connection with the same id takes over
    const conn = new MemoryConnection(this, clientId, options.will, options.reconnect !== false)
    for (const [filter, handler] of options.routes ?? []) conn.route(filter, handler)
    this.byId.set(clientId, conn)
    this.sessions.set(conn, new Map())
    await new Promise<void>((resolve) => setImmediate(resolve)) // CONNACK
    return conn
  }

  /** The link of `clientId` dies: its will is published, it goes offline (and waits for `reconnect`, if it reconnects). */
  drop(clientId: string): void {
    const conn = this.byId.get(clientId)
    if (!conn || !conn.connected) return
    this.lose(conn)
    conn.lost()
  }

  /** A dropped client comes back: subscribes again, gets the retained messages, sends what it queued. */
  reconnect(clientId: string): void {
    const conn = this.byId.get(clientId)
    if (!conn || conn.connected || conn.closed) return
    this.sessions.set(conn, new Map())
    conn.restored()
  }

  /** The retained payload on `topic`, if any. */
  retainedOn(topic: string): Buffer | undefined {
    return this.retained.get(topic)
  }

  /** Ids of the clients connected now. */
  clientIds(): string[] {
    return [...this.sessions.keys()].map((c) => c.clientId)
  }

  /** Resolves once every queued operation was carried out (including what they queued in turn). */
  flush(): Promise<void> {
    if (this.queue.length === 0 && !this.scheduled) return Promise.resolve()
    return new Promise((resolve) => this.idle.push(resolve))
  }

  // ---- for MemoryConnection -------------------------------------------------

  /** @internal */
  enqueue(op: Op): void {
    this.queue.push(op)
    this.schedule()
  }

  /** @internal A link ends without DISCONNECT: the will goes out, the session is gone. */
  lose(conn: MemoryConnection): void {
    if (!this.sessions.delete(conn)) return
    const will: Will | undefined = conn.currentWill
    // the broker publishes the will itself: no PUBACK round first
    if (will) this.enqueue({ kind: 'publish', topic: will.topic, payload: Buffer.from(will.payload), qos: 0, retain: will.retain, done: undefined })
  }

  /** @internal The client is closed for good. */
  forget(conn: MemoryConnection): void {
    this.sessions.delete(conn)
    if (this.byId.get(conn.clientId) === conn) this.byId.delete(conn.clientId)
  }

  private schedule(): void {
    if (this.scheduled) return
    this.scheduled = true
    setImmediate(() => this.drain())
  }

  /**
   * Carries out the operations queued so far. A QoS 1 publish is acknowledged
   * in this turn and forwarded at the start of the next; a SUBACK ends the
   * turn (its retained messages come first in the next).
   */
  private drain(): void {
    this.scheduled = false
    const batch = this.queue
    this.queue = []
    const acked: Op[] = []
    let rest: Op[] = []
    for (let i = 0; i < batch.length; i++) {
      const op = batch[i] as Op
      if (op.kind === 'publish' && op.qos === 1) {
        acked.push({ ...op, qos: 0 })
        continue
      }
      this.carryOut(op)
      if (op.kind === 'subscribe') {
        rest = [{ kind: 'retained', client: op.client, filters: op.filters }, ...batch.slice(i + 1)]
        break
      }
    }
    this.queue = [...rest.slice(0, 1), ...acked, ...rest.slice(1), ...this.queue]
    if (this.queue.length > 0) this.schedule()
    else for (const resolve of this.idle.splice(0)) resolve()
  }

  private carryOut(op: Op): void {
    switch (op.kind) {
      case 'publish': {
        if (op.retain) {
          if (op.payload.length === 0) this.retained.delete(op.topic)
          else this.retained.set(op.topic, op.payload)
        }
        for (const [conn, subs] of this.sessions) {
          for (const filter of subs.keys()) {
            if (!filterMatchesTopic(filter, op.topic)) continue
            conn.deliver(op.topic, Buffer.from(op.payload), false)
            break
          }
        }
        op.done?.()
        return
      }
      case 'subscribe': {
        const subs = this.sessions.get(op.client)
        if (subs) for (const f of op.filters) subs.set(f, op.qos)
        op.done()
        return
      }
      case 'retained': {
        if (!this.sessions.has(op.client)) return
        for (const [topic, payload] of this.retained) {
          if (op.filters.some((f) => filterMatchesTopic(f, topic))) op.client.deliver(topic, Buffer.from(payload), true)
        }
        return
      }
      case 'unsubscribe': {
        const subs = this.sessions.get(op.client)
        if (subs) for (const f of op.filters) subs.delete(f)
        op.done()
        return
      }
      case 'disconnect': {
        this.forget(op.client)
        op.done()
        return
      }
    }
  }
}

type Outgoing = { topic: string; payload: Buffer; qos: 0 | 1; retain: boolean; done: (() => void) | undefined }

/** One client of a MemoryBus. */
export class MemoryConnection extends EventEmitter<ConnectionEvents> implements Connection {
  private readonly router = new TopicRouter((topic, error) => this.emit('handlerError', { topic, error }))
  /** What this client asked for, made again on every reconnect (mqtt.js's resubscribe). */
  private readonly wanted = new Map<string, 0 | 1>()
  /** QoS 1 messages published while offline, sent on reconnect. */
  private readonly outbox: Outgoing[] = []
  private waitingForSubscribe: Array<() => void> = []
  private state: 'online' | 'offline' | 'closed' = 'online'

  /** @internal */
  constructor(
    private readonly bus: MemoryBus,
    readonly clientId: string,
    private readonly will: Will | (() => Will) | undefined,
    private readonly reconnects: boolean,
  ) {
    super()
    this.currentWill = typeof will === 'function' ? will() : will
  }

  /** @internal The will of this connection (a will function is called again on every reconnect, as over mqtt.js). */
  currentWill: Will | undefined

  get connected(): boolean {
    return this.state === 'online'
  }

  get closed(): boolean {
    return this.state === 'closed'
  }

  route(filter: string, handler: Handler): void {
    this.router.route(filter, handler)
  }

  unroute(filter: string): void {
    this.router.unroute(filter)
  }

  subscribe(filters: string | string[], qos: 0 | 1 = 1): Promise<void> {
    const list = typeof filters === 'string' ? [filters] : filters
    if (this.state === 'closed') return Promise.reject(closedError())
    for (const f of list) this.wanted.set(f, qos)
    return new Promise((resolve) => {
      if (this.state === 'offline') this.waitingForSubscribe.push(resolve)
      else this.bus.enqueue({ kind: 'subscribe', client: this, filters: list, qos, done: resolve })
    })
  }

  unsubscribe(filters: string | string[]): Promise<void> {
    const list = typeof filters === 'string' ? [filters] : filters
    if (this.state === 'closed') return Promise.reject(closedError())
    for (const f of list) this.wanted.delete(f)
    if (this.state === 'offline') return Promise.resolve()
    return new Promise((resolve) => this.bus.enqueue({ kind: 'unsubscribe', client: this, filters: list, done: resolve }))
  }

  publish(topic: string, payload: Buffer | string, o: PublishOptions = {}): void {
    this.send({ topic, payload: Buffer.from(payload), qos: o.qos ?? 0, retain: o.retain ?? false, done: undefined })
  }

  publishAsync(topic: string, payload: Buffer | string, o: PublishOptions = {}): Promise<void> {
    if (this.state === 'closed') return Promise.reject(closedError())
    return new Promise((resolve) => this.send({ topic, payload: Buffer.from(payload), qos: o.qos ?? 1, retain: o.retain ?? false, done: resolve }))
  }

  close(force = false): Promise<void> {
    if (this.state === 'closed') return Promise.resolve()
    const wasOnline = this.state === 'online'
    this.state = 'closed'
    this.outbox.length = 0
    if (!wasOnline) {
      this.bus.forget(this)
      return Promise.resolve()
    }
    if (force) {
      this.bus.lose(this)
      this.bus.forget(this)
      return Promise.resolve()
    }
    return new Promise((resolve) => this.bus.enqueue({ kind: 'disconnect', client: this, done: resolve }))
  }

  // ---- for MemoryBus ---------------------------------------------------------

  /** @internal */
  deliver(topic: string, payload: Buffer, retain: boolean): void {
    if (this.state !== 'online') return
    try {
      this.router.dispatch(topic, payload, { retain })
    } catch (err) {
      // as with a real client: a throwing handler is the application's uncaught error, not the bus's
      queueMicrotask(() => {
        throw err
      })
    }
  }

  /** @internal */
  lost(): void {
    this.state = this.reconnects ? 'offline' : 'closed'
    if (this.state === 'closed') this.bus.forget(this)
    this.emit('offline')
  }

  /** @internal */
  restored(): void {
    this.state = 'online'
    if (typeof this.will === 'function') this.currentWill = this.will()
    const waiting = this.waitingForSubscribe
    this.waitingForSubscribe = []
    const done = () => {
      for (const resolve of waiting) resolve()
    }
    // what was queued offline is resent while the subscriptions are made again: as with mqtt.js on
    // aedes, it is forwarded before they are in place (the client does not hear its own queued messages)
    for (const m of this.outbox.splice(0)) this.bus.enqueue({ kind: 'publish', ...m, qos: 0 })
    const byQos = new Map<0 | 1, string[]>()
    for (const [f, qos] of this.wanted) byQos.set(qos, [...(byQos.get(qos) ?? []), f])
    if (byQos.size === 0) done()
    let left = byQos.size
    for (const [qos, filters] of byQos) {
      this.bus.enqueue({ kind: 'subscribe', client: this, filters, qos, done: () => --left === 0 && done() })
    }
    this.emit('connect')
  }

  private send(m: Outgoing): void {
    if (this.state === 'online') this.bus.enqueue({ kind: 'publish', ...m })
    else if (this.state === 'offline' && m.qos === 1) this.outbox.push(m)
    else m.done?.() // QoS 0 while offline, or closed: dropped (mqtt.js does not queue QoS 0)
  }
}

function closedError(): FogmeshError {
  return new FogmeshError(ErrorCode.closed, 'connection is closed')
}
