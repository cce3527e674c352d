/**
 * Nothing acknowledged is lost, with faults injected for real:
 *   - `fogmesh broker --data DIR` (broker and gateway in one process) SIGKILLed
 *     mid-stream and started again on the same port;
 *   - the gateway killed with jobs in flight (the same SIGKILL: it runs in that process);
 *   - a network cut between an agent and the broker (test/support/tcp-proxy.ts).
 * Each prints the counts the README quotes: acknowledged, answered, answered twice, lost.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { MqttClient } from 'mqtt'
import { startAgent, type Agent } from '../agent/agent.ts'
import { startGateway } from '../market/gateway.ts'
import { fogmeshDaemon, type Daemon } from './support/fogmesh-cli.ts'
import { closeClient, plainClient } from './support/mqtt-clients.ts'
import { ROOT } from './support/paths.ts'
import { freePort } from './support/ports.ts'
import { startTcpProxy } from './support/tcp-proxy.ts'
import { tmpDir } from './support/temp-dirs.ts'
import { testBroker } from './support/test-broker.ts'
import { waitFor } from './support/wait.ts'
import { sha256 } from './support/sha256.ts'
import { slowDone } from './fixtures/engine/modules.ts'

const ECHO = readFileSync(join(ROOT, 'wasm-modules/dist/echo.wasm'))
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A sensor with a persistent session: what it published and got acknowledged, and every answer. */
async function sensor(url: string, name: string) {
  const c = await plainClient(url, { clientId: name, clean: false, reconnectPeriod: 200 })
  const answers = new Map<string, number>()
  const statuses: Record<string, number> = {}
  c.on('message', (_t, p) => {
    const r = JSON.parse(p.toString()) as { id: string; status: string; error?: { code: string } }
    answers.set(r.id, (answers.get(r.id) ?? 0) + 1)
    const k = r.status === 'ok' ? 'ok' : (r.error?.code ?? 'error')
    statuses[k] = (statuses[k] ?? 0) + 1
  })
  await c.subscribeAsync(`${name}/replies`, { qos: 1 })
  const acked = new Set<string>()
  const submit = (module: string, id: string) =>
    c
      .publishAsync('fm/v1/jobs/submit', JSON.stringify({ id, module, input: Buffer.from(`job ${id}`).toString('base64'), replyTo: `${name}/replies`, limits: { timeoutMs: 5000 } }), { qos: 1 })
      .then(() => void acked.add(id))
  const counts = () => {
    const answered = [...acked].filter((id) => answers.has(id)).length
    const twice = [...answers.values()].filter((n) => n > 1).length
    return { acknowledged: acked.size, answered, answeredTwice: twice, lost: acked.size - answered, ...statuses } as { acknowledged: number; answered: number; answeredTwice: number; lost: number; ok?: number }
  }
  return { client: c as MqttClient, submit, counts, answers, acked }
}

async function agents(url: string, n: number): Promise<Agent[]> {
  const out: Agent[] = []
  for (let i = 0; i < n; i++) out.push(await startAgent({ broker: url, dataDir: tmpDir('fm-agent-'), name: `d${i}`, slots: 2, acceptFrom: 'any' })) // an open test mesh: signed work from any requester
  return out
}

const brokerArgs = (dir: string, port: number) => ['broker', '--data', dir, '--port', String(port), '--ws-port', '0', '--host', '127.0.0.1', '--no-console']

test('fogmesh broker --data SIGKILLed mid-stream (broker and gateway with jobs in flight), restarted: every acknowledged job answered once', async () => {
  const dir = tmpDir('fm-durable-')
  const port = await freePort()
  const url = `mqtt://127.0.0.1:${port}`
  let daemon: Daemon = await fogmeshDaemon(brokerArgs(dir, port), /gateway listening/)
  const mesh = await agents(url, 2)
  const s = await sensor(url, 'sensor-kill')
  const pub = await plainClient(url)
  const module = sha256(ECHO)
  await pub.publishAsync(`fm/v1/modules/${module}`, ECHO, { qos: 1, retain: true })
  await closeClient(pub)
  try {
    const N = 40
    const sent: Promise<void>[] = []
    for (let i = 0; i < N; i++) {
      sent.push(s.submit(module, `k${i}`).catch(() => {}))
      await sleep(40)
      if (i === 15) {
        daemon.proc.kill('SIGKILL')
        await new Promise((r) => daemon.proc.once('exit', r))
        daemon = await fogmeshDaemon(brokerArgs(dir, port), /gateway listening/)
      }
    }
    await Promise.race([Promise.all(sent), sleep(30_000)])
    await waitFor(() => s.counts().lost === 0 || undefined, 45_000, `every acknowledged job answered (${JSON.stringify(s.counts())})`).catch(() => {})
    await sleep(500) // a second answer would come now
    const c = s.counts()
    console.log(`broker+gateway SIGKILL: ${JSON.stringify(c)} (of ${N} published)`)
    assert.is(c.acknowledged, N, 'the sensor\'s session resent what the dead broker never acknowledged')
    assert.is(c.lost, 0)
    // QoS 1 is at least once: an answer the dead broker forwarded before the gateway had its PUBACK goes out again
    assert.ok(c.answeredTwice <= 5, `answered twice only in the kill's window (${c.answeredTwice})`)
    assert.match(daemon.output(), /publishes recovered/)
  } finally {
    await closeClient(s.client)
    await Promise.all(mesh.map((a) => a.close({ graceMs: 200 })))
    daemon.proc.kill('SIGTERM')
    await new Promise((r) => daemon.proc.once('exit', r))
  }
})

