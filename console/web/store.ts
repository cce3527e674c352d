/**
 * What the page knows of the mesh, built from MQTT messages alone: agents
 * (presence, heartbeats), job events, rolling stats, agents' telemetry,
 * settlements and alerts. Every message is validated with the mesh's own
 * parsers; anything that fails is dropped and counted, never thrown. Every
 * collection has a cap. No DOM here: the store is tested in Node.
 */
import { heartbeatSchema, presenceSchema, type Load, type PresenceOnline } from '../../protocol/messages.ts'
import {
  agentTelemetrySchema,
  alertsSchema,
  jobBatchSchema,
  parseTelemetryTopic,
  requesterStatsSchema,
  settlementEventSchema,
  TELEMETRY_LIMITS,
  type AgentTelemetry,
  type Alert,
  type JobEvent,
  type RequesterStats,
  type SettlementEvent,
} from '../../protocol/telemetry.ts'
import { decodeJson, type Parser } from '../../protocol/validate.ts'
import { Ring } from './ring.ts'

export const LIMITS = {
  agents: 5000,
  sources: 200,
  feed: 1000,
  perAgentJobs: 50,
  perAgentHistory: 50,
  settlements: 200,
  /** Heartbeats missed before an agent counts as unreachable. */
  missedBeats: 3,
}

export type AgentState = 'online' | 'unreachable' | 'gone'

export interface AgentView {
  id: string
  name: string
  state: AgentState
  reason?: 'lost' | 'stopped' | 'cleared'
  presence?: PresenceOnline
  load: Load
  lastSeen: number
  history: Ring<{ ts: number; state: AgentState; reason?: string }>
  jobs: Ring<FeedItem>
  failures: Ring<FeedItem>
  /** Jobs seen in the feed since the page opened (the agent's own totals are in its telemetry). */
  seenOk: number
  seenFailed: number
  site: string
  lat?: number
  lon?: number
}

export interface FeedItem extends JobEvent {
  source: string
}

export type DropReason = 'invalid' | 'topic' | 'subject' | 'capacity'

const PRESENCE = /^fm\/v1\/agents\/([^/]{1,128})\/(presence|heartbeat)$/
const decoder = new TextDecoder()

export class MeshStore {
  readonly agents = new Map<string, AgentView>()
  readonly sources = new Map<string, RequesterStats>()
  readonly telemetry = new Map<string, AgentTelemetry>()
  readonly feed = new Ring<FeedItem>(LIMITS.feed)
  readonly settlements = new Ring<SettlementEvent>(LIMITS.settlements)
  alerts: Alert[] = []
  alertsTs = 0
  readonly drops: Record<DropReason, number> = { invalid: 0, topic: 0, subject: 0, capacity: 0 }
  lastDrop: { topic: string; message: string } | undefined
  /** Job events publishers left out of their batches. */
  eventsDropped = 0
  messages = 0
  /** Bumped on any change; `placeVersion` only when agents appear, change state or move. */
  version = 0
  placeVersion = 0

  get dropped(): number {
    return this.drops.invalid + this.drops.topic + this.drops.subject + this.drops.capacity
  }

