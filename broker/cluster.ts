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
 * acknowledged) until Redis has them.
 */
import type { AedesOptions } from 'aedes'
import { Readable } from 'node:stream'
import { ErrorCode, FogmeshError } from '../protocol/errors.ts'

export interface Cluster {
  persistence: NonNullable<AedesOptions['persistence']>
  mq: NonNullable<AedesOptions['mq']>
  close(): Promise<void>
}

/** `redis://HOST:PORT[/DB]` → the shared emitter and persistence (ioredis connections: two each). */
export async function openCluster(url: string): Promise<Cluster> {
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
  const emitter = mqemitterRedis({ connectionString: url })
  // its connections' errors surface on `state`: reconnects, not failures (ioredis retries)
  ;(emitter as unknown as { state: { on(e: 'error', f: () => void): void } }).state.on('error', () => {})
  const mq = emitter as unknown as Cluster['mq']
  const conn = new Redis(url, { maxRetriesPerRequest: null })
  // an outage is a retry: ioredis reconnects with backoff and holds the commands meanwhile (so no PUBACK goes out)
  conn.on('error', () => {})
  // aedes 1.x pipes the retained stream (`.pipe`); aedes-persistence-redis hands back an async generator
  class StreamingRedisPersistence extends RedisPersistence {
    override createRetainedStreamCombi(patterns: string[]): Readable {
      return Readable.from(super.createRetainedStreamCombi(patterns))
    }
    override createRetainedStream(pattern: string): Readable {
      return Readable.from(super.createRetainedStream(pattern))
    }
  }
  const persistence = new StreamingRedisPersistence({ conn })
  return {
    persistence: persistence as unknown as Cluster['persistence'],
    mq,
    async close() {
      await persistence.destroy().catch(() => {})
      conn.disconnect()
    },
  }
}
