/** The page's store and chart series, in Node: it has no DOM on purpose. */
import { createHash, randomBytes } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { meshSeries } from './series.ts'
import { LIMITS, MeshStore } from './store.ts'

const SIG = `${'A'.repeat(86)}==`

function presence(name: string, labels: Record<string, string> = {}) {
  const publicKey = randomBytes(32).toString('hex')
  const id = createHash('sha256').update(Buffer.from(publicKey, 'hex')).digest('hex').slice(0, 20)
  return {
    id,
    json: JSON.stringify({
      status: 'online', id, name, publicKey, version: '0.1.0', capacity: { cores: 2, memoryMiB: 1024, arch: 'arm64', platform: 'linux', slots: 2 },
      labels, price: { perJob: 1 }, limits: { fuel: 1e12, memoryMiB: 256, timeoutMs: 60000, outputBytes: 1024, inputBytes: 1024 },
      defaults: { fuel: 1e10, memoryMiB: 64, timeoutMs: 10000, outputBytes: 1024 }, load: { running: 0, queued: 0 }, heartbeatMs: 1000, since: 1,
      // signed presence (protocol/presence-signature.ts): the page reads the fields, it checks no signature
      epoch: 1, seq: 0, signature: SIG,
    }),
    publicKey,
  }
}

test('agents: online from presence, unreachable after 3 missed beats, back with a beat, gone by the will', () => {
  const s = new MeshStore()
  const a = presence('pi-1', { site: 'depot-3', lat: '52.5', lon: '13.4' })
  s.handle(`fm/v1/agents/${a.id}/presence`, a.json, 1000)
  assert.equal(s.counts(), { online: 1, unreachable: 0, gone: 0 })
  s.sweep(3500)
  assert.is(s.agents.get(a.id)!.state, 'online')
  s.sweep(4100)
  assert.is(s.agents.get(a.id)!.state, 'unreachable')
  s.handle(`fm/v1/agents/${a.id}/heartbeat`, JSON.stringify({ id: a.id, seq: 1, load: { running: 1, queued: 2 }, epoch: 1, signature: SIG }), 4200)
  assert.is(s.agents.get(a.id)!.state, 'online')
  assert.equal(s.agents.get(a.id)!.load, { running: 1, queued: 2 })
  s.handle(`fm/v1/agents/${a.id}/presence`, JSON.stringify({ status: 'offline', id: a.id, name: 'pi-1', reason: 'lost', epoch: 1, publicKey: a.publicKey, signature: SIG }), 5000)
  const v = s.agents.get(a.id)!
  assert.is(v.state, 'gone')
  assert.is(v.reason, 'lost')
  assert.equal(v.history.newest().map((h) => h.state), ['gone', 'online', 'unreachable', 'online'])
  assert.equal(s.sites(), [{ site: 'depot-3', online: 0, unreachable: 0, gone: 1, lat: 52.5, lon: 13.4 }])
})

test('garbage is dropped and counted by reason, never thrown', () => {
  const s = new MeshStore()
  const a = presence('pi-2')
  const bad: Array<[string, string | Uint8Array]> = [
    ['fm/v1/telemetry/jobs/x', 'nope'],
    ['fm/v1/telemetry/jobs/x', new Uint8Array([0xff, 0, 0xfe])],
    ['fm/v1/telemetry/jobs/x', JSON.stringify({ v: 1, source: 'y', ts: 1, events: [], dropped: 0 })],
    ['fm/v1/telemetry/stats/x', '{"v":1,"source":"x"}'],
    ['fm/v1/telemetry/alerts', '{"v":1,"source":"c","ts":1,"alerts":[{"kind":"nope"}]}'],
    ['fm/v1/telemetry/what/x', '{}'],
    [`fm/v1/agents/${a.id}/presence`, a.json.replace(a.id, 'someoneelse1234567890')],
    ['fm/v1/agents/zz/presence', '{"status":"online"}'],
  ]
  for (const [t, p] of bad) s.handle(t, p)
  assert.equal({ ...s.drops }, { invalid: 5, topic: 1, subject: 2, capacity: 0 })
  assert.is(s.agents.size, 0)
  assert.is(s.dropped, 8)
})

test('caps: the feed keeps the last 1,000 jobs, an agent its last 50, at most 5,000 agents', () => {
  const s = new MeshStore()
  const a = presence('busy')
  s.handle(`fm/v1/agents/${a.id}/presence`, a.json)
  const events = Array.from({ length: 400 }, (_, i) => ({ id: `j${i}`, status: i % 10 ? 'ok' : 'error', ...(i % 10 ? {} : { code: 'trap' }), agent: a.id, latencyMs: 1, durationMs: 1, attempts: 1, fuel: 1, ts: i }))
  for (let b = 0; b < 5; b++) s.handle('fm/v1/telemetry/jobs/gw', JSON.stringify({ v: 1, source: 'gw', ts: 1, events, dropped: 3 }))
  assert.is(s.feed.size, LIMITS.feed)
  assert.is(s.feed.newest(1)[0]!.id, 'j399')
  assert.is(s.agents.get(a.id)!.jobs.size, LIMITS.perAgentJobs)
  assert.is(s.agents.get(a.id)!.seenFailed, 200)
  assert.is(s.eventsDropped, 15)
  for (let i = 0; i < LIMITS.agents + 10; i++) {
    const p = presence(`n${i}`)
    s.handle(`fm/v1/agents/${p.id}/presence`, p.json)
  }
  assert.is(s.agents.size, LIMITS.agents)
  assert.is(s.drops.capacity, 11)
})

test('series: sources merge onto one timeline; incomplete buckets are left out', () => {
  const mk = (source: string, ok: number[], failed: number[], p50: number[]) => ({
    v: 1 as const, source, kind: 'gateway' as const, ts: 10_500, stepMs: 1000, t0: 6000, ok, failed, p50, p99: p50.map((x) => x * 2),
    errors: { trap: failed }, totals: { ok: 0, failed: 0, inFlight: 0, errors: {}, auctions: 0, dropped: 0 },
  })
  const s = meshSeries([mk('a', [1, 2, 3, 4, 99], [0, 0, 1, 0, 9], [1, 1, 1, 1, 1]), mk('b', [1, 0, 1, 0, 0], [0, 0, 0, 0, 0], [3, -1, 3, -1, -1])], 4000)
  assert.equal(s.t, [6, 7, 8, 9])
  assert.equal(s.rate, [2, 2, 5, 4], 'the 10 s bucket (incomplete at 10.5 s) is not shown')
  assert.equal(s.failedRate, [0, 0, 1, 0])
  assert.equal(s.codes.trap, [0, 0, 1, 0])
  assert.equal(s.p50, [2, 1, 1.4, 1], 'weighted by jobs')
  assert.equal(s.p99, [6, 2, 6, 2])
})

test.run()
