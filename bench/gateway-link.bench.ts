/**
 * What the gateway's own MQTT link to an in-process broker costs: is it worth
 * giving the gateway inside `fogmesh broker` a link into aedes without a
 * loopback client? Not a target bench: the figures behind that decision.
 *
 * A. One message over the link, QoS 1, 32 in flight, 600 bytes (an assignment's size), publisher
 *    and subscriber in this process on the embedded broker:
 *    - mqtt.js over loopback TCP (what the gateway in `fogmesh broker` uses today);
 *    - mqtt.js over an in-memory stream handed to aedes.handle (MQTT encoding kept, no TCP);
 *    - the same over the link's MessagePort stream (port-stream.ts), both ends in one thread;
 *    - aedes' in-process API (aedes.publish / aedes.subscribe: no client, no MQTT encoding) —
 *      the floor of any in-process link (it bypasses the broker's publish hooks).
 * B. The gateway path (a plain-MQTT sensor, 32 in flight, 3 agents as child processes), packets on
 *    the gateway's link counted per job: gateway in this thread; gateway in a worker thread
 *    (market/gateway-supervisor.ts) over a loopback client, and over the in-process link
 *    (market/gateway-link.ts, as `fogmesh broker` runs it); raw QoS0 req/resp (the ratio).
 *    The most an in-process link saves per job = packets per job × (A's TCP − A's floor) / 2 (one side of A's two links).
 *
 *   node --import tsx bench/gateway-link.bench.ts [seconds=6]
 */
import { Duplex } from 'node:stream'
import { MessageChannel } from 'node:worker_threads'
import { PortStream } from '../protocol/transport/port-stream.ts'
import mqtt, { type MqttClient } from 'mqtt'
import { startBroker, type Broker } from '../broker/broker.ts'
import { startGateway } from '../market/gateway.ts'
import { superviseGateway } from '../market/gateway-supervisor.ts'
import type { MqttConnection } from '../protocol/transport/mqtt-connection.ts'
import { loadModule } from '../wasm-modules/index.ts'
import { spawnAgents } from '../test/support/agents.ts'
import { exitOnSignal } from '../test/support/child-processes.ts'
import { closeClient, plainClient } from '../test/support/mqtt-clients.ts'
import { rawRequestResponse } from './raw-request-response.ts'
import { header, progress, table } from './report.ts'
import { publishModule, sensorRun } from './sensor-run.ts'
import { int, ms, ratio, summarize } from './summary.ts'

exitOnSignal()

const SECONDS = Number(process.argv[2] ?? 6)
const IN_FLIGHT = 32
const MESSAGES = 20_000
const payload = Buffer.alloc(600, 'x')
const input = Buffer.from('hello, edge')

header('fogmesh gateway link: loopback MQTT client vs in-process link', [
  `A: ${MESSAGES} QoS 1 messages of ${payload.length} bytes, ${IN_FLIGHT} in flight, publisher and subscriber in this process`,
  `B: the gateway path, ${IN_FLIGHT} jobs in flight, 3 child agents, ${SECONDS} s measured after 2 s warm-up; raw: QoS0 req/resp, 4 s`,
])

// ---- A: one message over the link ------------------------------------------------------------

/** Two streams, each one's writes the other's reads: a client and aedes.handle joined in memory. */
function streamPair(): [Duplex, Duplex] {
  const ends: Duplex[] = []
  const make = (other: () => Duplex) =>
    new Duplex({
      read() {},
      write(chunk, _enc, cb) {
        other().push(chunk)
        cb()
      },
      final(cb) {
        other().push(null)
        cb()
      },
    })
  ends.push(make(() => ends[1]!), make(() => ends[0]!))
  return [ends[0]!, ends[1]!]
}

/** The link's own stream (protocol/transport/port-stream.ts), both ends in this thread. */
function portPair(): [Duplex, Duplex] {
  const { port1, port2 } = new MessageChannel()
  return [new PortStream(port1), new PortStream(port2)]
}

