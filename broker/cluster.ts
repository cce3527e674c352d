/**
 * A cluster of embedded brokers that share one Redis: messages travel between
 * them through mqemitter-redis (Redis pub/sub), and retained messages,
 * persistent sessions, offline queues and wills live in Redis through
 * aedes-persistence-redis — so a client may reconnect to any broker of the
 * cluster and find its session, and a broker killed mid-run costs its clients
 * a reconnect (the others publish its clients' wills once its heartbeats stop).
 *
 * Redis going away is a retry, not a loss: ioredis reconnects with backoff and
 * queues commands meanwhile, so aedes withholds PUBACKs (and nothing is
 * acknowledged) until Redis has them. The messages between brokers travel on a
 * Redis Stream read from each broker's own cursor (stream-emitter.ts, the
 * default): a message appended while another broker's reader was away is read
 * when it is back. `bus: 'pubsub'` is mqemitter-redis (Redis pub/sub), which
 * loses such a message for that broker (kept for comparison: bench/durability.bench.ts).
 */
import type { AedesOptions } from 'aedes'
import { Readable } from 'node:stream'
import { ErrorCode, FogmeshError } from '../protocol/errors.ts'
import { StreamEmitter, type StreamEmitterOptions } from './stream-emitter.ts'

export interface ClusterOptions extends StreamEmitterOptions {
  /** How messages travel between brokers: a Redis Stream per cluster (default) or Redis pub/sub (mqemitter-redis). */
  bus?: 'streams' | 'pubsub' | undefined
}

export interface Cluster {
  persistence: NonNullable<AedesOptions['persistence']>
  mq: NonNullable<AedesOptions['mq']>
  /**
   * Resolves once every Redis connection of this broker is up (at once when they are). aedes sends
   * a QoS 1 PUBACK *before* it routes the message, so the broker's authorizePublish waits on this:
   * nothing is acknowledged while Redis is away (the reconnect barrier).
   */
  whenUp(): Promise<void>
  /** The stream bus (its `gap` and `error` events, its counts), when `bus` is `streams`. */
  bus: StreamEmitter | undefined
  close(): Promise<void>
}

/** `redis://HOST:PORT[/DB]` → the shared emitter and persistence (ioredis connections: two each). */
export async function openCluster(url: string, options: ClusterOptions = {}): Promise<Cluster> {
  let parsed: URL
  try {
    parsed = new URL(url)
  } catch {
    throw new FogmeshError(ErrorCode.usage, `--cluster must be a redis:// URL (got ${url})`)
  }
  if (parsed.protocol !== 'redis:' && parsed.protocol !== 'rediss:') {
    throw new FogmeshError(ErrorCode.usage, `--cluster must be a redis:// URL (got ${url})`)
  }
  const [{ Redis }, { default: mqemitterRedis }, { default: RedisPersistence }] = await Promise.all([
    import('ioredis'),
    import('mqemitter-redis'),
    import('aedes-persistence-redis/asyncPersistence.js'),
  ])
  // fail fast at start when Redis is not there at all; later outages are retried
  const probe = new Redis(url, { lazyConnect: true, maxRetriesPerRequest: 0, retryStrategy: () => null })
  let cause: Error | undefined
  probe.on('error', (err: Error) => (cause ??= err))
  try {
    await probe.connect()
    await probe.ping()
  } catch (err) {
    const why = cause ?? (err as Error)
    throw new FogmeshError(ErrorCode.closed, `cannot reach Redis at ${url}: ${why.message}`, { cause: why })
  } finally {
    probe.disconnect()
  }
  const bus = options.bus === 'pubsub' ? undefined : await StreamEmitter.open(url, options)
  let mq: Cluster['mq']
  if (bus) {
    bus.events.on('error', () => {}) // reconnects, not failures (ioredis retries and holds the commands)
    mq = bus as unknown as Cluster['mq']
  } else {
    const emitter = mqemitterRedis({ connectionString: url })
    // its connections' errors surface on `state`: reconnects, not failures (ioredis retries)
    ;(emitter as unknown as { state: { on(e: 'error', f: () => void): void } }).state.on('error', () => {})
    mq = emitter as unknown as Cluster['mq']
  }
  const conn = new Redis(url, { maxRetriesPerRequest: null })
  // an outage is a retry: ioredis reconnects with backoff and holds the commands meanwhile (so no PUBACK goes out)
  conn.on('error', () => {})
  // aedes 1.x pipes the retained stream (`.pipe`); aedes-persistence-redis hands back async generators
  class StreamingRedisPersistence extends RedisPersistence {
    override createRetainedStreamCombi(patterns: string[]): Readable {
      return Readable.from(super.createRetainedStreamCombi(patterns))
    }
    override createRetainedStream(pattern: string): Readable {
      return Readable.from(super.createRetainedStream(pattern))
    }
    // aedes stores a persistent session's SUBSCRIBE once per filter, each time with all its filters, at once;
    // aedes-persistence-redis then waits for its broadcast under a key of (client, first filter), and the
    // second wait replaces the first, which never resolves (SUBACK never sent; found by broker/cluster.test.ts).
    // One call at a time per client, one filter at a time, keeps the keys apart.
    private readonly subscribing = new Map<string, Promise<void>>()
    override addSubscriptions(client: unknown, subs: unknown[]): Promise<void> {
      const id = (client as { id: string }).id
      const run = (this.subscribing.get(id) ?? Promise.resolve()).then(async () => {
        for (const s of subs) await super.addSubscriptions(client, [s])
      })
      const settled = run.catch(() => {})
      this.subscribing.set(id, settled)
      void settled.then(() => {
        if (this.subscribing.get(id) === settled) this.subscribing.delete(id)
      })
      return run
    }
    // and the session bounds (broker/limits/session-store.ts) map the outgoing stream as a Readable
    override outgoingStream(client: unknown): Readable {
      return Readable.from(super.outgoingStream(client))
    }
  }
  const persistence = new StreamingRedisPersistence({ conn })
  type Conn = { status: string; once(e: 'ready', f: () => void): unknown }
  const conns: Conn[] = [conn, ...(bus ? [bus.connection] : [(mq as unknown as { pubConn: Conn }).pubConn])]
  const up = (c: Conn) => (c.status === 'ready' ? undefined : new Promise<void>((r) => c.once('ready', r)))
  const whenUp = async () => {
    for (const c of conns) await up(c)
  }
  return {
    persistence: persistence as unknown as Cluster['persistence'],
    mq,
    bus,
    whenUp,
    async close() {
      await persistence.destroy().catch(() => {})
      conn.disconnect()
    },
  }
}
