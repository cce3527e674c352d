/**
 * What durability costs: `fogmesh broker --data DIR` (broker state journaled, the gateway's
 * job journal) against the same broker without `--data`, both started here in the same run,
 * rounds alternating so the machine's drift hits both.
 *
 *   - QoS 1 throughput: one publisher, a window of 64 unacknowledged PUBLISHes, one QoS 1
 *     subscriber; messages per second until the subscriber has them all;
 *   - job rate: plain-MQTT jobs (echo.wasm) through the gateway inside each broker, one agent
 *     (in this process), a window of 16 jobs in flight;
 *   - the gateway's journal cost per job: `JobJournal` accept + answer + delivered, each an
 *     fdatasync'd record, in a loop;
 *   - the cluster's bus (Debian's redis-server, two embedded brokers, publisher on one and
 *     subscriber on the other): the Redis Stream bus (broker/stream-emitter.ts, the default)
 *     against Redis pub/sub (mqemitter-redis), the same QoS 1 loop.
 *
 *   npm run bench:durability     (or: node --import tsx bench/durability.bench.ts [messages=2000] [jobs=150])
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import { startAgent } from '../agent/agent.ts'
import { requireProgram } from '../test/support/programs.ts'
import { startRedis } from '../test/support/redis.ts'
import { testBroker } from '../test/support/test-broker.ts'
import { JobJournal } from '../market/job-journal.ts'
import { exitOnSignal, stopChild } from '../test/support/child-processes.ts'
import { fogmeshDaemon, type Daemon } from '../test/support/fogmesh-cli.ts'
import { closeClient, plainClient } from '../test/support/mqtt-clients.ts'
import { ROOT } from '../test/support/paths.ts'
import { freePort } from '../test/support/ports.ts'
import { sha256 } from '../test/support/sha256.ts'
import { tmpDir } from '../test/support/temp-dirs.ts'
import { header, progress, table, target } from './report.ts'
import { int, ms, ratio } from './summary.ts'

exitOnSignal()
const MESSAGES = Number(process.argv[2] ?? 2000)
const JOBS = Number(process.argv[3] ?? 150)
const ROUNDS = 3
const ECHO = readFileSync(join(ROOT, 'wasm-modules/dist/echo.wasm'))
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number

header('durability: fogmesh broker --data vs the same broker in memory', [`${MESSAGES} QoS 1 messages and ${JOBS} jobs per round, ${ROUNDS} rounds, alternating`])

/** Runs `total` operations with at most `window` in flight; resolves after the last one. */
async function windowed(total: number, window: number, op: (i: number) => Promise<unknown>): Promise<void> {
  let next = 0
  const lane = async () => {
    while (next < total) await op(next++)
  }
  await Promise.all(Array.from({ length: window }, lane))
}

async function qos1Rate(url: string, round: number, subUrl = url): Promise<number> {
  const sub = await plainClient(subUrl, { clientId: `bench-sub-${round}`, clean: true })
  let got = 0
  let done!: () => void
  const all = new Promise<void>((r) => (done = r))
  sub.on('message', () => ++got === MESSAGES && done())
  await sub.subscribeAsync('bench/q1', { qos: 1 })
  const pub = await plainClient(url)
  const payload = Buffer.alloc(256, 7)
  const t0 = performance.now()
  await windowed(MESSAGES, 64, () => pub.publishAsync('bench/q1', payload, { qos: 1 }))
  await all
  const secs = (performance.now() - t0) / 1000
  await closeClient(pub)
  await closeClient(sub)
  return MESSAGES / secs
}

async function jobRate(sensor: MqttClient, module: string, tag: string): Promise<number> {
  const pending = new Map<string, () => void>()
  sensor.on('message', (_t, p) => {
    const r = JSON.parse(p.toString()) as { id: string }
    pending.get(r.id)?.()
    pending.delete(r.id)
  })
  const input = Buffer.from('bench').toString('base64')
  const t0 = performance.now()
  await windowed(JOBS, 16, async (i) => {
    const id = `${tag}-${i}`
    const answered = new Promise<void>((r) => pending.set(id, r))
    await sensor.publishAsync('fm/v1/jobs/submit', JSON.stringify({ id, module, input, replyTo: `${sensor.options.clientId}/replies` }), { qos: 1 })
    await answered
  })
  sensor.removeAllListeners('message')
  return JOBS / ((performance.now() - t0) / 1000)
}

