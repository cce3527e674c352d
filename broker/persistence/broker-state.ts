/**
 * Where the broker keeps its state, chosen once at start:
 *   - in memory (the default; aedes-persistence's own);
 *   - on disk (`--data DIR`): journal-persistence.ts, a crash loses nothing acknowledged;
 *   - in Redis (`--cluster redis://H:P`): cluster.ts, shared by every broker of the cluster.
 * and the retained caps (retained-quota.ts), which hold in all three.
 *
 * The broker calls `admitPublish` from its authorizePublish hook (after its
 * own checks and the embedder's policy said yes) and `published` from aedes's
 * hook of that name; `recover` once aedes is up republishes what a crash cut
 * off between PUBACK and storage.
 */
import type { Aedes, AedesOptions, Client, PublishPacket } from 'aedes'
import type { AedesPacket } from 'aedes-packet'
import { ErrorCode, FogmeshError } from '../../protocol/errors.ts'
import { ROUTED_SINK, type StreamEmitter } from '../stream-emitter.ts'
import { JournalPersistence, type PersistenceStats } from './journal-persistence.ts'
import { RetainedQuota, type RetainedQuotaOptions, type RetainedRefusal } from './retained-quota.ts'

export interface BrokerStateOptions extends RetainedQuotaOptions {
  /** Directory for the broker's state on disk. */
  data?: string | undefined
  /** `redis://HOST:PORT`: share state and messages with the other brokers of a cluster. */
  cluster?: string | undefined
  /** With `cluster`: how messages travel between brokers, and the stream's cap (cluster.ts). */
  clusterBus?: 'streams' | 'pubsub' | undefined
  /** With `cluster`: about how many messages the cluster's stream keeps (`--cluster-stream-len`). */
  clusterStreamLen?: number | undefined
}

export interface BrokerState {
  readonly kind: 'memory' | 'disk' | 'redis'
  readonly quota: RetainedQuota
  /** What to hand aedes (`persistence`, `mq`). */
  readonly aedes: Pick<AedesOptions, 'persistence' | 'mq'>
  /** In a cluster on the stream bus: its `gap` event (the stream cap bit) and its counts. */
  readonly bus?: StreamEmitter | undefined
  /**
   * A refusal when a retained publish would break a cap; otherwise undefined once the publish is safe
   * to acknowledge: at once when nothing has to be waited for (memory, Redis, a QoS 0 publish on disk;
   * no promise on the broker's hot path), else a promise of it (a QoS 1/2 publish on disk).
   */
  admitPublish(client: Client | null, packet: PublishPacket): RetainedRefusal | undefined | Promise<RetainedRefusal | undefined>
  /** aedes's `published` hook: the message has been stored and routed. Absent when there is nothing to do. */
  published?: ((packet: PublishPacket) => void) | undefined
  /** Once aedes is up: republishes what was acknowledged but not yet stored when the broker last stopped. */
  recover(aedes: Aedes): Promise<number>
  stats(): { kind: BrokerState['kind']; retainedBytes: number; retainedTopics: number; disk?: PersistenceStats }
  close(): Promise<void>
}

export async function openBrokerState(o: BrokerStateOptions): Promise<BrokerState> {
  if (o.data !== undefined && o.cluster !== undefined) {
    throw new FogmeshError(ErrorCode.usage, 'choose --data (state on this machine) or --cluster (state in Redis), not both')
  }
  const quota = new RetainedQuota(o)
  const book = (client: Client | null, packet: PublishPacket): RetainedRefusal | undefined =>
    packet.retain ? quota.admit(client?.id ?? '', packet.topic, Buffer.byteLength(packet.payload as Buffer | string)) : undefined

  if (o.cluster !== undefined) {
    const { openCluster } = await import('../cluster.ts')
    const cluster = await openCluster(o.cluster, { bus: o.clusterBus, maxLen: o.clusterStreamLen })
    let routing: Aedes | undefined
    return {
      kind: 'redis',
      quota,
      aedes: { persistence: cluster.persistence, mq: cluster.mq },
      bus: cluster.bus,
      admitPublish(client, packet) {
        const refused = book(client, packet)
        if (refused || packet.qos === 0) return refused // QoS 0: no promise on the hot path
        return routeBeforePuback(client, packet)
      },
      recover: async (aedes) => {
        routing = aedes
        return 0
      },
      stats: () => ({ kind: 'redis', ...quota.stats() }),
      close: () => cluster.close(),
    }
    async function routeBeforePuback(client: Client | null, packet: PublishPacket): Promise<undefined> {
      await cluster.whenUp() // no PUBACK while Redis is away
      if (!routing || !cluster.bus) return undefined
      // aedes acknowledges a QoS 1 PUBLISH *before* it routes it: a broker killed in between lost an
      // acknowledged message (found by test/cluster-faults.test.ts). Route it here, into Redis (the
      // offline queues and the stream), before the PUBACK; aedes then routes an empty copy to the sink.
      const copy = { cmd: 'publish' as const, topic: packet.topic, payload: packet.payload, qos: packet.qos, retain: packet.retain, dup: false }
      const publish = routing.publish.bind(routing) as unknown as (p: PublishPacket, c: Client | null, done: (err?: Error | null) => void) => void
      await new Promise<void>((resolve, reject) => publish(copy as PublishPacket, client, (err) => (err ? reject(err) : resolve())))
      packet.topic = ROUTED_SINK
      packet.payload = Buffer.alloc(0)
      packet.retain = false
      return undefined
    }
  }

  if (o.data === undefined) {
    return {
      kind: 'memory',
      quota,
      aedes: {},
      admitPublish: book,
      recover: async () => 0,
      stats: () => ({ kind: 'memory', ...quota.stats() }),
      close: async () => {},
    }
  }

  const journal = new JournalPersistence({
    dir: o.data,
    ownerOf: (topic) => quota.ownerOf(topic),
    onRestoredRetained: (owner, topic, bytes) => quota.restore(owner, topic, bytes),
  })
  return {
    kind: 'disk',
    quota,
    aedes: { persistence: journal as unknown as AedesOptions['persistence'] },
    admitPublish(client, packet) {
      const refused = book(client, packet)
      if (refused || packet.qos === 0) return refused
      return journal.holdIncoming(client?.id ?? '', packet as unknown as AedesPacket).then(() => undefined)
    },
    published: (packet) => journal.releaseIncoming(packet as unknown as AedesPacket),
    async recover(aedes) {
      const todo = journal.unfinishedIncoming()
      await Promise.all(
        todo.map(({ packet }) => new Promise<void>((resolve) => aedes.publish(packet as unknown as PublishPacket, () => resolve()))),
      )
      return todo.length
    },
    stats: () => ({ kind: 'disk', ...quota.stats(), disk: journal.stats() }),
    // after aedes.close() (which leaves its persistence alone): the last records flushed, the file closed
    close: () => journal.destroy(),
  }
}
