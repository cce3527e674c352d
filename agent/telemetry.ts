/**
 * An agent's telemetry, for operators: a retained rollup on
 * `fm/v1/telemetry/agents/<id>` (its job counts by code, fuel burned, what it
 * was paid, its channels, its last settlements with their tx hashes),
 * republished when something changed, at most every `intervalMs`; and an
 * event on `fm/v1/telemetry/settlements/<id>` for each settlement or failed
 * attempt, as it happens.
 *
 * It listens to the events the agent already emits and publishes on the
 * agent's own connection (QoS 0: telemetry never holds a job up).
 */
import { mergeOptions } from '../protocol/options.ts'
import {
  TELEMETRY_LIMITS,
  telemetryTopics,
  type AgentTelemetry as AgentTelemetryMessage,
  type SettlementEvent,
  type SettlementRecord,
} from '../protocol/telemetry.ts'
import type { Agent, AgentEvents } from './agent.ts'

export interface TelemetrySink {
  publish(topic: string, payload: string, opts: { qos: 0 | 1; retain: boolean }): void
}

export interface AgentTelemetryOptions {
  /** Shortest time between two rollups, ms. Default 2000. */
  intervalMs?: number
}

const DEFAULTS = { intervalMs: 2000 }

export class AgentTelemetry {
  private readonly opts: typeof DEFAULTS
  private readonly byCode: Record<string, number> = {}
  private fuel = 0
  private failures = 0
  private failing = false
  private lastError: string | undefined
  private readonly recent: SettlementRecord[] = []
  private dirty = true
  private timer: NodeJS.Timeout | undefined
  private readonly onJob = (j: AgentEvents['job'][0]) => {
    this.fuel += j.fuel
    if (j.status === 'error') {
      let c = j.code && /^[a-z0-9_]{1,48}$/.test(j.code) ? j.code : 'unknown'
      if (!(c in this.byCode) && Object.keys(this.byCode).length >= TELEMETRY_LIMITS.codes - 1) c = 'other'
      this.byCode[c] = (this.byCode[c] ?? 0) + 1
    }
    this.dirty = true
  }
  private readonly onSettled = (r: AgentEvents['settled'][0]) => {
    const rec: SettlementRecord = { txHash: r.txHash, ts: Date.now(), amount: r.total.toString(), jobs: r.jobs.toString(), gasUsed: r.gasUsed.toString(), channels: r.channels }
    this.recent.unshift(rec)
    this.recent.length = Math.min(this.recent.length, TELEMETRY_LIMITS.recentSettlements)
    this.failing = false
    this.event({ v: 1, agent: this.agent.id, ts: rec.ts, ok: true, txHash: rec.txHash, amount: rec.amount, jobs: rec.jobs, gasUsed: rec.gasUsed, channels: rec.channels })
    this.publish()
  }
  private readonly onSettleFailed = (e: AgentEvents['settleFailed'][0]) => {
    this.failures++
    this.failing = true
    this.lastError = (e.error.message.split('\n')[0] ?? 'settlement failed').slice(0, 300)
    this.event({ v: 1, agent: this.agent.id, ts: Date.now(), ok: false, error: this.lastError })
    this.publish()
  }

  constructor(
    private readonly agent: Agent,
    private readonly sink: TelemetrySink,
    options: AgentTelemetryOptions = {},
  ) {
    this.opts = mergeOptions(options, DEFAULTS, { intervalMs: { min: 100, max: 3_600_000, integer: true } }, 'agentTelemetry')
  }

  start(): this {
    this.agent.on('job', this.onJob)
    this.agent.on('settled', this.onSettled)
    this.agent.on('settleFailed', this.onSettleFailed)
    this.timer = setInterval(() => {
      if (this.dirty) this.publish()
    }, this.opts.intervalMs)
    this.timer.unref()
    this.publish()
    return this
  }

  stop(): void {
    clearInterval(this.timer)
    this.agent.off('job', this.onJob)
    this.agent.off('settled', this.onSettled)
    this.agent.off('settleFailed', this.onSettleFailed)
    // nothing more to publish: settlements were sent as they happened, and the
    // rollup stays retained (what a gone agent earned is still worth seeing)
  }

  /** The rollup as it would be published now. */
  snapshot(now = Date.now()): AgentTelemetryMessage {
    const s = this.agent.stats()
    const msg: AgentTelemetryMessage = {
      v: 1,
      agent: this.agent.id,
      ts: now,
      jobs: { ok: s.jobsOk, failed: s.jobsFailed, byCode: { ...this.byCode }, fuel: this.fuel },
    }
    if (s.settlement) {
      const channels = this.agent.channels().slice(0, TELEMETRY_LIMITS.channels)
      const owed = channels.reduce((sum, c) => sum + (c.cumulative > c.paid ? c.cumulative - c.paid : 0n), 0n)
      msg.settlement = {
        paid: s.settlement.paid.toString(),
        owed: owed.toString(),
        settlements: s.settlement.settlements,
        jobsSettled: s.settlement.jobsSettled.toString(),
        gasUsed: s.settlement.gasUsed.toString(),
        vouchersAccepted: s.settlement.vouchersAccepted,
        vouchersRefused: s.settlement.vouchersRefused,
        failures: this.failures,
        failing: this.failing,
        ...(this.lastError !== undefined ? { lastError: this.lastError } : {}),
        channels: channels.map((c) => ({ channelId: BigInt(c.channelId).toString(), cumulative: c.cumulative.toString(), paid: c.paid.toString(), jobCount: c.jobCount })),
        recent: [...this.recent],
      }
    }
    return msg
  }

  private publish(): void {
    this.dirty = false
    this.sink.publish(telemetryTopics.agent(this.agent.id), JSON.stringify(this.snapshot()), { qos: 0, retain: true })
  }

  private event(e: SettlementEvent): void {
    this.sink.publish(telemetryTopics.settlements(this.agent.id), JSON.stringify(e), { qos: 0, retain: false })
  }
}
