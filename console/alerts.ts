/**
 * Alerts: conditions an operator must see, evaluated on what the MeshWatch
 * takes in, and published as one retained message on `fm/v1/telemetry/alerts`
 * (the active alerts now) whenever the set changes — so any MQTT client can
 * follow them, and the console page shows them.
 *
 *   agent_gone          an agent's connection died (its last will: `lost`) or its presence was cleared
 *   error_rate          a source's failed / answered jobs over the last minute above the threshold
 *   settlement_failing  an agent's latest settlement attempt failed
 *   channel_low         a payment channel's unspent deposit below a fraction of it, or the payer
 *                       stopped paying on it (budget exhausted, funding failed)
 */
import { EventEmitter } from 'node:events'
import type { AgentRecord } from '../market/directory.ts'
import { mergeOptions } from '../protocol/options.ts'
import { TELEMETRY_LIMITS, telemetryTopics, type Alert, type AlertsMessage, type RequesterStats } from '../protocol/telemetry.ts'
import type { MeshWatch } from './mesh-watch.ts'

export interface AlertOptions {
  /** Error rate above which a source raises `error_rate` (0..1). Default 0.05. */
  errorRate?: number
  /** Window of the error rate, ms. Default 60 s. */
  errorWindowMs?: number
  /** Fewer answered jobs than this in the window raise nothing. Default 20. */
  minJobs?: number
  /** Unspent deposit below this fraction of it raises `channel_low` (0..1). Default 0.1. */
  channelLow?: number
  /** A gone agent's alert is dropped after this long, ms (it is not coming back). Default 1 hour. */
  goneTtlMs?: number
  /** How often conditions are evaluated, ms. Default 1000. */
  evalMs?: number
  /** Name of this alert source in the message. Default `console`. */
  source?: string
}

const DEFAULTS = { errorRate: 0.05, errorWindowMs: 60_000, minJobs: 20, channelLow: 0.1, goneTtlMs: 3_600_000, evalMs: 1000, source: 'console' }

export interface AlertSink {
  publish(topic: string, payload: string, opts: { qos: 0 | 1; retain: boolean }): void
}

export interface AlertEvents {
  raised: [Alert]
  resolved: [Alert]
}

export class AlertEngine extends EventEmitter<AlertEvents> {
  private readonly opts: typeof DEFAULTS
  private readonly active = new Map<string, Alert>()
  private readonly gone = new Map<string, { since: number; name: string }>()
  private timer: NodeJS.Timeout | undefined
  private published = ''

  constructor(private readonly watch: MeshWatch, private readonly sink: AlertSink, options: AlertOptions = {}) {
    super()
    this.opts = mergeOptions(options, DEFAULTS, {
      errorRate: { min: 0, max: 1 },
      errorWindowMs: { min: 1000, integer: true },
      minJobs: { min: 0, integer: true },
      channelLow: { min: 0, max: 1 },
      goneTtlMs: { min: 1000, integer: true },
      evalMs: { min: 50, integer: true },
    }, 'alerts')
  }

  start(): this {
    const d = this.watch.directory
    d.on('gone', this.onGone)
    d.on('online', this.onOnline)
    this.watch.on('agent', this.onChange)
    this.watch.on('stats', this.onChange)
    this.timer = setInterval(() => this.evaluate(), this.opts.evalMs)
    this.timer.unref()
    this.evaluate()
    return this
  }

  stop(): void {
    clearInterval(this.timer)
    clearTimeout(this.pending)
    const d = this.watch.directory
    d.off('gone', this.onGone)
    d.off('online', this.onOnline)
    this.watch.off('agent', this.onChange)
    this.watch.off('stats', this.onChange)
  }

  list(): Alert[] {
    return [...this.active.values()].sort((a, b) => severityRank(a) - severityRank(b) || b.since - a.since)
  }

  private readonly onGone = (a: AgentRecord) => {
    if (a.reason === 'stopped') return // a clean stop is not an alert
    this.gone.set(a.presence.id, { since: Date.now(), name: a.presence.name })
    this.evaluate()
  }
  private readonly onOnline = (a: AgentRecord) => {
    if (this.gone.delete(a.presence.id)) this.evaluate()
  }
  private pending: NodeJS.Timeout | undefined
  /** Settlement and channel alerts should not wait for the next tick; bursts are coalesced (100 ms). */
  private readonly onChange = () => {
    this.pending ??= setTimeout(() => {
      this.pending = undefined
      this.evaluate()
    }, 100)
  }

