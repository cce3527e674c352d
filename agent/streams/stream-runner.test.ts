/**
 * Time windows on an agent, on the in-memory twins (MemoryBus, ManualClock,
 * the inline executor): a cold start resumes from the retained state, slots
 * close on the clock (empty ones published with count 0, not run), late
 * readings are counted; the echo module shows each window's input.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startAgent } from '../agent.ts'
import { createInlineExecutor } from '../engine/executor/inline-executor.ts'
import { ephemeralIdentity } from '../../protocol/identity.ts'
import { ManualClock, settle } from '../../protocol/manual-clock.ts'
import { signStreamControl } from '../../protocol/stream-control.ts'
import { topics } from '../../protocol/topics.ts'
import { MemoryBus } from '../../protocol/transport/memory-bus.ts'
import { echo } from '../../test/fixtures/engine/modules.ts'
import { sha256 } from '../../test/support/sha256.ts'
import { tmpDir } from '../../test/support/temp-dirs.ts'
import { waitFor } from '../../test/support/wait.ts'

test('time windows: resume after the retained state, slots closed on the clock, empty and late ones', async () => {
  const bus = new MemoryBus()
  const clock = new ManualClock(1_000_000)
  const placer = ephemeralIdentity()
  const agent = await startAgent({ broker: bus, dataDir: tmpDir('fm-stream-runner-'), name: 'tw', executor: createInlineExecutor(), clock, streamGraceMs: 50, streamStateWaitMs: 100, acceptFrom: [placer.id] })
  const c = await bus.connect()
  const got: Array<Record<string, unknown>> = []
  c.route('out/tw', (_t, p) => got.push(JSON.parse(String(p))))
  await c.subscribe('out/tw', 1)
  try {
    const bytes = echo().bytes
    const module = sha256(bytes)
    await c.publishAsync(topics.module(module), Buffer.from(bytes), { qos: 1, retain: true })
    const epoch = 1_000_000
    // a previous agent published windows 1..3
    await c.publishAsync(topics.streamState('st1'), JSON.stringify({ stream: 'st1', agent: 'before', seq: 3, dropped: 2 }), { qos: 1, retain: true })
    const spec = { stream: 'st1', id: 'tw', module, source: 'sensors/t', window: { ms: 1000 }, replyTo: 'out/tw', epoch }
    const start = signStreamControl({ type: 'start', role: 'primary', spec, requester: 'r1', inbox: 'in/r1' }, agent.id, placer, clock.now() + 60_000)
    c.publish(topics.agentStreams(agent.id), JSON.stringify(start), { qos: 1 })
    await waitFor(() => agent.streams.size === 1, 10_000, 'the stream started')
    await settle()
    await clock.advance(200) // past the cold start's wait for the state
    await waitFor(() => agent.streams.stats()[0]?.role === 'primary', 10_000, 'primary')
    await clock.advance(2800) // window 3 ended at 1_003_000: the clock now at 1_003_000, grace not passed
    await settle()
    await clock.advance(100)
    const reading = (v: number, ts: number) => c.publish('sensors/t', JSON.stringify({ value: v, ts }), { qos: 1 })
    reading(1, 1_003_100) // window 4
    reading(2, 1_003_900) // window 4
    reading(3, 1_002_500) // window 3: already published by the agent before → late
    await settle()
    await clock.advance(1000) // 1_004_100: window 4 (ends 1_004_000) closes after its grace
    await waitFor(() => got.length >= 1, 10_000, 'window 4')
    await clock.advance(1000) // window 5, empty
    await waitFor(() => got.length >= 2, 10_000, 'window 5')
    assert.equal(got.map((r) => [r.seq, (r.window as { count: number }).count]), [[4, 2], [5, 0]])
    assert.equal(got[0]!.window, { seq: 4, from: 1_003_000, to: 1_004_000, count: 2 })
    assert.is(Buffer.from(String(got[0]!.output), 'base64').toString(), '{"value":1,"ts":1003100}\n{"value":2,"ts":1003900}\n')
    assert.equal([got[1]!.status, got[1]!.fuel, got[1]!.output], ['ok', 0, ''])
    assert.is(got[0]!.dropped, 2, 'dropped carried over from the state')
    const counts = agent.streams.stats()[0]!.counts
    assert.is(counts.late, 1)
    assert.is(counts.windows, 2)
  } finally {
    await agent.close({ graceMs: 100 })
  }
})

test.run()
