import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { canPublish, canSubscribe, filterCovers, filterMatches, isOpenSpace, rulesFor } from './rules.ts'

const AGENT = 'a9dedd4e2ea551eeaf82'
const OTHER = '97c2b079ae5a4da1c499'

test('filter matching is MQTT matching, and wildcards at the first level never match $ topics', () => {
  assert.ok(filterMatches('fm/v1/agents/+/presence', `fm/v1/agents/${AGENT}/presence`))
  assert.ok(filterMatches('fm/v1/replies/s1/#', 'fm/v1/replies/s1'))
  assert.ok(filterMatches('fm/v1/replies/s1/#', 'fm/v1/replies/s1/a/b'))
  assert.not.ok(filterMatches('fm/v1/replies/s1/#', 'fm/v1/replies/s10/a'))
  assert.not.ok(filterMatches('#', '$SYS/broker/uptime'))
  assert.ok(filterMatches('$SYS/#', '$SYS/broker/uptime'))
})

test('a subscription is allowed only inside an allowed filter', () => {
  assert.ok(filterCovers('fm/v1/replies/s1/#', 'fm/v1/replies/s1/#'))
  assert.ok(filterCovers('fm/v1/replies/s1/#', 'fm/v1/replies/s1/+/x'))
  assert.ok(filterCovers('fm/v1/agents/+/presence', `fm/v1/agents/${AGENT}/presence`))
  assert.ok(filterCovers('fm/v1/agents/+/presence', 'fm/v1/agents/+/presence'))
  assert.not.ok(filterCovers('fm/v1/replies/s1/#', 'fm/v1/replies/+/#'))
  assert.not.ok(filterCovers('fm/v1/replies/s1/#', '#'))
  assert.not.ok(filterCovers('fm/v1/agents/+/presence', 'fm/v1/agents/+/#'))
  assert.not.ok(filterCovers('fm/v1/agents/+/presence', 'fm/v1/agents/#'))
  assert.ok(filterCovers('#', 'fm/#'))
  assert.not.ok(filterCovers('#', '$SYS/#'))
  assert.ok(filterCovers('$SYS/#', '$SYS/+/clients'))
  assert.not.ok(filterCovers('$SYS/#', '+/#'))
})

test('agent: its own topics and the inboxes; nobody else’s', () => {
  const r = rulesFor('agent', AGENT)
  for (const t of [`fm/v1/agents/${AGENT}/presence`, `fm/v1/agents/${AGENT}/heartbeat`, 'fm/v1/requesters/gw/inbox']) assert.ok(canPublish(r, t), t)
  for (const t of [`fm/v1/agents/${OTHER}/presence`, `fm/v1/agents/${OTHER}/jobs`, 'fm/v1/market/offers', 'fm/v1/modules/' + 'a'.repeat(64), 'fm/v1/jobs/submit', 'fm/v1/replies/s1/x', 'demo/results', '$SYS/x']) {
    assert.not.ok(canPublish(r, t), t)
  }
  for (const f of [`fm/v1/agents/${AGENT}/jobs`, `fm/v1/agents/${AGENT}/offers`, `fm/v1/agents/${AGENT}/vouchers`, 'fm/v1/market/offers', 'fm/v1/modules/' + 'a'.repeat(64), 'fm/v1/releases/stable']) assert.ok(canSubscribe(r, f), f)
  for (const f of [`fm/v1/agents/${OTHER}/jobs`, 'fm/v1/agents/+/jobs', 'fm/v1/requesters/+/inbox', '#', 'fm/v1/jobs/submit/+']) assert.not.ok(canSubscribe(r, f), f)
})

test('sensor: submits in its own name, reads its own replies only', () => {
  const r = rulesFor('sensor', 's1')
  assert.ok(canPublish(r, 'fm/v1/jobs/submit/s1'))
  assert.ok(canPublish(r, 'fm/v1/streams/submit/s1'))
  for (const t of ['fm/v1/jobs/submit/s2', 'fm/v1/jobs/submit', 'fm/v1/replies/s2/x', 'fm/v1/replies/s1/x', `fm/v1/agents/${AGENT}/presence`, 'demo/results']) assert.not.ok(canPublish(r, t), t)
  assert.ok(canSubscribe(r, 'fm/v1/replies/s1/#'))
  assert.ok(canSubscribe(r, 'fm/v1/replies/s1/results'))
  for (const f of ['#', '$SYS/#', 'fm/v1/replies/#', 'fm/v1/replies/s2/#', 'fm/v1/agents/+/presence', 'fm/v1/jobs/submit/+']) assert.not.ok(canSubscribe(r, f), f)
})

