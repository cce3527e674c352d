/**
 * A requester's (or the gateway's) telemetry, for operators: every answered
 * job as an event on `fm/v1/telemetry/jobs/<id>` (batched every 250 ms,
 * at most 500 per batch — failures first, the rest counted as `dropped`), and
 * a retained rollup on `fm/v1/telemetry/stats/<id>` every second: per-second
 * buckets of the last five minutes, totals, and the channels it pays through,
 * so that a console opened late has the history at once.
 *
 * It listens to the events the requester already emits and publishes on the
 * requester's own connection; it never slows a job down (publishes are QoS 0
 * and batched).
 */
import type { Gateway } from './gateway.ts'
import type { JobAnswer } from './job.ts'
import type { Requester } from './requester.ts'
import { RollingWindow, type RollingWindowOptions } from './rolling-window.ts'
import { mergeOptions } from '../protocol/options.ts'
import {
  TELEMETRY_LIMITS,
  telemetryTopics,
  type AuctionEvent,
  type JobBatch,
  type JobEvent,
  type RequesterStats,
} from '../protocol/telemetry.ts'

/** Where telemetry goes: the requester's MQTT connection fits. */
export interface TelemetrySink {
  publish(topic: string, payload: string, opts: { qos: 0 | 1; retain: boolean }): void
}

export interface RequesterTelemetryOptions {
  /** How often job events go out, ms. Default 250. */
  batchMs?: number
  /** How often the retained rollup goes out, ms. Default 1000. */
  statsMs?: number
  /** Job events per batch (at most 500); beyond it they are counted, not sent. Default 500. */
  maxEventsPerBatch?: number
  /** `gateway` when it runs jobs for plain-MQTT sensors. Default `requester`. */
  kind?: 'gateway' | 'requester'
  site?: string
  window?: RollingWindowOptions
}

const DEFAULTS = { batchMs: 250, statsMs: 1000, maxEventsPerBatch: TELEMETRY_LIMITS.eventsPerBatch as number, kind: 'requester' as 'gateway' | 'requester' }

export interface RequesterTelemetryEvents {
  /** Events were left out of a batch by the cap. */
  dropped: [{ count: number }]
}

export class RequesterTelemetry {
  private readonly opts: typeof DEFAULTS & RequesterTelemetryOptions
  private readonly window: RollingWindow
  private oks: JobEvent[] = []
  private fails: JobEvent[] = []
  private auctions: AuctionEvent[] = []
  private droppedNow = 0
  private readonly totals = { ok: 0, failed: 0, errors: {} as Record<string, number>, auctions: 0, dropped: 0 }
  private timers: NodeJS.Timeout[] = []
  private readonly onResult = (r: JobAnswer) => this.recordResult(r)
  private readonly onAuction = (a: { module: string; bids: number; eligible: number; ms: number }) => this.recordAuction(a)
  private readonly onInvalid = (e: { code: string }) => this.record({ id: '-', status: 'error', code: e.code, latencyMs: 0, durationMs: 0, attempts: 0, fuel: 0, ts: Date.now() })
  private gateway: Gateway | undefined
  private stopped = false

  constructor(
    private readonly requester: Requester,
    private readonly sink: TelemetrySink,
    options: RequesterTelemetryOptions = {},
  ) {
    this.opts = mergeOptions(options, DEFAULTS, {
      batchMs: { min: 10, max: 60_000, integer: true },
      statsMs: { min: 100, max: 600_000, integer: true },
      maxEventsPerBatch: { min: 0, max: TELEMETRY_LIMITS.eventsPerBatch, integer: true },
    }, 'telemetry')
    this.window = new RollingWindow(options.window)
  }

  /** Also counts the gateway's refused submissions (bad JSON, bad fields) as failures by code. */
  attachGateway(gateway: Gateway): this {
    this.gateway = gateway
    return this
  }

  start(): this {
    this.requester.on('result', this.onResult)
    this.requester.on('auction', this.onAuction)
    this.gateway?.on('invalid', this.onInvalid)
    const every = (ms: number, fn: () => void) => {
      const t = setInterval(fn, ms)
      t.unref()
      this.timers.push(t)
    }
    every(this.opts.batchMs, () => this.flushEvents())
    every(this.opts.statsMs, () => this.publishStats())
    this.publishStats()
    return this
  }

