import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { agentTelemetrySchema, alertsSchema, jobBatchSchema, parseTelemetryTopic, requesterStatsSchema, TELEMETRY_LIMITS, telemetryTopics } from './telemetry.ts'
import { decodeJson } from './validate.ts'

const event = { id: 'job-1@abc', module: 'a'.repeat(64), status: 'error', code: 'trap', agent: 'a1', latencyMs: 3.2, durationMs: 0.4, attempts: 1, fuel: 10, ts: 1 }

test('topics: every kind parses back to its subject; anything else is not telemetry', () => {
  assert.equal(parseTelemetryTopic(telemetryTopics.jobs('gw-1')), { kind: 'jobs', subject: 'gw-1' })
  assert.equal(parseTelemetryTopic(telemetryTopics.stats('r1')), { kind: 'stats', subject: 'r1' })
  assert.equal(parseTelemetryTopic(telemetryTopics.agent('abc')), { kind: 'agents', subject: 'abc' })
  assert.equal(parseTelemetryTopic(telemetryTopics.settlements('abc')), { kind: 'settlements', subject: 'abc' })
  assert.equal(parseTelemetryTopic(telemetryTopics.alerts), { kind: 'alerts', subject: '' })
  for (const t of ['fm/v1/telemetry/jobs', 'fm/v1/telemetry/jobs/a/b', 'fm/v1/telemetry/other/x', 'fm/v1/agents/x/presence', 'fm/v1/telemetry/jobs/a+b']) assert.is(parseTelemetryTopic(t), undefined, t)
})

test('a job batch is taken as published; a bad field is named', () => {
  const ok = decodeJson(JSON.stringify({ v: 1, source: 'gw', ts: 1, events: [event], dropped: 0 }), jobBatchSchema)
  assert.ok(ok.ok)
  const bad = decodeJson(JSON.stringify({ v: 1, source: 'gw', ts: 1, events: [{ ...event, code: 'Not A Code' }], dropped: 0 }), jobBatchSchema)
  assert.not.ok(bad.ok)
  if (!bad.ok) assert.match(bad.error.shortMessage, /events\[0\]\.code/)
})

test('caps hold on the way in: too many events, buckets, codes, alerts are refused', () => {
  const many = Array.from({ length: TELEMETRY_LIMITS.eventsPerBatch + 1 }, () => event)
  assert.not.ok(decodeJson(JSON.stringify({ v: 1, source: 'gw', ts: 1, events: many, dropped: 0 }), jobBatchSchema).ok)
  const series = (n: number) => new Array(n).fill(0)
  const stats = (buckets: number, codes: number) => ({
    v: 1, source: 'gw', kind: 'gateway', ts: 1, stepMs: 1000, t0: 0, ok: series(buckets), failed: series(buckets), p50: series(buckets), p99: series(buckets),
    errors: Object.fromEntries(Array.from({ length: codes }, (_, i) => [`c${i}`, series(1)])),
    totals: { ok: 0, failed: 0, inFlight: 0, errors: {}, auctions: 0, dropped: 0 },
  })
  assert.ok(decodeJson(JSON.stringify(stats(TELEMETRY_LIMITS.buckets, 3)), requesterStatsSchema).ok)
  assert.not.ok(decodeJson(JSON.stringify(stats(TELEMETRY_LIMITS.buckets + 1, 3)), requesterStatsSchema).ok)
  assert.not.ok(decodeJson(JSON.stringify(stats(10, TELEMETRY_LIMITS.codes + 1)), requesterStatsSchema).ok)
  const alert = { id: 'agent_gone:x', kind: 'agent_gone', severity: 'critical', subject: 'x', message: 'm', since: 1 }
  assert.not.ok(decodeJson(JSON.stringify({ v: 1, source: 'c', ts: 1, alerts: new Array(TELEMETRY_LIMITS.alerts + 1).fill(alert) }), alertsSchema).ok)
  assert.not.ok(decodeJson(JSON.stringify({ v: 1, source: 'c', ts: 1, alerts: [{ ...alert, kind: 'everything_is_fine' }] }), alertsSchema).ok)
  assert.not.ok(decodeJson('x'.repeat(10), agentTelemetrySchema, 5).ok, 'size cap')
})

test('amounts travel as decimal strings; negative counts and NaN are refused', () => {
  const base = { v: 1, agent: 'a1', ts: 1, jobs: { ok: 1, failed: 0, byCode: {}, fuel: 5 } }
  assert.ok(decodeJson(JSON.stringify(base), agentTelemetrySchema).ok)
  assert.not.ok(decodeJson(JSON.stringify({ ...base, jobs: { ...base.jobs, ok: -1 } }), agentTelemetrySchema).ok)
  assert.not.ok(decodeJson('{"v":1,"agent":"a1","ts":1,"jobs":{"ok":NaN}}', agentTelemetrySchema).ok)
  const settlement = { paid: '1000000000000000000000', owed: '0', settlements: 1, jobsSettled: '5', gasUsed: '56000', vouchersAccepted: 5, vouchersRefused: 0, failures: 0, failing: false, channels: [], recent: [] }
  assert.ok(decodeJson(JSON.stringify({ ...base, settlement }), agentTelemetrySchema).ok)
  assert.not.ok(decodeJson(JSON.stringify({ ...base, settlement: { ...settlement, paid: 1e21 } }), agentTelemetrySchema).ok)
})

test.run()