  /** Takes one MQTT message. Never throws. */
  handle(topic: string, payload: Uint8Array | string, now = Date.now()): void {
    this.messages++
    try {
      const text = typeof payload === 'string' ? payload : decoder.decode(payload)
      const p = PRESENCE.exec(topic)
      if (p) {
        if (p[2] === 'presence') this.onPresence(topic, p[1]!, text, now)
        else this.onHeartbeat(topic, p[1]!, text, now)
        return
      }
      const t = parseTelemetryTopic(topic)
      if (!t) return this.drop(topic, 'topic', 'not a topic the console reads')
      if (text.length === 0) {
        // a cleared retained rollup: its source stopped
        if (t.kind === 'stats') this.sources.delete(t.subject)
        if (t.kind === 'alerts') this.alerts = []
        this.version++
        return
      }
      switch (t.kind) {
        case 'jobs': {
          const m = this.decode(topic, text, jobBatchSchema)
          if (!m) return
          if (m.source !== t.subject) return this.drop(topic, 'subject', 'source does not match its topic')
          this.eventsDropped += m.dropped
          for (const e of m.events) this.onJob({ ...e, source: m.source })
          break
        }
        case 'stats': {
          const m = this.decode(topic, text, requesterStatsSchema)
          if (!m) return
          if (m.source !== t.subject) return this.drop(topic, 'subject', 'source does not match its topic')
          if (!this.sources.has(m.source) && this.sources.size >= LIMITS.sources) return this.drop(topic, 'capacity', 'too many sources')
          this.sources.set(m.source, m)
          break
        }
        case 'agents': {
          const m = this.decode(topic, text, agentTelemetrySchema)
          if (!m) return
          if (m.agent !== t.subject) return this.drop(topic, 'subject', 'agent does not match its topic')
          if (!this.telemetry.has(m.agent) && this.telemetry.size >= LIMITS.agents) return this.drop(topic, 'capacity', 'too many agents')
          this.telemetry.set(m.agent, m)
          break
        }
        case 'settlements': {
          const m = this.decode(topic, text, settlementEventSchema)
          if (!m) return
          if (m.agent !== t.subject) return this.drop(topic, 'subject', 'agent does not match its topic')
          this.settlements.push(m)
          break
        }
        case 'alerts': {
          const m = this.decode(topic, text, alertsSchema)
          if (!m) return
          this.alerts = m.alerts
          this.alertsTs = m.ts
          break
        }
      }
      this.version++
    } catch (err) {
      this.drop(topic, 'invalid', err instanceof Error ? err.message : String(err))
    }
  }

  /** Agents whose heartbeats stopped become unreachable (they may come back). */
  sweep(now = Date.now()): void {
    for (const a of this.agents.values()) {
      if (a.state !== 'online' || !a.presence) continue
      if (now - a.lastSeen > a.presence.heartbeatMs * LIMITS.missedBeats) this.setState(a, 'unreachable', now)
    }
  }

  private drop(topic: string, reason: DropReason, message: string): void {
    this.drops[reason]++
    this.lastDrop = { topic: topic.slice(0, 200), message: message.slice(0, 200) }
    this.version++
  }

  private decode<T>(topic: string, text: string, parser: Parser<T>): T | undefined {
    const d = decodeJson(text, parser, TELEMETRY_LIMITS.messageBytes)
    if (d.ok) return d.value
    this.drop(topic, 'invalid', d.error.shortMessage)
    return undefined
  }

  private setState(a: AgentView, state: AgentState, now: number, reason?: AgentView['reason']): void {
    if (a.state === state && a.reason === reason) return
    a.state = state
    if (reason) a.reason = reason
    else delete a.reason
    a.history.push({ ts: now, state, ...(reason ? { reason } : {}) })
    this.placeVersion++
    this.version++
  }

  private onPresence(topic: string, id: string, text: string, now: number): void {
    const existing = this.agents.get(id)
    // anyone can clear a retained topic: an unsigned clear says nothing about the agent (protocol/presence-signature.ts)
    if (text.length === 0) return this.drop(topic, 'invalid', 'an empty presence (an unsigned clear)')
    const p = this.decode(topic, text, presenceSchema)
    if (!p) return
    if (p.id !== id) return this.drop(topic, 'subject', 'presence published on another agent\u2019s topic')
    let a = existing
    if (!a) {
      if (this.agents.size >= LIMITS.agents) return this.drop(topic, 'capacity', `more than ${LIMITS.agents} agents`)
      a = {
        id,
        name: p.name ?? id,
        state: p.status === 'online' ? 'online' : 'gone',
        load: { running: 0, queued: 0 },
        lastSeen: now,
        history: new Ring(LIMITS.perAgentHistory),
        jobs: new Ring(LIMITS.perAgentJobs),
        failures: new Ring(LIMITS.perAgentJobs),
        seenOk: 0,
        seenFailed: 0,
        // an agent seen only by its offline presence (it left before the page opened) has no labels
        site: p.status === 'online' ? 'unlabelled' : 'unknown',
      }
      a.history.push({ ts: now, state: a.state, ...(p.status === 'offline' ? { reason: p.reason } : {}) })
      if (p.status === 'offline') a.reason = p.reason
      this.agents.set(id, a)
      this.placeVersion++
    }
    if (p.status === 'offline') {
      if (p.name) a.name = p.name
      this.setState(a, 'gone', now, p.reason)
      return
    }
    a.presence = p
    a.name = p.name
    a.load = p.load
    a.lastSeen = now
    const site = p.labels.site || 'unlabelled'
    const lat = coordinate(p.labels.lat, 90)
    const lon = coordinate(p.labels.lon, 180)
    if (site !== a.site || lat !== a.lat || lon !== a.lon) this.placeVersion++
    a.site = site
    if (lat !== undefined && lon !== undefined) {
      a.lat = lat
      a.lon = lon
    } else {
      delete a.lat
      delete a.lon
    }
    this.setState(a, 'online', now)
  }