  /** Stops, sends what is pending and a last rollup, then clears the retained one (this source is gone). */
  stop(): void {
    if (this.stopped) return
    this.stopped = true
    for (const t of this.timers) clearInterval(t)
    this.timers = []
    this.requester.off('result', this.onResult)
    this.requester.off('auction', this.onAuction)
    this.gateway?.off('invalid', this.onInvalid)
    this.flushEvents()
    this.publishStats() // its final totals count (the console server follows totals)
    this.sink.publish(telemetryTopics.stats(this.requester.id), '', { qos: 0, retain: true })
  }

  private recordResult(r: JobAnswer): void {
    this.record({
      id: r.id,
      module: r.module,
      status: r.status,
      ...(r.error ? { code: safeCode(r.error.code) } : {}),
      ...(r.agent ? { agent: r.agent } : {}),
      latencyMs: round(r.latencyMs),
      durationMs: round(r.durationMs),
      attempts: r.attempts,
      fuel: r.fuel,
      ts: Date.now(),
    })
  }

  private record(e: JobEvent): void {
    this.window.record(e.ts, e.status === 'ok', e.latencyMs, e.code)
    if (e.status === 'ok') this.totals.ok++
    else {
      this.totals.failed++
      const c = e.code ?? 'unknown'
      if (c in this.totals.errors || Object.keys(this.totals.errors).length < TELEMETRY_LIMITS.codes - 1) this.totals.errors[c] = (this.totals.errors[c] ?? 0) + 1
      else this.totals.errors.other = (this.totals.errors.other ?? 0) + 1
    }
    // failures are what operators look for: when the batch is full, an ok event gives way to a failure
    const ok = e.status === 'ok'
    if (this.oks.length + this.fails.length < this.opts.maxEventsPerBatch) {
      ;(ok ? this.oks : this.fails).push(e)
      return
    }
    if (!ok && this.oks.length > 0) {
      this.oks.shift()
      this.fails.push(e)
    }
    this.droppedNow++
  }

  private recordAuction(a: { module: string; bids: number; eligible: number; ms: number }): void {
    this.totals.auctions++
    if (this.auctions.length >= TELEMETRY_LIMITS.auctionsPerBatch) return
    this.auctions.push({ module: a.module, bids: a.bids, eligible: a.eligible, ms: a.ms, ts: Date.now() })
  }

  private flushEvents(): void {
    if (this.oks.length + this.fails.length + this.auctions.length + this.droppedNow === 0) return
    const events = [...this.fails, ...this.oks].sort((a, b) => a.ts - b.ts)
    const batch: JobBatch = {
      v: 1,
      source: this.requester.id,
      ts: Date.now(),
      events,
      dropped: this.droppedNow,
      ...(this.auctions.length ? { auctions: this.auctions } : {}),
    }
    this.totals.dropped += this.droppedNow
    this.oks = []
    this.fails = []
    this.auctions = []
    this.droppedNow = 0
    this.sink.publish(telemetryTopics.jobs(this.requester.id), JSON.stringify(batch), { qos: 0, retain: false })
  }

  /** The retained rollup as it would be published now. */
  stats(now = Date.now()): RequesterStats {
    const w = this.window.snapshot(now)
    const payer = this.requester.payer
    const p = payer?.stats()
    return {
      v: 1,
      source: this.requester.id,
      kind: this.opts.kind,
      ...(this.opts.site !== undefined ? { site: this.opts.site } : {}),
      ts: now,
      ...w,
      totals: { ...this.totals, errors: { ...this.totals.errors }, inFlight: this.gateway?.stats().inFlight ?? 0 },
      ...(payer && p
        ? {
            payments: {
              vouchers: p.vouchers,
              locked: p.locked.toString(),
              owed: p.owed.toString(),
              acknowledged: p.acknowledged.toString(),
              budget: payer.budget.toString(),
              channels: payer.channels().slice(0, TELEMETRY_LIMITS.channels).map((c) => ({
                agent: c.agent,
                ...(c.channelId !== undefined ? { channelId: c.channelId.toString() } : {}),
                deposit: c.deposit.toString(),
                cumulative: c.cumulative.toString(),
                acked: c.acked.toString(),
                ...(c.failed ? { failed: c.failed.slice(0, 200) } : {}),
              })),
            },
          }
        : {}),
    }
  }

  private publishStats(): void {
    this.sink.publish(telemetryTopics.stats(this.requester.id), JSON.stringify(this.stats()), { qos: 0, retain: true })
  }
}

const round = (x: number) => Math.round(x * 1000) / 1000
/** Codes travel on the wire as `[a-z0-9_]`; anything else (a peer's odd code) is folded to `unknown`. */
const safeCode = (c: string) => (/^[a-z0-9_]{1,48}$/.test(c) ? c : 'unknown')