async function memoryClient(broker: Broker, overPort = false): Promise<MqttClient> {
  const c = new mqtt.MqttClient(() => {
    const [mine, theirs] = overPort ? portPair() : streamPair()
    broker.aedes.handle(theirs as never)
    return mine as never
  }, { protocolVersion: 4, reconnectPeriod: 0, clean: true })
  await new Promise((r) => c.once('connect', r))
  return c
}

/** CPU µs per message (this process: both clients and the broker) with `IN_FLIGHT` outstanding. */
async function linkCost(publish: (done: () => void) => Promise<{ send(): void; close(): Promise<void> }>): Promise<number> {
  let got = 0
  let sent = 0
  let finish!: () => void
  const all = new Promise<void>((r) => (finish = r))
  let send = () => {}
  const pump = () => {
    while (sent - got < IN_FLIGHT && sent < MESSAGES) {
      sent++
      send()
    }
  }
  const link = await publish(() => {
    if (++got === MESSAGES) finish()
    else pump()
  })
  send = link.send
  const c0 = process.cpuUsage()
  pump()
  await all
  const c = process.cpuUsage(c0)
  await link.close()
  return (c.user + c.system) / MESSAGES
}

const viaClients = (make: () => Promise<MqttClient>, topic: string) => async (onMessage: () => void) => {
  const pub = await make()
  const sub = await make()
  sub.on('message', onMessage)
  await sub.subscribeAsync(topic, { qos: 1 })
  return {
    send: () => void pub.publish(topic, payload, { qos: 1 }),
    close: async () => {
      await closeClient(pub)
      await closeClient(sub)
    },
  }
}

const a: Array<{ label: string; us: number[] }> = [
  { label: 'mqtt.js over loopback TCP', us: [] },
  { label: 'mqtt.js over a memory stream into aedes.handle', us: [] },
  { label: 'mqtt.js over a MessagePort stream (the link), one thread', us: [] },
  { label: 'aedes.publish / aedes.subscribe (the floor)', us: [] },
]
{
  const broker = await startBroker({ port: 0, wsPort: false, host: '127.0.0.1' })
  progress('A: link cost per message')
  for (let round = 0; round < 3; round++) {
    a[0]!.us.push(await linkCost(viaClients(() => plainClient(broker.url), 'bench/link/tcp')))
    a[1]!.us.push(await linkCost(viaClients(() => memoryClient(broker), 'bench/link/mem')))
    a[2]!.us.push(await linkCost(viaClients(() => memoryClient(broker, true), 'bench/link/port')))
    a[3]!.us.push(
      await linkCost(async (onMessage) => {
        const deliver = (_p: unknown, cb: () => void) => {
          cb()
          onMessage()
        }
        await new Promise<void>((r) => broker.aedes.subscribe('bench/link/api', deliver as never, () => r()))
        return {
          send: () => broker.aedes.publish({ cmd: 'publish', topic: 'bench/link/api', payload, qos: 1, retain: false, dup: false } as never, () => {}),
          close: () => new Promise<void>((r) => broker.aedes.unsubscribe('bench/link/api', deliver as never, () => r())),
        }
      }),
    )
  }
  await broker.close()
}
const median = (xs: number[]) => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!
const tcpUs = median(a[0]!.us)
const floorUs = median(a[3]!.us)

// ---- B: the gateway path ---------------------------------------------------------------------

