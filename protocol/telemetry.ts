/**
 * Telemetry: what the mesh publishes for operators (the console, Prometheus,
 * anyone with a subscription), under `fm/v1/telemetry/`.
 *
 * | topic                                   | retained | from                 | what |
 * |-----------------------------------------|----------|----------------------|------|
 * | `fm/v1/telemetry/jobs/<source>`         | no       | gateways, requesters | job events in batches (every 250 ms), auctions |
 * | `fm/v1/telemetry/stats/<source>`        | yes      | gateways, requesters | rolling stats: per-second buckets of the last minutes, totals, channels |
 * | `fm/v1/telemetry/agents/<agent id>`     | yes      | agents               | the agent's own counts, earnings, channels, recent settlements |
 * | `fm/v1/telemetry/settlements/<agent id>`| no       | agents               | one event per settlement (tx hash) or failed attempt |
 * | `fm/v1/telemetry/alerts`                | yes      | the console server   | the alerts that are active now |
 *
 * Every message is JSON with `v: 1`. Every list and map has a cap, checked
 * here on the way in (the page and the server both use these parsers) and
 * kept by the publishers on the way out. This file runs in the browser too:
 * no Node APIs.
 */
import {
  array,
  boolean,
  id,
  literal,
  meshJobId,
  number,
  object,
  optional,
  record,
  string,
  uintString,
  type Infer,
} from './validate.ts'

export const TELEMETRY_PREFIX = 'fm/v1/telemetry'

export const telemetryTopics = {
  jobs: (source: string) => `${TELEMETRY_PREFIX}/jobs/${source}`,
  stats: (source: string) => `${TELEMETRY_PREFIX}/stats/${source}`,
  agent: (agentId: string) => `${TELEMETRY_PREFIX}/agents/${agentId}`,
  settlements: (agentId: string) => `${TELEMETRY_PREFIX}/settlements/${agentId}`,
  alerts: `${TELEMETRY_PREFIX}/alerts`,
  all: `${TELEMETRY_PREFIX}/#`,
} as const

export type TelemetryKind = 'jobs' | 'stats' | 'agents' | 'settlements' | 'alerts'

const KIND_TOPIC = /^fm\/v1\/telemetry\/(jobs|stats|agents|settlements)\/([A-Za-z0-9._:@-]{1,128})$/

/** `fm/v1/telemetry/<kind>/<subject>` → its parts; undefined for any other topic. */
export function parseTelemetryTopic(topic: string): { kind: TelemetryKind; subject: string } | undefined {
  if (topic === telemetryTopics.alerts) return { kind: 'alerts', subject: '' }
  const m = KIND_TOPIC.exec(topic)
  return m ? { kind: m[1] as TelemetryKind, subject: m[2] as string } : undefined
}

/** Caps every message is held to. Publishers keep them; parsers refuse what breaks them. */
export const TELEMETRY_LIMITS = {
  /** Job events in one batch (a publisher leaves the rest out and counts them in `dropped`). */
  eventsPerBatch: 500,
  auctionsPerBatch: 100,
  /** Per-second buckets in a stats message: 5 minutes. */
  buckets: 300,
  /** Distinct error codes in a stats message. */
  codes: 32,
  channels: 1000,
  recentSettlements: 20,
  alerts: 200,
  /** Largest telemetry message taken, bytes. */
  messageBytes: 512 * 1024,
} as const

const ms = number({ min: 0, max: 1e13 })
const count = number({ min: 0, max: Number.MAX_SAFE_INTEGER, integer: true })
const duration = number({ min: 0, max: 86_400_000 })
export const errorCode = string({ min: 1, max: 48, pattern: /^[a-z0-9_]+$/, describe: 'an error code of [a-z0-9_]' })
const sha256Hex = string({ min: 64, max: 64, pattern: /^[0-9a-f]{64}$/, describe: 'a sha256 as 64 lowercase hex characters' })
const txHash = string({ min: 66, max: 66, pattern: /^0x[0-9a-fA-F]{64}$/, describe: 'a transaction hash as 0x hex' })
const text = (max: number) => string({ min: 0, max })
/** A bucket's value, or -1 when the bucket had no sample (latency of a second without jobs). */
const sample = number({ min: -1, max: 86_400_000 })

// ---- fm/v1/telemetry/jobs/<source> -----------------------------------------

export const jobEventSchema = object({
  id: meshJobId,
  /** Absent for a submission refused before it named a module. */
  module: optional(sha256Hex),
  status: literal('ok', 'error'),
  code: optional(errorCode),
  agent: optional(id),
  /** From submit to verified result, at the requester. */
  latencyMs: duration,
  /** Run time on the agent. */
  durationMs: duration,
  attempts: number({ min: 0, max: 100, integer: true }),
  fuel: count,
  /** When it was answered (ms since the epoch). */
  ts: ms,
})
export type JobEvent = Infer<typeof jobEventSchema>

export const auctionEventSchema = object({
  module: sha256Hex,
  bids: number({ min: 0, max: 100_000, integer: true }),
  eligible: number({ min: 0, max: 100_000, integer: true }),
  ms: duration,
  ts: ms,
})
export type AuctionEvent = Infer<typeof auctionEventSchema>

