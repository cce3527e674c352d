/**
 * What a requester knows of the agents: their retained presence, their
 * heartbeats, and from those a state per agent —
 *   online       presence online, heartbeats fresh;
 *   unreachable  presence still online but no heartbeat for `missedBeats` intervals
 *                (a flaky link, a paused process: it may come back);
 *   gone         presence offline: its last will, or a clean stop.
 * Only signed statements of the agent count, judged by the rule of
 * protocol/presence-signature.ts: a presence not signed by the key its id
 * derives from, one on another agent's topic, an older epoch or sequence, an
 * empty retained clear, an unsigned `{"status":"offline"}`, a forged or stale
 * heartbeat — each is refused (`rejected`) and changes nothing; the victim
 * stays online and keeps getting jobs. `joined` tells of an agent new to
 * this directory (or back after it was gone); a presence republished within
 * its epoch, or a reconnect, is no join. The agents it keeps are bounded (`maxAgents`):
 * past the bound, the agent gone longest is forgotten to make room, and when
 * none is gone the newcomer is refused (`rejected`, code `too_large`).
 */
import { EventEmitter } from 'node:events'
import { systemClock, type Clock, type Timer } from '../protocol/clock.ts'
import { ErrorCode, FogmeshError } from '../protocol/errors.ts'
import { heartbeatSchema, presenceSchema, type Load, type PresenceOnline } from '../protocol/messages.ts'
import { heartbeatSignedBy, judgeBeat, judgeOffline, judgeOnline, markAfter, presenceSignedByItsAgent, type PresenceMark } from '../protocol/presence-signature.ts'
import { parseAgentTopic, topics } from '../protocol/topics.ts'
import { mergeOptions, type Merged, type Ranges } from '../protocol/options.ts'
import { RecentMap } from '../protocol/recent-set.ts'
import type { Connection } from '../protocol/transport.ts'
import { decodeJson } from '../protocol/validate.ts'

export interface DirectoryOptions {
  /** Heartbeat intervals missed before an online agent counts as unreachable. Default 3. */
  missedBeats?: number
  /** How often liveness is checked. Default 250 ms. */
  sweepMs?: number
  /** Agents kept (online, unreachable or gone). Default 10,000. */
  maxAgents?: number
  clock?: Clock
}

const DEFAULTS = { missedBeats: 3, sweepMs: 250, maxAgents: 10_000 }
const RANGES: Ranges<DirectoryOptions> = {
  missedBeats: { min: 1, max: 1000, integer: true },
  sweepMs: { min: 1, max: 60_000, integer: true },
  maxAgents: { min: 1, max: 10_000_000, integer: true },
}

export type AgentState = 'online' | 'unreachable' | 'gone'

export interface AgentRecord {
  presence: PresenceOnline
  state: AgentState
  load: Load
  lastSeen: number
  /** Heartbeats received since the presence (0: known only from a possibly stale retained presence). */
  beats: number
  /** Why it is gone, when it is. */
  reason?: 'lost' | 'stopped'
}

/** An agent known only from its retained offline presence (it left before we started watching). */
export interface DepartedAgent {
  id: string
  name: string | undefined
  reason: 'lost' | 'stopped'
}

export interface DirectoryEvents {
  /** An agent this directory did not know online: new, or back after it was gone. */
  joined: [AgentRecord]
  online: [AgentRecord]
  unreachable: [AgentRecord]
  gone: [AgentRecord]
  rejected: [{ topic: string; code: string; message: string }]
}

export class AgentDirectory extends EventEmitter<DirectoryEvents> {
  private readonly agents = new Map<string, AgentRecord>()
  private readonly departed_: RecentMap<DepartedAgent>
  /** The newest signed (epoch, seq) believed per agent, kept a while after the agent is forgotten. */
  private readonly marks: RecentMap<PresenceMark>
  private readonly opts: Merged<DirectoryOptions, typeof DEFAULTS>
  private readonly clock: Clock
  private timer: Timer | undefined

  constructor(
    private readonly conn: Connection,
    options: DirectoryOptions = {},
  ) {
    super()
    this.opts = mergeOptions(options, DEFAULTS, RANGES, 'directory')
    this.clock = this.opts.clock ?? systemClock
    this.departed_ = new RecentMap(this.opts.maxAgents)
    this.marks = new RecentMap(this.opts.maxAgents * 2)
  }

  async start(): Promise<void> {
    this.conn.route(topics.presenceWildcard, (t, p) => this.onPresence(t, p))
    this.conn.route(topics.heartbeatWildcard, (t, p) => this.onHeartbeat(t, p))
    await this.conn.subscribe([topics.presenceWildcard, topics.heartbeatWildcard], 0)
    this.timer = this.clock.setInterval(() => this.sweep(), this.opts.sweepMs, { unref: true })
  }

  stop(): void {
    this.timer?.cancel()
  }

  get(id: string): AgentRecord | undefined {
    return this.agents.get(id)
  }

  /** Agents in the given state (default: online). */
  list(state: AgentState | 'all' = 'online'): AgentRecord[] {
    const out: AgentRecord[] = []
    for (const a of this.agents.values()) if (state === 'all' || a.state === state) out.push(a)
    return out
  }

  /** Agents seen only as offline: they left before this directory started watching. */
  departed(): DepartedAgent[] {
    return this.departed_.values()
  }

  /** Resolves once at least `n` agents are online (or rejects after `timeoutMs`). */
  waitFor(n: number, timeoutMs: number): Promise<void> {
    if (this.list().length >= n) return Promise.resolve()
    return new Promise((resolve, reject) => {
      const check = () => {
        if (this.list().length < n) return
        cleanup()
        resolve()
      }
      const timer = this.clock.setTimeout(() => {
        cleanup()
        reject(new FogmeshError(ErrorCode.noAgents, `only ${this.list().length} of ${n} agents online after ${timeoutMs} ms`))
      }, timeoutMs)
      const cleanup = () => {
        timer.cancel()
        this.off('online', check)
      }
      this.on('online', check)
    })
  }

