/**
 * The alert engine on a real broker: conditions raised from what arrives on
 * presence and telemetry topics, published retained on fm/v1/telemetry/alerts,
 * resolved when they stop holding; garbage dropped and counted.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startAgent } from '../agent/agent.ts'
import { alertsSchema, telemetryTopics, type AlertsMessage } from '../protocol/telemetry.ts'
import { connect } from '../protocol/transport.ts'
import { decodeJson } from '../protocol/validate.ts'
import { spawnAgent } from '../test/support/agents.ts'
import { collect, plainClient } from '../test/support/mqtt-clients.ts'
import { tmpDir } from '../test/support/temp-dirs.ts'
import { testBroker } from '../test/support/test-broker.ts'
import { waitFor } from '../test/support/wait.ts'
import { AlertEngine } from './alerts.ts'
import { MeshWatch } from './mesh-watch.ts'

const stats = (source: string, ok: number, failed: number, payments?: object) => {
  const now = Date.now()
  const n = 60
  const per = (x: number) => Array.from({ length: n }, (_, i) => (i < x % n ? Math.ceil(x / n) : Math.floor(x / n)))
  return JSON.stringify({
    v: 1, source, kind: 'gateway', ts: now, stepMs: 1000, t0: Math.floor(now / 1000) * 1000 - (n - 1) * 1000,
    ok: per(ok), failed: per(failed), p50: new Array(n).fill(2), p99: new Array(n).fill(9), errors: failed ? { trap: per(failed) } : {},
    totals: { ok, failed, inFlight: 0, errors: failed ? { trap: failed } : {}, auctions: 1, dropped: 0 },
    ...(payments ? { payments } : {}),
  })
}

test('raised, published retained, resolved: error rate, settlement failing, channel low, agent gone', async () => {
  const broker = await testBroker()
  const conn = await connect(broker.url)
  const watch = new MeshWatch(conn)
  await watch.start()
  const engine = new AlertEngine(watch, conn, { evalMs: 100, errorRate: 0.05, minJobs: 20, channelLow: 0.1 }).start()
  const pub = await plainClient(broker.url)
  const victim = await spawnAgent(broker.url, 'victim')
  const leaver = await startAgent({ broker: broker.url, dataDir: tmpDir(), name: 'leaver', slots: 1 })
  try {
    await waitFor(() => watch.directory.list().length === 2, 10_000, 'two agents online')
    await pub.publishAsync(telemetryTopics.stats('gw-a'), stats('gw-a', 80, 20, {
      vouchers: 100, locked: '2000', owed: '1900', acknowledged: '1900', budget: '2000',
      channels: [
        { agent: 'agent-low', channelId: '7', deposit: '1000', cumulative: '950', acked: '950' },
        { agent: 'agent-fine', channelId: '8', deposit: '1000', cumulative: '100', acked: '100' },
        { agent: 'agent-cut', deposit: '0', cumulative: '50', acked: '0', failed: 'budget of 2000 exhausted' },
      ],
    }), { retain: true })
    await pub.publishAsync(telemetryTopics.agent('agent-poor'), JSON.stringify({
      v: 1, agent: 'agent-poor', ts: Date.now(), jobs: { ok: 1, failed: 0, byCode: {}, fuel: 1 },
      settlement: { paid: '0', owed: '5', settlements: 0, jobsSettled: '0', gasUsed: '0', vouchersAccepted: 5, vouchersRefused: 0, failures: 3, failing: true, lastError: 'chain unreachable', channels: [], recent: [] },
    }), { retain: true })
    await victim.kill('SIGKILL')
    await leaver.close() // a clean stop: no alert
    const kinds = () => engine.list().map((a) => `${a.kind}:${a.subject}`).sort()
    await waitFor(() => kinds().length === 5, 8000, `five alerts (have ${kinds().join(', ')})`)
    assert.equal(kinds(), [`agent_gone:${victim.id}`, 'channel_low:gw-a/agent-cut', 'channel_low:gw-a/agent-low', 'error_rate:gw-a', 'settlement_failing:agent-poor'])
    const rate = engine.list().find((a) => a.kind === 'error_rate')!
    assert.is(rate.value, 0.2)
    assert.match(rate.message, /20\.0% of 100 jobs failed.*mostly trap/)
    assert.is(engine.list().find((a) => a.subject === 'gw-a/agent-cut')!.severity, 'critical')
    assert.is(engine.list().find((a) => a.subject === 'gw-a/agent-low')!.severity, 'critical', 'no budget left to top it up')

    // anyone can follow them: one retained message
    const late = await plainClient(broker.url)
    const got = collect(late)
    await late.subscribeAsync(telemetryTopics.alerts)
    await waitFor(() => got.length > 0, 10_000, 'the retained alerts')
    const d = decodeJson(got[got.length - 1]!.payload, alertsSchema)
    assert.ok(d.ok)
    assert.is((d as { value: AlertsMessage }).value.alerts.length, 5)

    // conditions that stop holding resolve
    await pub.publishAsync(telemetryTopics.stats('gw-a'), stats('gw-a', 100, 0), { retain: true })
    await waitFor(() => kinds().length === 2, 5000, `error rate and channels resolved (have ${kinds().join(', ')})`)
    await waitFor(() => {
      const last = decodeJson(got[got.length - 1]!.payload, alertsSchema)
      return last.ok && last.value.alerts.length === 2
    }, 3000, 'the retained message follows')
    await late.endAsync()
  } finally {
    engine.stop()
    watch.stop()
    await victim.kill()
    await pub.endAsync()
    await conn.close()
    await broker.close()
  }
})

test('garbage on telemetry topics is dropped and counted by reason; nothing raised from it', async () => {
  const broker = await testBroker()
  const conn = await connect(broker.url)
  const watch = new MeshWatch(conn)
  await watch.start()
  const engine = new AlertEngine(watch, conn, { evalMs: 100 }).start()
  const pub = await plainClient(broker.url)
  try {
    await pub.publishAsync(telemetryTopics.stats('evil'), '{"v":1')
    await pub.publishAsync(telemetryTopics.stats('evil'), stats('someone-else', 0, 100))
    await pub.publishAsync(telemetryTopics.agent('evil'), JSON.stringify({ v: 1, agent: 'evil', ts: 1, jobs: { ok: 'many' } }))
    await pub.publishAsync('fm/v1/telemetry/nonsense', 'x')
    await waitFor(() => watch.drops.invalid === 2 && watch.drops.subject === 1 && watch.drops.topic === 1, 3000, `drops counted (${JSON.stringify(watch.drops)})`)
    await new Promise((r) => setTimeout(r, 300))
    assert.equal(engine.list(), [])
  } finally {
    engine.stop()
    watch.stop()
    await pub.endAsync()
    await conn.close()
    await broker.close()
  }
})

test.run()
