/**
 * The mesh's Prometheus metrics, as the broker's `/metrics` shows them: built
 * from the telemetry every gateway, requester and agent publishes (so they
 * cover gateways in other processes too), plus the agents' states.
 *
 * Counters that the sources publish as running totals (jobs, vouchers) are
 * followed by their increase, per source: a source that restarts from zero
 * adds its new total, as Prometheus' own `rate()` treats a reset.
 */
import { Counter, Gauge, Histogram, type Registry } from 'prom-client'
import type { RequesterStats } from '../protocol/telemetry.ts'
import type { MeshWatch } from './mesh-watch.ts'

const TOKEN_DECIMALS = 18

/** Follows running totals per (source, key) and returns their increase since last seen. */
class Totals {
  private readonly last = new Map<string, number>()
  constructor(private readonly max = 100_000) {}
  delta(key: string, total: number): number {
    const prev = this.last.get(key)
    if (prev === undefined && this.last.size >= this.max) return 0
    this.last.set(key, total)
    if (prev === undefined || total < prev) return total
    return total - prev
  }
  forget(prefix: string): void {
    for (const k of this.last.keys()) if (k.startsWith(prefix)) this.last.delete(k)
  }
}

export function registerMeshMetrics(watch: MeshWatch, registry: Registry): void {
  const registers = [registry]
  new Gauge({
    name: 'fogmesh_agents',
    help: 'Agents by state (online, unreachable, gone), as the console server sees them',
    labelNames: ['state'] as const,
    registers,
    collect() {
      const n = { online: 0, unreachable: 0, gone: 0 }
      for (const a of watch.directory.list('all')) n[a.state]++
      n.gone += watch.directory.departed().length
      for (const [state, v] of Object.entries(n)) this.set({ state }, v)
    },
  })
  new Gauge({
    name: 'fogmesh_jobs_in_flight',
    help: 'Jobs submitted and not answered yet, over all gateways',
    registers,
    collect() {
      this.set(watch.sources().reduce((s, r) => s + r.totals.inFlight, 0))
    },
  })
  const jobs = new Counter({ name: 'fogmesh_jobs_total', help: 'Jobs answered, by status and error code (code is empty for ok)', labelNames: ['status', 'code'] as const, registers })
  const latency = new Histogram({
    name: 'fogmesh_job_duration_seconds',
    help: 'From submit to verified result, at the requester',
    buckets: [0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30],
    registers,
  })
  const run = new Histogram({
    name: 'fogmesh_job_run_seconds',
    help: 'Time a job ran on its agent',
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60],
    registers,
  })
  const retries = new Counter({ name: 'fogmesh_job_retries_total', help: 'Assignments beyond the first (an agent went away, timed out or answered garbage)', registers })
  const auctions = new Histogram({
    name: 'fogmesh_auction_duration_seconds',
    help: 'From offer to the auction closing',
    buckets: [0.001, 0.005, 0.01, 0.025, 0.05, 0.1, 0.2, 0.5, 1],
    registers,
  })
  const bids = new Histogram({ name: 'fogmesh_auction_bids', help: 'Bids an auction received', buckets: [0, 1, 2, 3, 5, 10, 20, 50, 100], registers })
  const vouchers = new Counter({ name: 'fogmesh_vouchers_total', help: 'Payment vouchers signed by requesters', registers })
  new Gauge({
    name: 'fogmesh_channel_locked_tokens',
    help: 'Tokens locked in payment channels by requesters',
    registers,
    collect() {
      this.set(watch.sources().reduce((s, r) => s + tokens(r.payments?.locked ?? '0'), 0))
    },
  })
  const settlements = new Counter({ name: 'fogmesh_settlements_total', help: 'Settlement transactions by agents, by result', labelNames: ['result'] as const, registers })
  const paid = new Counter({ name: 'fogmesh_settled_tokens_total', help: 'Tokens paid to agents on chain (whole tokens, 18 decimals)', registers })
  const settledJobs = new Counter({ name: 'fogmesh_settled_jobs_total', help: 'Jobs paid for by settlements', registers })
  const gas = new Counter({ name: 'fogmesh_settlement_gas_total', help: 'Gas used by settlement transactions', registers })
  new Gauge({
    name: 'fogmesh_owed_tokens',
    help: 'Tokens agents hold vouchers for and have not settled yet',
    registers,
    collect() {
      this.set(watch.agentsTelemetry().reduce((s, a) => s + tokens(a.settlement?.owed ?? '0'), 0))
    },
  })
  const telemetry = new Counter({ name: 'fogmesh_telemetry_messages_total', help: 'Telemetry messages taken, by kind', labelNames: ['kind'] as const, registers })
  const dropped = new Counter({ name: 'fogmesh_telemetry_dropped_total', help: 'Telemetry messages dropped at the console server, by reason', labelNames: ['reason'] as const, registers })
  const eventsDropped = new Counter({ name: 'fogmesh_telemetry_events_dropped_total', help: 'Job events publishers left out of their batches (their cap)', registers })

  const totals = new Totals()
  watch.on('stats', (s: RequesterStats) => {
    telemetry.inc({ kind: 'stats' })
    const k = `${s.source}\u0000`
    jobs.inc({ status: 'ok', code: '' }, totals.delta(`${k}ok`, s.totals.ok))
    for (const [code, n] of Object.entries(s.totals.errors)) jobs.inc({ status: 'error', code }, totals.delta(`${k}e:${code}`, n))
    if (s.payments) vouchers.inc(totals.delta(`${k}vouchers`, s.payments.vouchers))
  })
  watch.on('statsCleared', (source) => totals.forget(`${source}\u0000`))
  watch.on('jobs', (b) => {
    telemetry.inc({ kind: 'jobs' })
    eventsDropped.inc(b.dropped)
    for (const e of b.events) {
      latency.observe(e.latencyMs / 1000)
      if (e.agent) run.observe(e.durationMs / 1000)
      if (e.attempts > 1) retries.inc(e.attempts - 1)
    }
    for (const a of b.auctions ?? []) {
      auctions.observe(a.ms / 1000)
      bids.observe(a.bids)
    }
  })
  watch.on('agent', () => telemetry.inc({ kind: 'agents' }))
  watch.on('settlement', (e) => {
    telemetry.inc({ kind: 'settlements' })
    settlements.inc({ result: e.ok ? 'ok' : 'failed' })
    if (!e.ok) return
    paid.inc(tokens(e.amount ?? '0'))
    settledJobs.inc(Number(e.jobs ?? 0))
    gas.inc(Number(e.gasUsed ?? 0))
  })
  watch.on('dropped', (d) => dropped.inc({ reason: d.reason }))
}

/** Base units (decimal string) → whole tokens, as a float: what a dashboard shows. */
export function tokens(base: string): number {
  const b = BigInt(base)
  const unit = 10n ** BigInt(TOKEN_DECIMALS)
  return Number(b / unit) + Number(b % unit) / Number(unit)
}
