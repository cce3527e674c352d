import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { StreamGrants } from './stream-grants.ts'

const A = 'a'.repeat(20)
const B = 'b'.repeat(20)
const spec = (stream: string, replyTo: string) => ({ stream, id: 'x', module: 'c'.repeat(64), source: 'sensors/t', window: { count: 2 }, replyTo, epoch: 0 })
const start = (stream: string, replyTo: string, role = 'primary') => Buffer.from(JSON.stringify({ type: 'start', role, spec: spec(stream, replyTo), requester: 'gw', inbox: 'fm/v1/requesters/gw/streams' }))
const stop = (stream: string) => Buffer.from(JSON.stringify({ type: 'stop', stream }))

test('a start grants the addressed agent that replyTo, a stop takes it back; other agents and topics never', () => {
  const g = new StreamGrants({ maxGrants: 10 })
  g.observe(`fm/v1/agents/${A}/streams`, start('st1', 'fm/v1/replies/s1/t'))
  assert.ok(g.allows(A, 'fm/v1/replies/s1/t'))
  assert.not.ok(g.allows(B, 'fm/v1/replies/s1/t'))
  assert.not.ok(g.allows(A, 'fm/v1/replies/s1/other'))
  // a standby of the same stream on B
  g.observe(`fm/v1/agents/${B}/streams`, start('st1', 'fm/v1/replies/s1/t', 'standby'))
  assert.ok(g.allows(B, 'fm/v1/replies/s1/t'))
  // two streams of A on one topic: one stop keeps the other's grant
  g.observe(`fm/v1/agents/${A}/streams`, start('st2', 'fm/v1/replies/s1/t'))
  g.observe(`fm/v1/agents/${A}/streams`, stop('st1'))
  assert.ok(g.allows(A, 'fm/v1/replies/s1/t'))
  g.observe(`fm/v1/agents/${A}/streams`, stop('st2'))
  assert.not.ok(g.allows(A, 'fm/v1/replies/s1/t'))
  assert.is(g.size, 1)
})

test('what is not a control message on an agent’s streams topic grants nothing', () => {
  const g = new StreamGrants({ maxGrants: 10 })
  g.observe(`fm/v1/agents/${A}/jobs`, start('st1', 'out/x'))
  g.observe(`fm/v1/agents/${A}/streams`, Buffer.from('{"type":"start"}'))
  g.observe(`fm/v1/agents/${A}/streams`, Buffer.from('not json'))
  g.observe(`fm/v1/agents/${A}/streams/x`, start('st1', 'out/x'))
  assert.is(g.size, 0)
  assert.not.ok(g.allows(A, 'out/x'))
})

test('bounded: past maxGrants the oldest grant goes, and the limit is reported', () => {
  const bit: string[] = []
  const g = new StreamGrants({ maxGrants: 2, onLimit: (i) => bit.push(i.evicted) })
  g.grant(A, 's1', 'out/1')
  g.grant(A, 's2', 'out/2')
  g.grant(B, 's3', 'out/3')
  assert.is(g.size, 2)
  assert.not.ok(g.allows(A, 'out/1'))
  assert.ok(g.allows(A, 'out/2'))
  assert.ok(g.allows(B, 'out/3'))
  assert.equal(bit, [`${A} s1`])
  // a repeated start (QoS 1 redelivery) is no new grant
  g.grant(B, 's3', 'out/3')
  assert.is(bit.length, 1)
})

test('a stream’s state is written only by the agents started on it', () => {
  const g = new StreamGrants({ maxGrants: 10 })
  g.observe(`fm/v1/agents/${A}/streams`, start('st1', 'out/x'))
  assert.is(g.stateRefusal(A, 'fm/v1/streams/st1/state'), false)
  assert.is(g.stateRefusal(B, 'fm/v1/streams/st1/state'), true)
  assert.is(g.stateRefusal(A, 'fm/v1/streams/st2/state'), true)
  assert.is(g.stateRefusal(B, 'fm/v1/agents/x/presence'), undefined)
  g.observe(`fm/v1/agents/${A}/streams`, stop('st1'))
  assert.is(g.stateRefusal(A, 'fm/v1/streams/st1/state'), true)
})

test.run()
