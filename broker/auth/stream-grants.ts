/**
 * The one topic beyond its rules an agent may publish on: the `replyTo` of a
 * stream a gateway started on it. A stream's agent answers each window itself
 * (no gateway in between), on whatever topic the submitter named — a sensor's
 * `fm/v1/replies/<name>/…`, a bridge's command topic, a plain topic. A static
 * rule for that would let every admitted agent write into every sensor's
 * replies; instead the broker watches the starts and stops that gateways
 * publish on `fm/v1/agents/<id>/streams` (they may publish there, agents may
 * not) and grants agent `<id>` exactly that stream's `replyTo` until it is
 * stopped. Likewise a stream's retained state (`fm/v1/streams/<stream>/state`,
 * where a takeover resumes): the agent rules allow the pattern, the fogmesh
 * broker narrows it to the agents started on that stream. This is what "the
 * inboxes of requesters that assigned it work" means for streams; only the
 * fogmesh broker can express it (Mosquitto's ACL is static: mosquitto-export.ts
 * leaves stream replies out).
 *
 * Bounded: at most `maxGrants` streams are remembered; past it the oldest grant
 * goes (its agent's next window is refused, the placer moves the stream) and
 * `onLimit` says so. Grants live in memory: a restarted broker knows none until
 * the gateway starts its streams again.
 */
import { decodeJson, literal, meshJobId, object, publishTopic, tagged } from '../../protocol/validate.ts'

export interface StreamGrantsOptions {
  /** Streams remembered at once (default 10,000 in BrokerAuth). */
  maxGrants: number
  onLimit?: (info: { maxGrants: number; evicted: string }) => void
}

/**
 * The fields of a stream control (protocol/streams.ts) the grant needs, and only those: whatever
 * else a control carries (signatures, the rest of the spec) is the agent's to check, not the broker's.
 */
const controlFields = tagged('type', {
  start: object({ type: literal('start'), spec: object({ stream: meshJobId, replyTo: publishTopic }) }),
  stop: object({ type: literal('stop'), stream: meshJobId }),
})

const AGENT_STREAMS = /^fm\/v1\/agents\/([^/]+)\/streams$/
const STREAM_STATE = /^fm\/v1\/streams\/([^/]+)\/state$/

export class StreamGrants {
  /** `<agent>\0<stream>` → the topic granted; insertion order = age. */
  private readonly grants = new Map<string, { agent: string; topic: string }>()
  /** agent → how many of its grants name each topic. */
  private readonly byAgent = new Map<string, Map<string, number>>()

  constructor(private readonly opts: StreamGrantsOptions) {}

  get size(): number {
    return this.grants.size
  }

  /**
   * Reads a control message a gateway is allowed to publish (the caller checked): a start grants
   * the stream's `replyTo` to the addressed agent, a stop takes it back. Anything else changes nothing.
   */
  observe(topic: string, payload: Uint8Array | string): void {
    const m = AGENT_STREAMS.exec(topic)
    if (!m) return
    const agent = m[1] as string
    const d = decodeJson(payload, controlFields, 64 * 1024)
    if (!d.ok) return // the agent refuses it too
    if (d.value.type === 'start') this.grant(agent, d.value.spec.stream, d.value.spec.replyTo)
    else this.revoke(agent, d.value.stream)
  }

  /** Whether `agent` was started on `stream` (so it may write the stream's retained state). */
  runs(agent: string, stream: string): boolean {
    return this.grants.has(`${agent}\u0000${stream}`)
  }

  /**
   * Whether `agent` may publish on `topic` as far as streams go: a stream's state only when it runs
   * that stream (false), any other topic is not the grants' business (undefined).
   */
  stateRefusal(agent: string, topic: string): boolean | undefined {
    const m = STREAM_STATE.exec(topic)
    if (!m) return undefined
    return !this.runs(agent, m[1] as string)
  }

  /** Whether `agent` was granted `topic`. */
  allows(agent: string, topic: string): boolean {
    return (this.byAgent.get(agent)?.get(topic) ?? 0) > 0
  }

  grant(agent: string, stream: string, topic: string): void {
    const key = `${agent}\u0000${stream}`
    if (this.grants.get(key)?.topic === topic) return
    this.revoke(agent, stream)
    if (this.grants.size >= this.opts.maxGrants) {
      const [oldest, g] = this.grants.entries().next().value as [string, { agent: string; topic: string }]
      this.drop(oldest, g)
      this.opts.onLimit?.({ maxGrants: this.opts.maxGrants, evicted: oldest.replace('\u0000', ' ') })
    }
    this.grants.set(key, { agent, topic })
    const topics = this.byAgent.get(agent) ?? new Map<string, number>()
    topics.set(topic, (topics.get(topic) ?? 0) + 1)
    this.byAgent.set(agent, topics)
  }

  revoke(agent: string, stream: string): void {
    const key = `${agent}\u0000${stream}`
    const g = this.grants.get(key)
    if (g) this.drop(key, g)
  }

  private drop(key: string, g: { agent: string; topic: string }): void {
    this.grants.delete(key)
    const topics = this.byAgent.get(g.agent)
    if (!topics) return
    const n = (topics.get(g.topic) ?? 1) - 1
    if (n > 0) topics.set(g.topic, n)
    else topics.delete(g.topic)
    if (topics.size === 0) this.byAgent.delete(g.agent)
  }
}
