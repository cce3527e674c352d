/**
 * Assignments the broker queued for an agent's persistent session while the
 * agent process was down are all run and answered, once each, when it starts
 * again on the same data dir. The broker sends the session's queue right after
 * its CONNACK — before the agent had routed its jobs topic (it does that once
 * its executor is up), so mqtt.js acknowledged those assignments and nobody
 * took them: the requester timed out. Now the agent's routes are there before
 * CONNECT and what comes before it is up is held (agent/early-inbox.ts), then
 * run. Bounded waits; nothing timed.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as fx from './fixtures/engine/modules.ts'
import { stopChild } from './support/child-processes.ts'
import { fogmeshDaemon, type Daemon } from './support/fogmesh-cli.ts'
import { closeClient, plainClient } from './support/mqtt-clients.ts'
import { sha256 } from './support/sha256.ts'
import { assignment, ephemeralIdentity } from './support/signed-assign.ts'
import { tmpDir } from './support/temp-dirs.ts'
import { testBroker } from './support/test-broker.ts'
import { waitFor } from './support/wait.ts'

const N = 8
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

test(`${N} assignments queued for a SIGKILLed agent's session: all answered once after it restarts on the same data dir`, async () => {
  const broker = await testBroker({ data: tmpDir('fm-agent-queue-b-'), wsPort: false })
  const dataDir = tmpDir('fm-agent-queue-a-')
  const args = ['agent', '--broker', broker.url, '--accept-from', 'any', '--name', 'queued', '--data', dataDir, '--slots', '2', '--no-telemetry']
  let agent: Daemon = await fogmeshDaemon(args, /agent (\S+) "queued" online at/)
  const agentId = agent.match[1]!
  const requester = await plainClient(broker.url, { clientId: 'requester-agent-queue', clean: false })
  const answers = new Map<string, { n: number; status: string }>()
  requester.on('message', (_t, p) => {
    const r = JSON.parse(p.toString()) as { id: string; status: string }
    answers.set(r.id, { n: (answers.get(r.id)?.n ?? 0) + 1, status: r.status })
  })
  try {
    const echo = fx.echo().bytes
    const module = sha256(echo)
    await requester.publishAsync(`fm/v1/modules/${module}`, Buffer.from(echo), { qos: 1, retain: true })
    await requester.subscribeAsync('requester-agent-queue/replies', { qos: 1 })
    agent.proc.kill('SIGKILL') // its session stays: the broker queues its assignments
    await new Promise((r) => agent.proc.once('exit', r))
    const who = ephemeralIdentity()
    const ids: string[] = []
    for (let i = 0; i < N; i++) {
      const a = assignment(who, { agent: agentId, module, replyTo: 'requester-agent-queue/replies', now: Date.now(), ttlMs: 120_000 }, { id: `q${i}`, input: Buffer.from(`q${i}`).toString('base64') })
      await requester.publishAsync(`fm/v1/agents/${agentId}/jobs`, JSON.stringify(a), { qos: 1 })
      ids.push(a.id)
    }
    agent = await fogmeshDaemon(args, /online at/)
    await waitFor(() => ids.every((id) => answers.has(id)) || undefined, 30_000, 'every queued assignment answered').catch(() => {})
    await sleep(300) // a second answer would come meanwhile
    const got = [...answers].map(([id, a]) => [id, a.status, a.n])
    assert.equal([...answers.keys()].sort(), ids, `answered: ${JSON.stringify(got)}; agent output: ${agent.output()}`)
    assert.ok([...answers.values()].every((a) => a.status === 'ok'), JSON.stringify(got))
    assert.ok([...answers.values()].every((a) => a.n === 1), `each once: ${JSON.stringify(got)}`)
  } finally {
    await closeClient(requester)
    await stopChild(agent.proc, { graceMs: 2000 })
    await broker.close()
  }
})

test.run()