  private onHeartbeat(topic: string, id: string, text: string, now: number): void {
    const a = this.agents.get(id)
    if (!a || a.state === 'gone') return
    const h = this.decode(topic, text, heartbeatSchema)
    if (!h) return
    if (h.id !== id) return this.drop(topic, 'subject', 'heartbeat published on another agent\u2019s topic')
    a.load = h.load
    a.lastSeen = now
    if (a.state === 'unreachable') this.setState(a, 'online', now)
    this.version++
  }

  private onJob(e: FeedItem): void {
    this.feed.push(e)
    const a = e.agent ? this.agents.get(e.agent) : undefined
    if (!a) return
    a.jobs.push(e)
    if (e.status === 'ok') a.seenOk++
    else {
      a.seenFailed++
      a.failures.push(e)
    }
  }

  // ---- derived views ---------------------------------------------------------

  counts(): Record<AgentState, number> {
    const n = { online: 0, unreachable: 0, gone: 0 }
    for (const a of this.agents.values()) n[a.state]++
    return n
  }

  /** Agents by site, with their states. */
  sites(): Array<{ site: string; online: number; unreachable: number; gone: number; lat?: number; lon?: number }> {
    const m = new Map<string, { site: string; online: number; unreachable: number; gone: number; lat: number; lon: number; placed: number }>()
    for (const a of this.agents.values()) {
      let s = m.get(a.site)
      if (!s) {
        s = { site: a.site, online: 0, unreachable: 0, gone: 0, lat: 0, lon: 0, placed: 0 }
        m.set(a.site, s)
      }
      s[a.state]++
      if (a.lat !== undefined && a.lon !== undefined) {
        s.lat += a.lat
        s.lon += a.lon
        s.placed++
      }
    }
    return [...m.values()]
      .map(({ placed, lat, lon, ...s }) => (placed ? { ...s, lat: lat / placed, lon: lon / placed } : s))
      .sort((a, b) => a.site.localeCompare(b.site))
  }

  /** Mesh-wide totals over all live sources. */
  totals(): { ok: number; failed: number; inFlight: number; errors: Record<string, number>; vouchers: number; owed: bigint; acknowledged: bigint } {
    const out = { ok: 0, failed: 0, inFlight: 0, errors: {} as Record<string, number>, vouchers: 0, owed: 0n, acknowledged: 0n }
    for (const s of this.sources.values()) {
      out.ok += s.totals.ok
      out.failed += s.totals.failed
      out.inFlight += s.totals.inFlight
      for (const [c, n] of Object.entries(s.totals.errors)) out.errors[c] = (out.errors[c] ?? 0) + n
      if (s.payments) {
        out.vouchers += s.payments.vouchers
        out.owed += BigInt(s.payments.owed)
        out.acknowledged += BigInt(s.payments.acknowledged)
      }
    }
    return out
  }

  /** What agents were paid on chain, from their telemetry. */
  earnings(): { paid: bigint; owed: bigint; settlements: number; jobsSettled: bigint; gasUsed: bigint; failing: number } {
    const out = { paid: 0n, owed: 0n, settlements: 0, jobsSettled: 0n, gasUsed: 0n, failing: 0 }
    for (const t of this.telemetry.values()) {
      const s = t.settlement
      if (!s) continue
      out.paid += BigInt(s.paid)
      out.owed += BigInt(s.owed)
      out.settlements += s.settlements
      out.jobsSettled += BigInt(s.jobsSettled)
      out.gasUsed += BigInt(s.gasUsed)
      if (s.failing) out.failing++
    }
    return out
  }
}

function coordinate(raw: string | undefined, max: number): number | undefined {
  if (raw === undefined || raw.trim() === '') return undefined
  const n = Number(raw)
  return Number.isFinite(n) && Math.abs(n) <= max ? n : undefined
}