test('a network cut between an agent and the broker mid-stream: its finished results are delivered when the link returns; nothing lost', async () => {
  const broker = await testBroker({ data: tmpDir('fm-durable-b-'), wsPort: false })
  const proxy = await startTcpProxy(broker.port)
  const gateway = await startGateway({ broker: broker.url, journal: join(tmpDir('fm-gw-'), 'gateway.journal') })
  const [agent] = await agents(proxy.url, 1)
  const s = await sensor(broker.url, 'sensor-cut')
  try {
    await gateway.requester.directory.waitFor(1, 5000)
    const module = await gateway.requester.publishModule(ECHO)
    const N = 30
    for (let i = 0; i < N; i++) {
      await s.submit(module, `c${i}`)
      if (i === 10) proxy.cut() // drops every connection through it and refuses new ones
      if (i === 20) proxy.restore()
      await sleep(30)
    }
    await waitFor(() => s.counts().lost === 0 || undefined, 70_000, `every acknowledged job answered (${JSON.stringify(s.counts())})`).catch(() => {})
    await sleep(500)
    const c = s.counts()
    console.log(`agent link cut: ${JSON.stringify(c)} (cuts ${proxy.stats().cuts}, refused while cut ${proxy.stats().refused})`)
    assert.is(c.acknowledged, N)
    assert.is(c.lost, 0)
    assert.is(c.ok, N, 'held while the agent was cut off, then run: every answer a result')
    assert.is(c.answeredTwice, 0)
  } finally {
    await closeClient(s.client)
    await agent!.close({ graceMs: 200 })
    await gateway.close()
    await proxy.close()
    await broker.close()
  }
})

// ~0.5 s of metered work, then "done" on stdout: long enough to stop the gateway while jobs run
const slow = () => slowDone(700_000_000)

test('a gateway stopped with jobs running and restarted from its journal: the jobs are answered once; resent duplicates are not answered again', async () => {
  const broker = await testBroker({ data: tmpDir('fm-durable-c-'), wsPort: false })
  const journal = join(tmpDir('fm-gw-'), 'gateway.journal')
  const mesh = await agents(broker.url, 1)
  let gateway = await startGateway({ broker: broker.url, journal })
  const s = await sensor(broker.url, 'sensor-gw')
  try {
    await gateway.requester.directory.waitFor(1, 5000)
    const module = await gateway.requester.publishModule(slow().bytes)
    const submitSlow = (id: string) =>
      s.client.publishAsync('fm/v1/jobs/submit', JSON.stringify({ id, module, input: '', replyTo: 'sensor-gw/replies', limits: { timeoutMs: 20_000, fuel: 100_000_000_000 } }), { qos: 1 }).then(() => void s.acked.add(id))
    for (let i = 0; i < 4; i++) await submitSlow(`g${i}`)
    await waitFor(() => gateway.journal!.stats().accepted === 4 || undefined, 20_000, 'the jobs journaled').catch((e) => { throw new Error(`${e.message}: ${JSON.stringify(gateway.journal!.stats())} ${JSON.stringify(gateway.stats())} ${JSON.stringify(s.counts())}`) })
    await sleep(200)
    const inFlight = gateway.stats().inFlight
    await gateway.close() // the jobs are running on the agent
    gateway = await startGateway({ broker: broker.url, journal })
    await waitFor(() => s.counts().lost === 0 || undefined, 40_000, `answered after the restart (${JSON.stringify(s.counts())})`)
    for (let i = 0; i < 4; i++) await submitSlow(`g${i}`) // the sensor resends: duplicates, from the journal's window
    await sleep(500)
    const c = s.counts()
    console.log(`gateway restart with ${inFlight} jobs in flight: ${JSON.stringify(c)}; duplicates refused after it ${gateway.stats().duplicates}`)
    assert.ok(inFlight > 0, 'jobs were in flight when it stopped')
    assert.equal(c, { acknowledged: 4, answered: 4, answeredTwice: 0, lost: 0, ok: 4 })
    assert.is(gateway.stats().duplicates, 4)
  } finally {
    await closeClient(s.client)
    await gateway.close()
    await Promise.all(mesh.map((a) => a.close({ graceMs: 200 })))
    await broker.close()
  }
})

test.run()