  /** Works out the active alerts now, and publishes them if they changed. */
  evaluate(now = Date.now()): Alert[] {
    const next = new Map<string, Omit<Alert, 'since'>>()
    const raise = (a: Omit<Alert, 'since' | 'id'>) => next.set(`${a.kind}:${a.subject}`, { id: `${a.kind}:${a.subject}`, ...a })

    for (const d of this.watch.directory.departed()) {
      if (d.reason === 'lost' && !this.gone.has(d.id)) this.gone.set(d.id, { since: now, name: d.name ?? d.id })
    }
    for (const [id, g] of this.gone) {
      if (now - g.since > this.opts.goneTtlMs) {
        this.gone.delete(id)
        continue
      }
      raise({ kind: 'agent_gone', severity: 'critical', subject: id, message: `agent ${g.name} (${id}) is gone: its connection died` })
    }
    for (const s of this.watch.sources(now)) {
      const r = errorRate(s, now, this.opts.errorWindowMs)
      if (r.total >= this.opts.minJobs && r.rate > this.opts.errorRate) {
        raise({
          kind: 'error_rate',
          severity: r.rate > 0.5 ? 'critical' : 'warning',
          subject: s.source,
          message: `${(r.rate * 100).toFixed(1)}% of ${r.total} jobs failed in the last ${Math.round(this.opts.errorWindowMs / 1000)} s at ${s.kind} ${s.source}${r.top ? ` (mostly ${r.top})` : ''}`,
          value: round(r.rate),
          threshold: this.opts.errorRate,
        })
      }
      const p = s.payments
      if (!p) continue
      const headroom = BigInt(p.budget) - BigInt(p.locked)
      for (const c of p.channels) {
        const subject = `${s.source}/${c.agent}`
        if (c.failed) {
          raise({ kind: 'channel_low', severity: 'critical', subject, message: `${s.source} stopped paying agent ${c.agent}: ${c.failed}` })
          continue
        }
        const deposit = BigInt(c.deposit)
        if (deposit === 0n) continue
        const left = deposit - BigInt(c.cumulative)
        const fraction = Number((left * 10_000n) / deposit) / 10_000
        if (fraction < this.opts.channelLow) {
          const canTopUp = headroom >= deposit
          raise({
            kind: 'channel_low',
            severity: canTopUp ? 'warning' : 'critical',
            subject,
            message: `channel ${c.channelId ?? '?'} from ${s.source} to agent ${c.agent}: ${(fraction * 100).toFixed(1)}% of its deposit left${canTopUp ? '' : '; the budget cannot top it up'}`,
            value: fraction,
            threshold: this.opts.channelLow,
          })
        }
      }
    }
    for (const t of this.watch.agentsTelemetry()) {
      const st = t.settlement
      if (st?.failing) {
        raise({ kind: 'settlement_failing', severity: 'critical', subject: t.agent, message: `agent ${t.agent} cannot settle: ${st.lastError ?? 'settlement failed'} (${st.failures} failed attempts)`, value: st.failures })
      }
    }

    for (const [id, a] of this.active) {
      if (!next.has(id)) {
        this.active.delete(id)
        this.emit('resolved', a)
      }
    }
    for (const [id, a] of next) {
      const prev = this.active.get(id)
      if (prev) Object.assign(prev, a)
      else if (this.active.size < TELEMETRY_LIMITS.alerts) {
        const full: Alert = { ...a, since: now }
        this.active.set(id, full)
        this.emit('raised', full)
      }
    }
    this.publish(now)
    return this.list()
  }

  private publish(now: number): void {
    const alerts = this.list()
    const key = JSON.stringify(alerts.map((a) => [a.id, a.severity, a.message]))
    if (key === this.published) return
    this.published = key
    const msg: AlertsMessage = { v: 1, source: this.opts.source, ts: now, alerts }
    this.sink.publish(telemetryTopics.alerts, JSON.stringify(msg), { qos: 1, retain: true })
  }
}

/** Failed / answered over the last `windowMs` of a source's buckets. */
export function errorRate(s: RequesterStats, now: number, windowMs: number): { rate: number; total: number; top: string | undefined } {
  let ok = 0
  let failed = 0
  const byCode: Record<string, number> = {}
  for (let i = 0; i < s.ok.length; i++) {
    const start = s.t0 + i * s.stepMs
    if (start + s.stepMs <= now - windowMs) continue
    ok += s.ok[i] ?? 0
    failed += s.failed[i] ?? 0
    for (const [code, series] of Object.entries(s.errors)) byCode[code] = (byCode[code] ?? 0) + (series[i] ?? 0)
  }
  const total = ok + failed
  const top = Object.entries(byCode).sort((a, b) => b[1] - a[1])[0]
  return { rate: total ? failed / total : 0, total, top: top && top[1] > 0 ? top[0] : undefined }
}

const severityRank = (a: Alert) => (a.severity === 'critical' ? 0 : 1)
const round = (x: number) => Math.round(x * 10_000) / 10_000
