/**
 * Join, presence, heartbeat and last will, with agents as real processes:
 * a paused process is "unreachable" and comes back; a killed one is "gone"
 * through its last will; a cleanly stopped one says so.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { agentIdFromPublicKey } from '../protocol/agent-id.ts'
import { connect } from '../protocol/transport.ts'
import { AgentDirectory } from '../market/directory.ts'
import { spawnAgent } from './support/agents.ts'
import { verifyStatement } from '../protocol/signed-statement.ts'
import { collect, plainClient } from './support/mqtt-clients.ts'
import { tmpDir } from './support/temp-dirs.ts'
import { testBroker } from './support/test-broker.ts'
import { waitFor } from './support/wait.ts'

test('an agent joins with a retained presence that carries its key, capacity and price', async () => {
  const broker = await testBroker()
  const agent = await spawnAgent(broker.url, 'pi-kitchen', ['--labels', 'site=depot,floor=2', '--price', '7', '--slots', '1'])
  try {
    const c = await plainClient(broker.url)
    const got = collect(c)
    await c.subscribeAsync('fm/v1/agents/+/presence')
    await waitFor(() => got.length > 0, 3000, 'retained presence')
    assert.ok(got[0]!.retain)
    assert.is(got[0]!.topic, `fm/v1/agents/${agent.id}/presence`)
    const p = JSON.parse(got[0]!.payload.toString())
    assert.is(p.status, 'online')
    assert.is(p.name, 'pi-kitchen')
    assert.is(agentIdFromPublicKey(p.publicKey), agent.id)
    assert.equal(p.labels, { site: 'depot', floor: '2' })
    assert.is(p.price.perJob, 7)
    assert.is(p.capacity.slots, 1)
    assert.is(p.capacity.arch, process.arch)
    for (const k of ['cores', 'memoryMiB', 'platform']) assert.ok(p.capacity[k], k)
    assert.match(p.version, /^\d+\.\d+\.\d+/)
    assert.equal(p.load, { running: 0, queued: 0 })
    // and a heartbeat
    const beats = collect(c)
    await c.subscribeAsync(`fm/v1/agents/${agent.id}/heartbeat`)
    await waitFor(() => beats.some((m) => m.topic.endsWith('/heartbeat')), 3000, 'a heartbeat')
    await c.endAsync()
  } finally {
    await agent.kill()
    await broker.close()
  }
})

test('paused: unreachable, then online again; killed: gone through the last will', async () => {
  const broker = await testBroker()
  const agent = await spawnAgent(broker.url, 'flaky', ['--heartbeat-ms', '200'])
  const conn = await connect(broker.url)
  const dir = new AgentDirectory(conn)
  const seen: string[] = []
  dir.on('online', (a) => a.presence.id === agent.id && seen.push('online'))
  dir.on('unreachable', (a) => a.presence.id === agent.id && seen.push('unreachable'))
  dir.on('gone', (a) => a.presence.id === agent.id && seen.push(`gone:${a.reason}`))
  try {
    await dir.start()
    await waitFor(() => dir.get(agent.id)?.state === 'online', 3000, 'online')
    agent.proc.kill('SIGSTOP')
    await waitFor(() => dir.get(agent.id)?.state === 'unreachable', 3000, 'unreachable')
    agent.proc.kill('SIGCONT')
    await waitFor(() => dir.get(agent.id)?.state === 'online', 3000, 'back online')
    const killedAt = Date.now()
    await agent.kill('SIGKILL')
    await waitFor(() => dir.get(agent.id)?.state === 'gone', 3000, 'gone')
    assert.ok(Date.now() - killedAt < 2000, 'the will fires when the socket dies, not after keepalive')
    assert.is(dir.get(agent.id)!.reason, 'lost')
    // in this order; a loaded CI machine may add a spurious unreachable/online pair of its own
    const want = ['online', 'unreachable', 'online', 'gone:lost']
    let i = 0
    for (const s of seen) if (s === want[i]) i++
    assert.is(i, want.length, seen.join(' → '))
    assert.is(seen.at(-1), 'gone:lost')
    // the retained presence now says offline, for anyone who looks later
    const late = await plainClient(broker.url)
    const got = collect(late)
    await late.subscribeAsync(`fm/v1/agents/${agent.id}/presence`)
    await waitFor(() => got.length > 0, 10_000, 'retained will')
    const will = JSON.parse(got[0]!.payload.toString())
    assert.equal([will.status, will.id, will.name, will.reason], ['offline', agent.id, 'flaky', 'lost'])
    assert.ok(verifyStatement('presence', will, will.publicKey) && agentIdFromPublicKey(will.publicKey) === agent.id, 'a will signed by the agent, for its epoch')
    await late.endAsync()
  } finally {
    dir.stop()
    await conn.close()
    await agent.kill()
    await broker.close()
  }
})

test('a clean stop (SIGTERM) leaves "stopped", not "lost"', async () => {
  const broker = await testBroker()
  const agent = await spawnAgent(broker.url, 'tidy')
  try {
    await agent.kill('SIGTERM')
    assert.is(agent.proc.exitCode, 0, agent.output())
    const c = await plainClient(broker.url)
    const got = collect(c)
    await c.subscribeAsync(`fm/v1/agents/${agent.id}/presence`)
    await waitFor(() => got.length > 0, 10_000, 'retained presence')
    assert.is(JSON.parse(got[0]!.payload.toString()).reason, 'stopped')
    await c.endAsync()
  } finally {
    await broker.close()
  }
})

test('the same data dir keeps the same identity across restarts; the key file is 0600', async () => {
  const { statSync } = await import('node:fs')
  const { loadOrCreateIdentity } = await import('../agent/identity.ts')
  const dir = tmpDir()
  const a = loadOrCreateIdentity(dir)
  const b = loadOrCreateIdentity(dir)
  assert.ok(a.created)
  assert.not.ok(b.created)
  assert.is(a.id, b.id)
  assert.is(statSync(`${dir}/identity.json`).mode & 0o777, 0o600)
  assert.is(a.id, agentIdFromPublicKey(a.publicKeyHex))
})

test.run()