interface Row {
  label: string
  jobsPerSec: number
  failed: number
  p50: number
  cpuUsPerJob: number
  packetsPerJob: number | undefined
}
const rows: Row[] = []
{
  const broker = await startBroker({ port: 0, wsPort: false, host: '127.0.0.1' })
  const agents = await spawnAgents(broker.url, 3)
  const pids = agents.map((x) => ({ label: x.name, pid: x.pid }))
  const module = await publishModule(broker.url, await loadModule('echo'))
  const options = { broker: broker.url, jobsPerSecondPerSensor: 1_000_000 }
  const gatewayRow = async (label: string, packets: () => number, answered: () => number) => {
    progress(label)
    const p0 = packets()
    const j0 = answered()
    const s = await sensorRun(broker.url, module, input, { inFlight: IN_FLIGHT, warm: { ms: 2000 }, measure: { ms: SECONDS * 1000 }, pids })
    const cpu = Object.values(s.cpu.byProcess).reduce((x, y) => x + y, 0)
    // packets over the whole run (warm-up too) per job the gateway answered in it
    const jobs = answered() - j0
    rows.push({ label, jobsPerSec: s.done / (s.elapsedMs / 1000), failed: s.failed, p50: summarize(s.lat).p50, cpuUsPerJob: (cpu * 1000) / s.done, packetsPerJob: packets() > 0 ? (packets() - p0) / jobs : undefined })
  }
  {
    const gw = await startGateway(options)
    await gw.requester.directory.waitFor(3, 20_000)
    let packets = 0
    const client = (gw.requester.connection as MqttConnection).client
    client.on('packetsend', () => void packets++)
    client.on('packetreceive', () => void packets++)
    await gatewayRow('gateway in this thread, loopback client', () => packets, () => gw.stats().ok + gw.stats().failed)
    await gw.close()
  }
  for (const link of [false, true]) {
    const sup = await superviseGateway({ gateway: options, ...(link ? { link: (conn: Duplex) => broker.handleLocal(conn) } : {}) })
    // the worker's directory fills from retained presences: wait until it has placed a job
    const probe = await sensorRun(broker.url, module, input, { inFlight: 1, warm: { count: 3 }, measure: { count: 1 } })
    if (probe.failed) throw new Error(`the worker gateway is not ready: ${JSON.stringify(probe.errors)}`)
    await gatewayRow(`gateway in a worker thread, ${link ? 'in-process link (fogmesh broker)' : 'loopback client'}`, () => 0, () => 0)
    await sup.close()
  }
  progress('raw QoS0 req/resp')
  const job = Buffer.from(JSON.stringify({ id: 'xxxxxxxx-0000', module, input: input.toString('base64'), replyTo: 'sensors/bench-raw/results' }))
  const r = await rawRequestResponse(broker.url, job, { inFlight: IN_FLIGHT, warm: { ms: 1000 }, measure: { ms: 4000 } })
  const rawCpu = Object.values(r.cpu.byProcess).reduce((x, y) => x + y, 0)
  rows.push({ label: 'raw QoS0 req/resp', jobsPerSec: r.done / (r.elapsedMs / 1000), failed: 0, p50: summarize(r.lat).p50, cpuUsPerJob: (rawCpu * 1000) / r.done, packetsPerJob: undefined })
  await Promise.all(agents.map((x) => x.stop()))
  await broker.close()
}

// ---- report ----------------------------------------------------------------------------------

console.log(
  table([
    ['A: one QoS 1 message', 'cpu us/msg (median of 3)', 'runs', 'vs TCP'],
    ...a.map((x) => [x.label, median(x.us).toFixed(1), x.us.map((u) => u.toFixed(1)).join(' / '), ratio(median(x.us), tcpUs)]),
  ]),
)
console.log('')
const raw = rows[rows.length - 1]!
console.log(
  table([
    ['B: gateway path, 32 in flight', 'jobs/s', 'vs raw', 'failed', 'p50 ms', 'cpu us/job', 'link packets/job'],
    ...rows.map((r) => [r.label, int(r.jobsPerSec), r === raw ? '' : ratio(r.jobsPerSec, raw.jobsPerSec), r === raw ? '' : String(r.failed), ms(r.p50), int(r.cpuUsPerJob), r.packetsPerJob === undefined ? '' : r.packetsPerJob.toFixed(1)]),
  ]),
)
const perJob = rows[0]!.packetsPerJob
if (perJob !== undefined) {
  // A's figure covers two links (publisher's and subscriber's): one packet's share of one link is half
  const saving = (perJob / 2) * ((tcpUs - floorUs) / 2)
  console.log('')
  console.log(`info   most an in-process link saves: ~${int(saving)} us CPU per job (${perJob.toFixed(1)} packets/job on the gateway's link, PUBACKs included), ${((100 * saving) / rows[0]!.cpuUsPerJob).toFixed(1)}% of the gateway path's ${int(rows[0]!.cpuUsPerJob)} us/job`)
}
process.exit(0)
