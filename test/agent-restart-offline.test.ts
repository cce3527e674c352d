/**
 * A whole agent process restarted while offline: a real `fogmesh agent` (its own
 * process) finishes jobs while its link to the broker is cut (test/support/tcp-proxy.ts),
 * is SIGKILLed, the link is restored and it starts again on the same data dir:
 * the results waiting in its on-disk outbox are delivered, every acknowledged
 * job answered. Then the replays after the reconnect: the same assignments
 * played again (an old sequence) are refused `replayed` by the restarted agent
 * (its nonces are on disk, agent/nonce-journal.ts) and run nothing; a duplicate
 * result is not a second answer.
 */
import { existsSync, readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startGateway } from '../market/gateway.ts'
import { fogmeshDaemon, type Daemon } from './support/fogmesh-cli.ts'
import { stopChild } from './support/child-processes.ts'
import { closeClient, collect, plainClient } from './support/mqtt-clients.ts'
import { startTcpProxy } from './support/tcp-proxy.ts'
import { tmpDir } from './support/temp-dirs.ts'
import { testBroker } from './support/test-broker.ts'
import { waitFor } from './support/wait.ts'
import { slowDone } from './fixtures/engine/modules.ts'

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

// ~0.2 s of metered work, then "done": long enough to cut the link while the jobs run
const slow = () => slowDone(300_000_000)

test('fogmesh agent finishes jobs while cut off, is SIGKILLed, restarted on the same data dir: results delivered from its outbox, replays refused, nothing lost', async () => {
  const broker = await testBroker({ data: tmpDir('fm-restart-b-'), wsPort: false })
  const proxy = await startTcpProxy(broker.port)
  const gateway = await startGateway({ broker: broker.url, journal: join(tmpDir('fm-gw-'), 'gateway.journal'), holdUnplacedMs: 60_000 })
  const dataDir = tmpDir('fm-restart-agent-')
  const agentArgs = ['agent', '--broker', proxy.url, '--accept-from', 'any', '--name', 'restarted', '--data', dataDir, '--slots', '4', '--no-telemetry']
  let agent: Daemon = await fogmeshDaemon(agentArgs, /online at/)
  const sensor = await plainClient(broker.url, { clientId: 'sensor-restart', clean: false, reconnectPeriod: 200 })
  const answers = new Map<string, { n: number; status: string }>()
  sensor.on('message', (_t, p) => {
    const r = JSON.parse(p.toString()) as { id: string; status: string }
    answers.set(r.id, { n: (answers.get(r.id)?.n ?? 0) + 1, status: r.status })
  })
  await sensor.subscribeAsync('sensor-restart/replies', { qos: 1 })
  // a tap on every assignment the agent is sent, to play them again later
  const tap = await plainClient(broker.url)
  const tapped = collect(tap)
  const assignments = { get length() { return tapped.filter((m) => m.topic.startsWith('fm/v1/agents/')).length } }
  await tap.subscribeAsync(['fm/v1/agents/+/jobs', 'fm/v1/requesters/+/inbox'], { qos: 1 })
  const acked = new Set<string>()
  try {
    await gateway.requester.directory.waitFor(1, 20_000)
    const module = await gateway.requester.publishModule(slow().bytes)
    const N = 4
    for (let i = 0; i < N; i++) {
      const id = `r${i}`
      await sensor.publishAsync('fm/v1/jobs/submit', JSON.stringify({ id, module, input: '', replyTo: 'sensor-restart/replies', limits: { timeoutMs: 30_000, fuel: 100_000_000_000 } }), { qos: 1 })
      acked.add(id)
    }
    await waitFor(() => assignments.length >= N || undefined, 20_000, 'the assignments sent to the agent')
    await sleep(150) // the agent has them (QoS 1 delivered through the proxy): now cut it off while they run
    proxy.cut()
    const outbox = join(dataDir, 'outbox.journal')
    // the results finish while cut off: they wait in the outbox on disk
    await waitFor(() => (existsSync(outbox) && statSync(outbox).size > 400 * N) || undefined, 30_000, 'the results in the outbox on disk').catch(() => {})
    const outboxBytes = existsSync(outbox) ? statSync(outbox).size : 0
    agent.proc.kill('SIGKILL')
    await new Promise((r) => agent.proc.once('exit', r))
    const answeredWhileDown = [...acked].filter((id) => answers.has(id)).length
    proxy.restore()
    agent = await fogmeshDaemon(agentArgs, /online at/)
    await waitFor(() => [...acked].every((id) => answers.has(id)) || undefined, 40_000, 'every acknowledged job answered after the restart').catch(() => {})
    // replays after the reconnect: every assignment played again, oldest last (reordered)
    const jobsBefore = statSync(join(dataDir, 'nonces.journal')).size
    const sent = tapped.filter((m) => m.topic.startsWith('fm/v1/agents/')) // the first ones, and the gateway's retries while the agent was away
    const results = tapped.filter((m) => m.topic.startsWith('fm/v1/requesters/') && m.payload.includes('"result"'))
    for (const a of [...sent].reverse()) await tap.publishAsync(a.topic, a.payload, { qos: 1 })
    for (const r of results) await tap.publishAsync(r.topic, r.payload, { qos: 1 }) // duplicate results: not a second answer
    await waitFor(() => (agent.output().match(/\(replayed\)/g)?.length ?? 0) >= sent.length || undefined, 10_000, 'the replays refused').catch(() => {})
    await sleep(500)
    const refused = agent.output().match(/\(replayed\)/g)?.length ?? 0
    const answered = [...acked].filter((id) => answers.has(id)).length
    const twice = [...answers.values()].filter((a) => a.n > 1).length
    const counts = { acknowledged: acked.size, answered, answeredTwice: twice, lost: acked.size - answered, ok: [...answers.values()].filter((a) => a.status === 'ok').length }
    const nonces = readFileSync(join(dataDir, 'nonces.journal'), 'utf8').trim().split('\n').length
    console.log(`agent restart while offline: ${JSON.stringify(counts)}; outbox ${outboxBytes} bytes on disk at the kill, answered while down ${answeredWhileDown}; replayed assignments ${sent.length} → refused ${refused} (nonces on disk ${nonces}); duplicate results replayed ${results.length} (answered twice after them: ${twice})`)
    assert.ok(results.length >= N, `results tapped (${results.length})`)
    assert.is(answeredWhileDown, 0, 'nothing got through while cut off')
    assert.ok(outboxBytes > 0, 'results waited on disk')
    assert.equal(counts, { acknowledged: N, answered: N, answeredTwice: 0, lost: 0, ok: N })
    assert.is(refused, sent.length, 'every replayed assignment refused with the typed error `replayed`')
    assert.is(statSync(join(dataDir, 'nonces.journal')).size, jobsBefore, 'no replay took a new nonce (ran nothing)')
  } finally {
    await closeClient(tap)
    await closeClient(sensor)
    await stopChild(agent.proc, { graceMs: 2000 })
    await gateway.close()
    await proxy.close()
    await broker.close()
  }
})

test.run()