export const jobBatchSchema = object({
  v: literal(1),
  source: id,
  ts: ms,
  events: array(jobEventSchema, { max: TELEMETRY_LIMITS.eventsPerBatch }),
  /** Events of this period left out by the cap (still counted in the stats). */
  dropped: count,
  auctions: optional(array(auctionEventSchema, { max: TELEMETRY_LIMITS.auctionsPerBatch })),
})
export type JobBatch = Infer<typeof jobBatchSchema>

// ---- fm/v1/telemetry/stats/<source> ----------------------------------------

const series = array(count, { max: TELEMETRY_LIMITS.buckets })
const samples = array(sample, { max: TELEMETRY_LIMITS.buckets })

export const channelStatsSchema = object({
  agent: id,
  channelId: optional(uintString),
  /** Locked in the channel (token base units). */
  deposit: uintString,
  /** Promised so far by vouchers. */
  cumulative: uintString,
  /** Acknowledged (journaled) by the agent. */
  acked: uintString,
  /** Why the requester stopped paying on it (budget exhausted, funding failed). */
  failed: optional(text(200)),
})
export type ChannelStats = Infer<typeof channelStatsSchema>

export const requesterStatsSchema = object({
  v: literal(1),
  source: id,
  kind: literal('gateway', 'requester'),
  site: optional(text(128)),
  ts: ms,
  /** Width of a bucket, ms. */
  stepMs: number({ min: 100, max: 3_600_000, integer: true }),
  /** Start of the first bucket (ms since the epoch); bucket i covers [t0 + i·stepMs, t0 + (i+1)·stepMs). */
  t0: ms,
  ok: series,
  failed: series,
  /** Latency percentiles per bucket, ms (-1: no job in that bucket). */
  p50: samples,
  p99: samples,
  /** Error results per bucket, by code. */
  errors: record(series, { maxKeys: TELEMETRY_LIMITS.codes, key: errorCode }),
  totals: object({
    ok: count,
    failed: count,
    inFlight: count,
    errors: record(count, { maxKeys: TELEMETRY_LIMITS.codes, key: errorCode }),
    auctions: count,
    /** Job events left out of batches by the cap since start. */
    dropped: count,
  }),
  payments: optional(
    object({
      vouchers: count,
      locked: uintString,
      owed: uintString,
      acknowledged: uintString,
      budget: uintString,
      channels: array(channelStatsSchema, { max: TELEMETRY_LIMITS.channels }),
    }),
  ),
})
export type RequesterStats = Infer<typeof requesterStatsSchema>

// ---- fm/v1/telemetry/agents/<agent id> -------------------------------------

export const settlementRecordSchema = object({
  txHash,
  ts: ms,
  /** Paid to the agent by this settlement (token base units). */
  amount: uintString,
  jobs: uintString,
  gasUsed: uintString,
  channels: number({ min: 0, max: 100_000, integer: true }),
})
export type SettlementRecord = Infer<typeof settlementRecordSchema>

export const agentChannelSchema = object({
  channelId: uintString,
  /** The latest voucher's cumulative amount. */
  cumulative: uintString,
  /** Paid on chain so far. */
  paid: uintString,
  jobCount: count,
})
export type AgentChannel = Infer<typeof agentChannelSchema>

export const agentTelemetrySchema = object({
  v: literal(1),
  agent: id,
  ts: ms,
  jobs: object({
    ok: count,
    failed: count,
    byCode: record(count, { maxKeys: TELEMETRY_LIMITS.codes, key: errorCode }),
    fuel: count,
  }),
  settlement: optional(
    object({
      paid: uintString,
      owed: uintString,
      settlements: count,
      jobsSettled: uintString,
      gasUsed: uintString,
      vouchersAccepted: count,
      vouchersRefused: count,
      failures: count,
      /** Set while the latest attempt failed; cleared by the next success. */
      failing: boolean,
      lastError: optional(text(300)),
      channels: array(agentChannelSchema, { max: TELEMETRY_LIMITS.channels }),
      recent: array(settlementRecordSchema, { max: TELEMETRY_LIMITS.recentSettlements }),
    }),
  ),
})
export type AgentTelemetry = Infer<typeof agentTelemetrySchema>

// ---- fm/v1/telemetry/settlements/<agent id> --------------------------------

export const settlementEventSchema = object({
  v: literal(1),
  agent: id,
  ts: ms,
  ok: boolean,
  txHash: optional(txHash),
  amount: optional(uintString),
  jobs: optional(uintString),
  gasUsed: optional(uintString),
  channels: optional(number({ min: 0, max: 100_000, integer: true })),
  error: optional(text(300)),
})
export type SettlementEvent = Infer<typeof settlementEventSchema>

// ---- fm/v1/telemetry/alerts ------------------------------------------------

export const ALERT_KINDS = ['agent_gone', 'error_rate', 'settlement_failing', 'channel_low'] as const
export type AlertKind = (typeof ALERT_KINDS)[number]

export const alertSchema = object({
  /** Stable while the condition holds: `<kind>:<subject>`. */
  id: string({ min: 1, max: 200 }),
  kind: literal(...ALERT_KINDS),
  severity: literal('critical', 'warning'),
  /** What it is about: an agent id, a requester id, a channel. */
  subject: text(160),
  message: text(300),
  since: ms,
  value: optional(number()),
  threshold: optional(number()),
})
export type Alert = Infer<typeof alertSchema>

export const alertsSchema = object({
  v: literal(1),
  source: id,
  ts: ms,
  alerts: array(alertSchema, { max: TELEMETRY_LIMITS.alerts }),
})
export type AlertsMessage = Infer<typeof alertsSchema>
