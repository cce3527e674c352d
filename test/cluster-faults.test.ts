/**
 * A broker of a cluster killed mid-run costs reconnects, not jobs. Real processes
 * throughout: Debian's redis-server, two `fogmesh broker --cluster` processes,
 * `fogmesh agent --broker A,B` (failover), a standby `fogmesh gateway --broker B,A
 * --journal FILE` (its own process: its session lives in Redis, its journal on
 * its disk), and a sensor whose mqtt.js client knows both brokers.
 *   - SIGKILL the broker the agents are on: they reconnect to the other one;
 *   - SIGKILL the broker the gateway is on: it reconnects to the other one and
 *     finds the submits queued in its session.
 * Each prints acknowledged / answered / answered twice / lost (lost must be 0).
 */
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import mqtt, { type MqttClient } from 'mqtt'
import { fogmeshDaemon, type Daemon } from './support/fogmesh-cli.ts'
import { freePort } from './support/ports.ts'
import { requireProgram, testNeeding } from './support/programs.ts'
import { startRedis, type RedisServer } from './support/redis.ts'
import { stopChild } from './support/child-processes.ts'
import { tmpDir } from './support/temp-dirs.ts'
import { waitFor } from './support/wait.ts'
import { readFileSync } from 'node:fs'
import { ROOT } from './support/paths.ts'
import { sha256 } from './support/sha256.ts'

const redisTest = testNeeding(test, 'redis-server')
const ECHO = readFileSync(join(ROOT, 'wasm-modules/dist/echo.wasm'))
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const server = (url: string) => ({ host: '127.0.0.1', port: Number(new URL(url).port), protocol: 'mqtt' as const })

interface Cluster {
  redis: RedisServer
  urls: string[]
  brokers: Daemon[]
  home: string
}

async function cluster(n: number): Promise<Cluster> {
  const redis = await startRedis(requireProgram('redis-server'))
  const home = tmpDir('fm-cluster-home-')
  const ports: number[] = []
  for (let i = 0; i < n; i++) ports.push(await freePort())
  const brokers = await Promise.all(ports.map((port) => fogmeshDaemon(['broker', '--cluster', redis.url, '--port', String(port), '--ws-port', '0', '--host', '127.0.0.1', '--no-console'], /broker\s+mqtt:/, { home })))
  return { redis, urls: ports.map((p) => `mqtt://127.0.0.1:${p}`), brokers, home }
}

/** A sensor on `urls` (failover through mqtt.js `servers`), persistent session: what was acknowledged, every answer. */
async function sensor(urls: string[], name: string) {
  const c: MqttClient = await mqtt.connectAsync(urls[0]!, { protocolVersion: 4, clientId: name, clean: false, reconnectPeriod: 200, servers: urls.map(server) })
  const answers = new Map<string, number>()
  c.on('message', (_t, p) => {
    const r = JSON.parse(p.toString()) as { id: string }
    answers.set(r.id, (answers.get(r.id) ?? 0) + 1)
  })
  await c.subscribeAsync(`${name}/replies`, { qos: 1 })
  const acked = new Set<string>()
  const submit = (module: string, id: string) =>
    c.publishAsync('fm/v1/jobs/submit', JSON.stringify({ id, module, input: Buffer.from(`job ${id}`).toString('base64'), replyTo: `${name}/replies`, limits: { timeoutMs: 5000 } }), { qos: 1 }).then(() => void acked.add(id))
  const counts = () => {
    const answered = [...acked].filter((id) => answers.has(id)).length
    return { acknowledged: acked.size, answered, answeredTwice: [...answers.values()].filter((n) => n > 1).length, lost: acked.size - answered }
  }
  return { client: c, submit, counts }
}

/** Phase by phase: 20 jobs, the broker `victim` SIGKILLed after the 10th; the counts of that phase's jobs. */
async function phase(s: Awaited<ReturnType<typeof sensor>>, module: string, name: string, victim: Daemon) {
  const N = 20
  const before = s.counts()
  const sent: Promise<void>[] = []
  for (let i = 0; i < N; i++) {
    sent.push(s.submit(module, `${name}-${i}`).catch(() => {}))
    await sleep(40)
    if (i === 9) victim.proc.kill('SIGKILL')
  }
  await Promise.race([Promise.all(sent), sleep(30_000)])
  await waitFor(() => s.counts().lost === 0 || undefined, 40_000, 'every acknowledged job answered').catch(() => {})
  await sleep(500) // a second answer would come now
  const after = s.counts()
  const counts = { acknowledged: after.acknowledged - before.acknowledged, answered: after.answered - before.answered, answeredTwice: after.answeredTwice - before.answeredTwice, lost: after.lost }
  return counts
}

redisTest('a cluster broker SIGKILLed mid-run, twice: the one the agents are on (they reconnect to another), then the one the standby gateway is on (it reconnects and finds its session); no job lost', async () => {
  const t0 = Date.now()
  const c = await cluster(3) // A: the agents' first broker, B: the gateway's first broker, C: where all fail over to
  const [A, B, C] = c.urls as [string, string, string]
  const [gateway, ...agents] = (await Promise.all([
    fogmeshDaemon(['gateway', '--broker', `${B},${C}`, '--journal', join(tmpDir('fm-gw-'), 'gateway.journal')], /listening on fm\/v1\/jobs\/submit/, { home: c.home }),
    ...[0, 1].map((i) => fogmeshDaemon(['agent', '--broker', `${A},${C}`, '--accept-from', 'any', '--name', `k${i}`, '--data', tmpDir('fm-agent-'), '--slots', '2', '--no-telemetry'], /online at/, { home: c.home })),
  ])) as [Daemon, ...Daemon[]]
  const s = await sensor([C, A], 'sensor-cluster')
  try {
    const module = sha256(ECHO)
    await s.client.publishAsync(`fm/v1/modules/${module}`, ECHO, { qos: 1, retain: true })
    await s.submit(module, 'warm') // the gateway sees the agents (their presences travel through Redis) before the run
    await waitFor(() => s.counts().answered === 1 || undefined, 20_000, 'a first job answered')
    const t1 = Date.now()
    const agentsKill = await phase(s, module, 'a', c.brokers[0]!)
    const reconnects = agents.reduce((n, a) => n + (a.output().match(/reconnected to broker/g)?.length ?? 0), 0)
    console.log(`cluster: the agents' broker SIGKILLed after 10 of 20 jobs: ${JSON.stringify(agentsKill)}; agent reconnects ${reconnects}`)
    const gatewayKill = await phase(s, module, 'g', c.brokers[1]!)
    console.log(`cluster: the gateway's broker SIGKILLed after 10 of 20 jobs: ${JSON.stringify(gatewayKill)} (start ${t1 - t0} ms, run ${Date.now() - t1} ms)`)
    for (const k of [agentsKill, gatewayKill]) {
      assert.is(k.acknowledged, 20, "the sensor's session resent what a dead broker never acknowledged")
      assert.is(k.lost, 0, JSON.stringify(k))
    }
    assert.ok(reconnects >= 2, `both agents reconnected (${reconnects})`)
  } finally {
    await s.client.endAsync(true).catch(() => {})
    await Promise.all([...agents, gateway].map((d) => stopChild(d.proc, { graceMs: 2000 })))
    await Promise.all(c.brokers.map((b) => stopChild(b.proc, { graceMs: 2000 })))
    await c.redis.stop()
  }
})

test.run()