test('only deployers publish (or delete) modules and releases; only operators read everything', () => {
  const module = 'fm/v1/modules/' + 'b'.repeat(64)
  for (const kind of ['sensor', 'gateway', 'operator', 'agent', 'anonymous'] as const) {
    assert.not.ok(canPublish(rulesFor(kind, 'x'), module), kind)
    assert.not.ok(canPublish(rulesFor(kind, 'x'), 'fm/v1/releases/stable'), kind)
  }
  assert.ok(canPublish(rulesFor('deployer', 'd'), module))
  assert.ok(canPublish(rulesFor('deployer', 'd'), 'fm/v1/releases/stable'))
  for (const kind of ['sensor', 'gateway', 'deployer', 'agent', 'anonymous'] as const) {
    assert.not.ok(canSubscribe(rulesFor(kind, 'x'), '#'), kind)
    assert.not.ok(canSubscribe(rulesFor(kind, 'x'), '$SYS/#'), kind)
  }
  assert.ok(canSubscribe(rulesFor('operator', 'o'), '#'))
  assert.ok(canSubscribe(rulesFor('operator', 'o'), '$SYS/#'))
  assert.equal(rulesFor('operator', 'o').publish, ['fm/v1/telemetry/alerts'])
})

test('gateway: reads submissions, runs the market, answers; cannot pose as an agent', () => {
  const r = rulesFor('gateway', 'gw')
  for (const t of ['fm/v1/replies/s1/results', 'fm/v1/market/offers', `fm/v1/agents/${AGENT}/offers`, `fm/v1/agents/${AGENT}/jobs`, `fm/v1/agents/${AGENT}/vouchers`, 'demo/results']) assert.ok(canPublish(r, t), t)
  for (const t of [`fm/v1/agents/${AGENT}/presence`, 'fm/v1/requesters/gw/inbox', 'fm/v1/jobs/submit/s1']) assert.not.ok(canPublish(r, t), t)
  for (const f of ['fm/v1/jobs/submit/+', 'fm/v1/jobs/submit', 'fm/v1/agents/+/presence', 'fm/v1/requesters/gw/inbox']) assert.ok(canSubscribe(r, f), f)
  for (const f of ['fm/v1/requesters/other/inbox', 'fm/v1/requesters/+/inbox', 'fm/v1/replies/#', '#']) assert.not.ok(canSubscribe(r, f), f)
})

test('streams and models: agents read sources and models, write receipts and state, never someone’s replies by rule; gateways start them; deployers deploy models', () => {
  const agent = rulesFor('agent', AGENT)
  for (const t of ['fm/v1/requesters/gw/streams', 'fm/v1/streams/st1/state']) assert.ok(canPublish(agent, t), t)
  for (const t of ['fm/v1/replies/s1/stream', 'sensors/t', 'fm/v1/bridge/s1/commands/valve', `fm/v1/agents/${OTHER}/streams`, 'fm/v1/models/' + 'a'.repeat(64)]) assert.not.ok(canPublish(agent, t), t)
  for (const f of ['fm/v1/models/' + 'a'.repeat(64), 'fm/v1/streams/st1/state', 'fm/v1/bridge/s1/readings/t', 'sensors/+/t', `fm/v1/agents/${AGENT}/streams`]) assert.ok(canSubscribe(agent, f), f)
  for (const f of ['fm/v1/requesters/gw/streams', 'fm/v1/streams/submit/+', '+/t']) assert.not.ok(canSubscribe(agent, f), f)
  const gw = rulesFor('gateway', 'gw')
  for (const t of [`fm/v1/agents/${AGENT}/streams`, 'fm/v1/streams/st1/state', 'fm/v1/bridge/s1/commands/valve']) assert.ok(canPublish(gw, t), t)
  assert.ok(canSubscribe(gw, 'fm/v1/requesters/gw/streams'))
  assert.not.ok(canSubscribe(gw, 'fm/v1/requesters/other/streams'))
  const sensor = rulesFor('sensor', 's1')
  for (const t of ['fm/v1/streams/submit/s1', 'fm/v1/bridge/s1/readings/t', 'fm/v1/bridge/s1/status']) assert.ok(canPublish(sensor, t), t)
  for (const t of ['fm/v1/streams/submit', 'fm/v1/bridge/s2/commands/valve', 'fm/v1/streams/st1/state']) assert.not.ok(canPublish(sensor, t), t)
  assert.ok(canSubscribe(sensor, 'fm/v1/bridge/s1/commands/#'))
  for (const t of ['spBv1.0/g1/NBIRTH/s1', 'spBv1.0/g1/DDATA/s1/mcu']) assert.ok(canPublish(sensor, t), t)
  for (const t of ['spBv1.0/g1/NBIRTH/s2', 'spBv1.0/g1/DCMD/s2/mcu']) assert.not.ok(canPublish(sensor, t), t)
  assert.ok(canSubscribe(sensor, 'spBv1.0/g1/DCMD/s1/+'))
  assert.not.ok(canSubscribe(sensor, 'spBv1.0/#'))
  assert.not.ok(canSubscribe(sensor, 'fm/v1/bridge/#'))
  for (const kind of ['sensor', 'gateway', 'operator', 'agent', 'anonymous'] as const) assert.not.ok(canPublish(rulesFor(kind, 'x'), 'fm/v1/models/' + 'b'.repeat(64)), kind)
  assert.ok(canPublish(rulesFor('deployer', 'd'), 'fm/v1/models/' + 'b'.repeat(64)))
  assert.ok(canPublish(rulesFor('anonymous', 'anonymous'), 'fm/v1/streams/submit'))
})

