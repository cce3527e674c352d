import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { jobBatchSchema, requesterStatsSchema, telemetryTopics, type JobBatch } from '../protocol/telemetry.ts'
import { decodeJson } from '../protocol/validate.ts'
import { echo } from '../test/fixtures/engine/modules.ts'
import { collect, plainClient } from '../test/support/mqtt-clients.ts'
import { waitFor } from '../test/support/wait.ts'
import { startMesh } from '../test/support/mesh.ts'
import type { JobAnswer } from './job.ts'
import { RequesterTelemetry, type TelemetrySink } from './telemetry.ts'

test('a gateway publishes every answered job and a retained rollup a late subscriber gets at once', async () => {
  const mesh = await startMesh({ agents: 2, gateway: true })
  const telemetry = new RequesterTelemetry(mesh.requester, mesh.requester.connection, { kind: 'gateway', batchMs: 50, statsMs: 200 }).attachGateway(mesh.gateway!).start()
  try {
    const module = await mesh.publish(echo().bytes)
    const watcher = await plainClient(mesh.broker.url)
    const got = collect(watcher)
    await watcher.subscribeAsync(telemetryTopics.jobs(mesh.requester.id))
    const sensor = await plainClient(mesh.broker.url)
    await sensor.subscribeAsync('t/replies')
    for (let i = 1; i <= 5; i++) await sensor.publishAsync('fm/v1/jobs/submit', JSON.stringify({ id: `s-${i}`, module, input: '', replyTo: 't/replies' }))
    await sensor.publishAsync('fm/v1/jobs/submit', '{not json')
    const events = () => got.flatMap((m) => (decodeJson(m.payload, jobBatchSchema) as { ok: true; value: JobBatch }).value.events)
    await waitFor(() => events().length >= 6, 5000, 'six job events')
    const ok = events().filter((e) => e.status === 'ok')
    assert.is(ok.length, 5)
    assert.ok(ok.every((e) => /^s-\d@[0-9a-f]{12}$/.test(e.id) && e.module === module && e.agent && e.attempts === 1 && e.fuel > 0), JSON.stringify(ok[0]))
    assert.equal(events().filter((e) => e.status === 'error').map((e) => e.code), ['invalid_json'])

    await new Promise((r) => setTimeout(r, 300))
    const late = await plainClient(mesh.broker.url)
    const retained = collect(late)
    await late.subscribeAsync(telemetryTopics.stats(mesh.requester.id))
    await waitFor(() => retained.some((m) => m.retain), 10_000, 'the retained rollup')
    const d = decodeJson(retained.find((m) => m.retain)!.payload, requesterStatsSchema)
    assert.ok(d.ok, d.ok ? '' : d.error.message)
    if (d.ok) {
      assert.is(d.value.kind, 'gateway')
      assert.is(d.value.totals.ok, 5)
      assert.equal({ ...d.value.totals.errors }, { invalid_json: 1 })
      assert.is(d.value.ok.reduce((a, b) => a + b, 0), 5, 'the buckets hold them')
      assert.ok(d.value.p50.some((v) => v > 0))
    }
    telemetry.stop()
    await waitFor(() => retained.some((m) => m.payload.length === 0), 10_000, 'the rollup cleared on stop')
    await Promise.all([watcher.endAsync(), sensor.endAsync(), late.endAsync()])
  } finally {
    telemetry.stop()
    await mesh.close()
  }
})

test('bounded batches: failures take the room first, the rest is counted as dropped', async () => {
  const mesh = await startMesh({ agents: 1 })
  const sent: Array<{ topic: string; payload: string }> = []
  const sink: TelemetrySink = { publish: (topic, payload) => void sent.push({ topic, payload }) }
  const telemetry = new RequesterTelemetry(mesh.requester, sink, { batchMs: 60_000, statsMs: 60_000, maxEventsPerBatch: 10 }).start()
  try {
    const result = (i: number, ok: boolean): JobAnswer => ({
      id: `j${i}`, status: ok ? 'ok' : 'error', ...(ok ? {} : { error: { code: 'trap', message: 'x' } }), agent: null, signature: null,
      module: 'b'.repeat(64), inputSha256: 'c'.repeat(64), fuel: 1, durationMs: 1, attempts: 1, latencyMs: 2,
    })
    for (let i = 0; i < 30; i++) mesh.requester.emit('result', result(i, i % 2 === 0))
    telemetry.stop() // flushes
    const batch = sent.find((m) => m.topic === telemetryTopics.jobs(mesh.requester.id))!
    const d = decodeJson(batch.payload, jobBatchSchema)
    assert.ok(d.ok)
    if (!d.ok) return
    assert.is(d.value.events.length, 10)
    assert.ok(d.value.events.every((e) => e.status === 'error'), 'all ten are failures')
    assert.is(d.value.dropped, 20)
    const stats = JSON.parse(sent.filter((m) => m.topic === telemetryTopics.stats(mesh.requester.id) && m.payload)[0]!.payload)
    assert.is(stats.totals.ok + stats.totals.failed, 0, 'the first rollup went out before any job')
  } finally {
    await mesh.close()
  }
})

test.run()