const home = tmpDir('fm-bench-dur-home-')
const kinds = ['--data', 'memory'] as const
const daemons: Record<string, Daemon> = {}
const urls: Record<string, string> = {}
for (const kind of kinds) {
  const port = await freePort()
  const args = ['broker', '--port', String(port), '--ws-port', '0', '--host', '127.0.0.1', '--no-console', ...(kind === '--data' ? ['--data', tmpDir('fm-bench-dur-')] : [])]
  daemons[kind] = await fogmeshDaemon(args, /gateway listening/, { home, timeoutMs: 60_000 })
  urls[kind] = `mqtt://127.0.0.1:${port}`
}
const gatewayId = (d: Daemon) => /requester id (\S+)/.exec(d.output())![1]!
const agents = await Promise.all(kinds.map((k) => startAgent({ broker: urls[k]!, dataDir: tmpDir('fm-bench-agent-'), name: `bench-${k === 'memory' ? 'm' : 'd'}`, slots: 4, acceptFrom: [gatewayId(daemons[k]!)] })))
const module = sha256(ECHO)
const sensors: Record<string, MqttClient> = {}
for (const k of kinds) {
  const pub = await plainClient(urls[k]!)
  await pub.publishAsync(`fm/v1/modules/${module}`, ECHO, { qos: 1, retain: true })
  await closeClient(pub)
  const s = await plainClient(urls[k]!, { clientId: `bench-sensor-${k === 'memory' ? 'm' : 'd'}` })
  await s.subscribeAsync(`${s.options.clientId}/replies`, { qos: 1 })
  await jobRate(s, module, `warm-${k}`).catch(() => 0) // the gateway has seen the agent, the agent has the module
  sensors[k] = s
}

const q1: Record<string, number[]> = {}
const jobs: Record<string, number[]> = {}
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const k of round % 2 ? [...kinds].reverse() : kinds) {
      const q = await qos1Rate(urls[k]!, round)
      const j = await jobRate(sensors[k]!, module, `r${round}-${k}`)
      ;(q1[k] ??= []).push(q)
      ;(jobs[k] ??= []).push(j)
      progress(`round ${round + 1} ${k}: ${int(q)} QoS 1 msg/s, ${j.toFixed(1)} jobs/s`)
    }
  }
} finally {
  for (const s of Object.values(sensors)) await closeClient(s)
  await Promise.all(agents.map((a) => a.close({ graceMs: 200 })))
  for (const d of Object.values(daemons)) await stopChild(d.proc)
}

// the gateway's journal alone: three fdatasync'd records per job
const journal = JobJournal.open(join(tmpDir('fm-bench-jj-'), 'gateway.journal'), { dedupeWindow: 100_000 })
const J = 200
const payload = Buffer.from(JSON.stringify({ id: 'x', module, input: 'YmVuY2g=', replyTo: 'r' }))
const t0 = performance.now()
for (let i = 0; i < J; i++) {
  journal.accept(`k${i}`, payload, 'fm/v1/jobs/submit')
  journal.answer(`k${i}`, 'r', '{"id":"x","status":"ok"}')
  journal.markDelivered(`k${i}`)
}
const perJob = (performance.now() - t0) / J
journal.close()

// the cluster's bus: stream vs pub/sub, the same Redis, alternating
const redis = await startRedis(requireProgram('redis-server'))
const bus: Record<string, number[]> = {}
try {
  for (let round = 0; round < ROUNDS; round++) {
    for (const kind of ['streams', 'pubsub'] as const) {
      const a = await testBroker({ cluster: redis.url, clusterBus: kind, wsPort: false })
      const b = await testBroker({ cluster: redis.url, clusterBus: kind, wsPort: false })
      const r = await qos1Rate(a.url, round, b.url)
      ;(bus[kind] ??= []).push(r)
      progress(`round ${round + 1} cluster ${kind}: ${int(r)} QoS 1 msg/s across brokers`)
      await a.close()
      await b.close()
    }
  }
} finally {
  await redis.stop()
}

const [D, M] = kinds
console.log(
  table([
    ['broker', 'QoS 1 msg/s (median)', 'jobs/s (median)'],
    ...kinds.map((k) => [k === '--data' ? 'fogmesh broker --data DIR' : 'fogmesh broker (in memory)', int(median(q1[k]!)), median(jobs[k]!).toFixed(1)]),
  ]),
)
console.log('')
console.log(`gateway job journal: ${ms(perJob)} ms per job (accept + answer + delivered, ${J} jobs, each record fdatasync'd)`)
console.log(`cluster bus, QoS 1 across two brokers: Redis Stream ${int(median(bus.streams!))} msg/s, Redis pub/sub ${int(median(bus.pubsub!))} msg/s`)
console.log('')
target('QoS 1 throughput with --data vs in memory (>= 0.3x)', `${int(median(q1[D]!))}/s vs ${int(median(q1[M]!))}/s = ${ratio(median(q1[D]!), median(q1[M]!))}`, median(q1[D]!) >= 0.3 * median(q1[M]!))
target('job rate with --data vs in memory (>= 0.3x)', `${median(jobs[D]!).toFixed(1)}/s vs ${median(jobs[M]!).toFixed(1)}/s = ${ratio(median(jobs[D]!), median(jobs[M]!))}`, median(jobs[D]!) >= 0.3 * median(jobs[M]!))
target('cluster: stream bus vs pub/sub bus, QoS 1 across brokers (>= 0.5x: replay after an outage is worth at most half)', `${int(median(bus.streams!))}/s vs ${int(median(bus.pubsub!))}/s = ${ratio(median(bus.streams!), median(bus.pubsub!))}`, median(bus.streams!) >= 0.5 * median(bus.pubsub!))
process.exit(0)
