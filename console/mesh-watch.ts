/**
 * The console server's view of the mesh: agents from their presence and
 * heartbeats (the market's own AgentDirectory), and every telemetry message,
 * validated at the boundary. A bad message is dropped and counted by reason,
 * never passed on; every map it keeps is capped (sources, agents).
 */
import { EventEmitter } from 'node:events'
import { AgentDirectory } from '../market/directory.ts'
import { mergeOptions } from '../protocol/options.ts'
import {
  agentTelemetrySchema,
  alertsSchema,
  jobBatchSchema,
  parseTelemetryTopic,
  requesterStatsSchema,
  settlementEventSchema,
  TELEMETRY_LIMITS,
  telemetryTopics,
  type AgentTelemetry,
  type JobBatch,
  type RequesterStats,
  type SettlementEvent,
} from '../protocol/telemetry.ts'
import type { Connection } from '../protocol/transport.ts'
import { decodeJson, type Parser } from '../protocol/validate.ts'

export interface MeshWatchOptions {
  /** Requesters/gateways whose rollups are kept. Default 1000. */
  maxSources?: number
  /** Agents whose telemetry rollups are kept. Default 10,000. */
  maxAgents?: number
  /** Rollups older than this are stale (their source is gone). Default 5 minutes. */
  staleMs?: number
}

const DEFAULTS = { maxSources: 1000, maxAgents: 10_000, staleMs: 300_000 }

export type DropReason = 'invalid' | 'topic' | 'subject' | 'capacity'

export interface MeshWatchEvents {
  jobs: [JobBatch]
  stats: [RequesterStats]
  /** A source's rollup was cleared (it stopped). */
  statsCleared: [string]
  agent: [AgentTelemetry]
  settlement: [SettlementEvent]
  /** A telemetry message was dropped. */
  dropped: [{ topic: string; reason: DropReason; message: string }]
}

export class MeshWatch extends EventEmitter<MeshWatchEvents> {
  readonly directory: AgentDirectory
  private readonly opts: typeof DEFAULTS
  private readonly stats_ = new Map<string, RequesterStats>()
  private readonly agents_ = new Map<string, AgentTelemetry>()
  readonly drops: Record<DropReason, number> = { invalid: 0, topic: 0, subject: 0, capacity: 0 }

  constructor(private readonly conn: Connection, options: MeshWatchOptions = {}) {
    super()
    this.opts = mergeOptions(options, DEFAULTS, {
      maxSources: { min: 1, max: 1e6, integer: true },
      maxAgents: { min: 1, max: 1e7, integer: true },
      staleMs: { min: 1000, integer: true },
    }, 'meshWatch')
    this.directory = new AgentDirectory(conn)
  }

  async start(): Promise<void> {
    this.conn.route(telemetryTopics.all, (t, p) => this.onTelemetry(t, p))
    await this.conn.subscribe(telemetryTopics.all, 0)
    await this.directory.start()
  }

  stop(): void {
    this.directory.stop()
    this.conn.unroute(telemetryTopics.all)
  }

  /** The latest rollup of every source that is not stale. */
  sources(now = Date.now()): RequesterStats[] {
    return [...this.stats_.values()].filter((s) => now - s.ts <= this.opts.staleMs)
  }

  agentTelemetry(id: string): AgentTelemetry | undefined {
    return this.agents_.get(id)
  }

  agentsTelemetry(): AgentTelemetry[] {
    return [...this.agents_.values()]
  }

  private drop(topic: string, reason: DropReason, message: string): void {
    this.drops[reason]++
    this.emit('dropped', { topic, reason, message })
  }

  private decode<T>(topic: string, payload: Buffer, parser: Parser<T>): T | undefined {
    const d = decodeJson(payload, parser, TELEMETRY_LIMITS.messageBytes)
    if (d.ok) return d.value
    this.drop(topic, 'invalid', d.error.shortMessage)
    return undefined
  }

  private onTelemetry(topic: string, payload: Buffer): void {
    const t = parseTelemetryTopic(topic)
    if (!t) return this.drop(topic, 'topic', 'not a telemetry topic')
    switch (t.kind) {
      case 'alerts':
        // ours (or another console server's): only checked, the alert engine owns them
        if (payload.length > 0) this.decode(topic, payload, alertsSchema)
        return
      case 'jobs': {
        const m = this.decode(topic, payload, jobBatchSchema)
        if (!m) return
        if (m.source !== t.subject) return this.drop(topic, 'subject', `source ${m.source} on another source's topic`)
        this.emit('jobs', m)
        return
      }
      case 'stats': {
        if (payload.length === 0) {
          if (this.stats_.delete(t.subject)) this.emit('statsCleared', t.subject)
          return
        }
        const m = this.decode(topic, payload, requesterStatsSchema)
        if (!m) return
        if (m.source !== t.subject) return this.drop(topic, 'subject', `source ${m.source} on another source's topic`)
        if (!this.stats_.has(m.source) && this.stats_.size >= this.opts.maxSources) return this.drop(topic, 'capacity', `more than ${this.opts.maxSources} sources`)
        this.stats_.set(m.source, m)
        this.emit('stats', m)
        return
      }
      case 'agents': {
        if (payload.length === 0) {
          this.agents_.delete(t.subject)
          return
        }
        const m = this.decode(topic, payload, agentTelemetrySchema)
        if (!m) return
        if (m.agent !== t.subject) return this.drop(topic, 'subject', `agent ${m.agent} on another agent's topic`)
        if (!this.agents_.has(m.agent) && this.agents_.size >= this.opts.maxAgents) return this.drop(topic, 'capacity', `more than ${this.opts.maxAgents} agents`)
        this.agents_.set(m.agent, m)
        this.emit('agent', m)
        return
      }
      case 'settlements': {
        const m = this.decode(topic, payload, settlementEventSchema)
        if (!m) return
        if (m.agent !== t.subject) return this.drop(topic, 'subject', `agent ${m.agent} on another agent's topic`)
        this.emit('settlement', m)
        return
      }
    }
  }
}