  private reject(topic: string, err: FogmeshError): void {
    this.emit('rejected', { topic, code: err.code, message: err.shortMessage })
  }

  private onPresence(topic: string, payload: Buffer): void {
    const t = parseAgentTopic(topic)
    if (!t) return
    if (payload.length === 0) {
      // anyone can clear a retained topic: an unsigned clear says nothing about the agent
      return this.reject(topic, new FogmeshError(ErrorCode.badSignature, 'an empty presence (an unsigned clear): ignored'))
    }
    const d = decodeJson(payload, presenceSchema, 64 * 1024)
    if (!d.ok) return this.reject(topic, d.error)
    const p = d.value
    if (p.id !== t.agentId) return this.reject(topic, new FogmeshError(ErrorCode.invalidField, `id: ${p.id} published on another agent's topic`))
    if (!presenceSignedByItsAgent(d.raw as Record<string, unknown>)) {
      return this.reject(topic, new FogmeshError(ErrorCode.badSignature, `presence of ${p.id}: not signed by the key its id derives from`))
    }
    const mark = this.marks.get(p.id)
    const existing = this.agents.get(p.id)
    if (p.status === 'offline') {
      if (judgeOffline(mark, p) === 'stale') return this.reject(topic, staleError(p.id, 'offline', p.epoch, mark))
      this.marks.set(p.id, markAfter(mark, p))
      if (existing) this.markGone(existing, p.reason)
      else this.departed_.set(p.id, { id: p.id, name: p.name, reason: p.reason })
      return
    }
    if (judgeOnline(mark, p) === 'stale') return this.reject(topic, staleError(p.id, 'online', p.epoch, mark, p.seq))
    if (!existing && !this.makeRoom()) {
      return this.reject(topic, new FogmeshError(ErrorCode.tooLarge, `directory holds ${this.opts.maxAgents} agents (maxAgents), none gone`))
    }
    this.marks.set(p.id, markAfter(mark, p))
    this.departed_.delete(p.id)
    if (existing && existing.state !== 'gone') {
      // a republish (same epoch) or a reconnect (a new one): the same agent, its record and standing kept
      const newEpoch = existing.presence.epoch !== p.epoch
      existing.presence = p
      existing.load = p.load
      existing.lastSeen = this.clock.now()
      if (newEpoch) existing.beats = 0
      if (existing.state === 'unreachable') {
        existing.state = 'online'
        this.emit('online', existing)
      }
      return
    }
    if (existing) this.agents.delete(p.id) // back after it was gone: to the end of the map again
    const record: AgentRecord = { presence: p, state: 'online', load: p.load, lastSeen: this.clock.now(), beats: 0 }
    this.agents.set(p.id, record)
    this.emit('joined', record)
    this.emit('online', record)
  }

  private onHeartbeat(topic: string, payload: Buffer): void {
    const t = parseAgentTopic(topic)
    const a = t && this.agents.get(t.agentId)
    if (!a || a.state === 'gone') return
    const d = decodeJson(payload, heartbeatSchema, 4096)
    if (!d.ok) return this.reject(topic, d.error)
    const h = d.value
    const mark = this.marks.get(a.presence.id)
    if (h.id !== a.presence.id || judgeBeat(mark, h) === 'stale') {
      return this.reject(topic, new FogmeshError(ErrorCode.replayed, `heartbeat of ${a.presence.id}: not of its current epoch ${mark?.epoch} or not newer`))
    }
    if (!heartbeatSignedBy(d.raw as Record<string, unknown>, a.presence.publicKey)) {
      return this.reject(topic, new FogmeshError(ErrorCode.badSignature, `heartbeat of ${a.presence.id}: signature does not verify`))
    }
    mark!.beatSeq = h.seq
    a.load = h.load
    a.lastSeen = this.clock.now()
    a.beats++
    if (a.state === 'unreachable') {
      a.state = 'online'
      this.emit('online', a)
    }
  }

  private markGone(a: AgentRecord, reason: NonNullable<AgentRecord['reason']>): void {
    if (a.state === 'gone') return
    a.state = 'gone'
    a.reason = reason
    // the gone move to the end: the first gone one in the map is the one gone longest
    this.agents.delete(a.presence.id)
    this.agents.set(a.presence.id, a)
    this.emit('gone', a)
  }

  /** True when a new agent fits, after forgetting the agent gone longest if need be. */
  private makeRoom(): boolean {
    if (this.agents.size < this.opts.maxAgents) return true
    for (const a of this.agents.values()) {
      if (a.state !== 'gone') continue
      this.agents.delete(a.presence.id)
      return true
    }
    return false
  }

  private sweep(): void {
    const now = this.clock.now()
    for (const a of this.agents.values()) {
      if (a.state === 'online' && now - a.lastSeen > a.presence.heartbeatMs * this.opts.missedBeats) {
        a.state = 'unreachable'
        this.emit('unreachable', a)
      }
    }
  }
}

function staleError(id: string, what: string, epoch: number, mark: PresenceMark | undefined, seq?: number): FogmeshError {
  const at = mark ? `epoch ${mark.epoch} seq ${mark.seq}${mark.ended ? ' (ended)' : ''}` : 'nothing'
  return new FogmeshError(ErrorCode.replayed, `${what} presence of ${id} at epoch ${epoch}${seq !== undefined ? ` seq ${seq}` : ''} is not newer than ${at}: ignored`)
}