test('gateway presence (signed keys, id from the key): gateways write it, sensors and anonymous clients read it', () => {
  const t = 'fm/v1/gateways/0123456789abcdef0123/presence'
  assert.ok(canPublish(rulesFor('gateway', 'gw'), t))
  for (const kind of ['sensor', 'agent', 'anonymous', 'deployer', 'operator'] as const) assert.not.ok(canPublish(rulesFor(kind, 'x'), t), kind)
  for (const kind of ['sensor', 'gateway', 'anonymous', 'operator'] as const) assert.ok(canSubscribe(rulesFor(kind, 'x'), 'fm/v1/gateways/+/presence'), kind)
})

test('anonymous: the plain submit topic and the open space, nothing of the mesh', () => {
  const r = rulesFor('anonymous', 'anonymous')
  assert.ok(canPublish(r, 'fm/v1/jobs/submit'))
  assert.ok(canPublish(r, 'demo/results'))
  assert.ok(canSubscribe(r, 'demo/results'))
  assert.ok(canSubscribe(r, 'sensors/+/results'))
  assert.ok(canSubscribe(r, 'fm/v1/agents/+/presence'))
  for (const t of ['fm/v1/jobs/submit/s1', 'fm/v1/replies/s1/x', 'fm', 'fm/x', '$SYS/x']) assert.not.ok(canPublish(r, t), t)
  for (const f of ['#', '+/results', 'fm/#', 'fm/v1/replies/+/#', '$SYS/#']) assert.not.ok(canSubscribe(r, f), f)
  assert.ok(isOpenSpace('fmx/y'))
  assert.not.ok(isOpenSpace('fm/y'))
})

test('blobs: agents fetch, ask and answer; sensors and gateways publish inputs; nobody but the operator watches every want', () => {
  const piece = `fm/v1/blobs/${'c'.repeat(64)}`
  const want = `fm/v1/blobs/want/${'c'.repeat(64)}`
  const agent = rulesFor('agent', AGENT)
  for (const t of [piece, want]) assert.ok(canPublish(agent, t), t)
  for (const f of ['fm/v1/blobs/+', 'fm/v1/blobs/want/+', piece]) assert.ok(canSubscribe(agent, f), f)
  assert.not.ok(canSubscribe(agent, 'fm/v1/blobs/#'), 'not the whole tree')
  const sensor = rulesFor('sensor', 's1')
  assert.ok(canPublish(sensor, piece))
  assert.not.ok(canPublish(sensor, want))
  assert.not.ok(canSubscribe(sensor, 'fm/v1/blobs/want/+'))
  const gw = rulesFor('gateway', 'gw')
  assert.ok(canPublish(gw, piece) && canPublish(gw, want) && canSubscribe(gw, piece))
})

test.run()
