/**
 * Tiny-job round trip over plain MQTT, one job in flight.
 *
 * A plain mqtt client (a dumb sensor) publishes DESIGN.md's job JSON
 * `{"id","module","input","replyTo"}` on `fm/v1/jobs/submit` with the echo
 * module and 11 bytes of input, and awaits the result on its replyTo before
 * sending the next. The mesh is a broker, the gateway, and 3 agents.
 *
 * Headline layout (the realistic one: one device per agent): embedded broker
 * (aedes) and gateway in this process, 3 agents as child processes
 * (`node bin/fogmesh.js agent --broker URL --data DIR --name aN`).
 * Also measured: the same with the 3 agents in this process, and with Debian's
 * Mosquitto as the broker plus the standalone gateway (startGateway against
 * Mosquitto, in this process) and 3 child-process agents.
 *
 * Baseline, in the same run and on the same broker: raw MQTT QoS0
 * request/response between two plain mqtt clients (the request carries the
 * same job JSON bytes; a responder client echoes it to a reply topic).
 *
 *   node --import tsx bench/roundtrip.bench.ts [N=2000]
 */
import { startBroker } from '../broker/broker.ts'
import { startGateway, type Gateway } from '../market/gateway.ts'
import { loadModule } from '../wasm-modules/index.ts'
import {
  header,
  inProcessAgents,
  ms,
  publishModule,
  rawRequestResponse,
  ratio,
  sensorRun,
  spawnAgents,
  startMosquitto,
  summarize,
  table,
  target,
  type Summary,
} from './lib.ts'

const N = Number(process.argv[2] ?? 2000)
const WARM = 300
const AGENTS = 3
const input = Buffer.from('hello, edge')

header('fogmesh round trip: one tiny job in flight over plain MQTT', [
  `job: echo module, ${input.length} bytes input; sequential, ${N} measured after ${WARM} warm-up (raw baseline: 500 warm-up)`,
  `sensor and raw clients: plain mqtt.js, MQTT 3.1.1, QoS 0 publish and subscribe, TCP_NODELAY on (as the mesh's own clients)`,
  `mesh: broker + gateway + ${AGENTS} agents (2 worker slots each by default); headline = agents as child processes`,
])

interface Row {
  label: string
  s: Summary
  failed?: number
  note?: string
}
const rows: Row[] = []
const echo = await loadModule('echo')

async function raw(url: string, label: string): Promise<Summary> {
  const job = Buffer.from(JSON.stringify({ id: 'xxxxxxxx-0000', module: '0'.repeat(64), input: input.toString('base64'), replyTo: 'sensors/bench-raw/results' }))
  const r = await rawRequestResponse(url, job, { inFlight: 1, warm: { count: 500 }, measure: { count: N } })
  const s = summarize(r.lat)
  rows.push({ label, s })
  return s
}

async function mesh(url: string, label: string, gateway: Gateway, module: string): Promise<Summary> {
  await gateway.requester.directory.waitFor(AGENTS, 20_000)
  const r = await sensorRun(url, module, input, { inFlight: 1, warm: { count: WARM }, measure: { count: N } })
  if (r.sample?.status !== 'ok' || Buffer.from(String(r.sample.output), 'base64').toString() !== input.toString()) {
    throw new Error(`echo answered wrongly: ${JSON.stringify(r.sample)}`)
  }
  const s = summarize(r.lat)
  const spread = Object.values(r.perAgent).sort((a, b) => b - a).join('/')
  rows.push({ label, s, failed: r.failed, note: `per agent ${spread}` })
  return s
}

// ---- embedded broker (aedes) -----------------------------------------------------------

let headline: { raw: Summary; mesh: Summary }
let inproc: Summary
{
  const broker = await startBroker({ port: 0, wsPort: false, host: '127.0.0.1' })
  const rawS = await raw(broker.url, 'raw QoS0 req/resp, aedes')
  const gateway = await startGateway({ broker: broker.url })
  const agents = await spawnAgents(broker.url, AGENTS)
  const module = await publishModule(broker.url, echo)
  const meshS = await mesh(broker.url, 'fogmesh, aedes, agents = child processes', gateway, module)
  headline = { raw: rawS, mesh: meshS }
  await Promise.all(agents.map((a) => a.stop()))
  await gateway.close()
  await broker.close()
}
{
  const broker = await startBroker({ port: 0, wsPort: false, host: '127.0.0.1' })
  const gateway = await startGateway({ broker: broker.url })
  const agents = await inProcessAgents(broker.url, AGENTS)
  const module = await publishModule(broker.url, echo)
  inproc = await mesh(broker.url, 'fogmesh, aedes, agents in-process', gateway, module)
  await Promise.all(agents.map((a) => a.close({ graceMs: 1000 })))
  await gateway.close()
  await broker.close()
}

// ---- Debian's Mosquitto ---------------------------------------------------------------------

let mosq: { raw: Summary; mesh: Summary; version: string } | undefined
const mosquitto = await startMosquitto()
if (mosquitto) {
  const rawS = await raw(mosquitto.url, `raw QoS0 req/resp, mosquitto ${mosquitto.version}`)
  const gateway = await startGateway({ broker: mosquitto.url })
  const agents = await spawnAgents(mosquitto.url, AGENTS)
  const module = await publishModule(mosquitto.url, echo)
  const meshS = await mesh(mosquitto.url, 'fogmesh, mosquitto + gateway, agents = child processes', gateway, module)
  mosq = { raw: rawS, mesh: meshS, version: mosquitto.version }
  await Promise.all(agents.map((a) => a.stop()))
  await gateway.close()
  await mosquitto.stop()
}

// ---- report ----------------------------------------------------------------------------------

const rawFor = (label: string) => (label.includes('mosquitto') ? mosq?.raw : headline.raw)
console.log(
  table([
    ['round trip (ms)', 'n', 'p50', 'p99', 'mean', 'max', 'p50 / raw', 'p99 / raw', 'failed', ''],
    ...rows.map((r) => {
      const base = rawFor(r.label)
      const isRaw = r.label.startsWith('raw')
      return [
        r.label,
        String(r.s.n),
        ms(r.s.p50),
        ms(r.s.p99),
        ms(r.s.mean),
        ms(r.s.max),
        isRaw || !base ? '' : ratio(r.s.p50, base.p50),
        isRaw || !base ? '' : ratio(r.s.p99, base.p99),
        r.failed === undefined ? '' : String(r.failed),
        r.note ?? '',
      ]
    }),
  ]),
)
if (!mosq) console.log('mosquitto: not installed')
console.log('')
console.log('headline: aedes embedded broker + gateway in one process, 3 agents as child processes (one OS process per agent, as on devices)')
let pass = true
pass = target('p50 <= 6x raw (headline)', `${ratio(headline.mesh.p50, headline.raw.p50)} (${ms(headline.mesh.p50)} ms vs raw ${ms(headline.raw.p50)} ms)`, headline.mesh.p50 <= 6 * headline.raw.p50) && pass
pass = target('p99 <= 25 ms (headline)', `${ms(headline.mesh.p99)} ms`, headline.mesh.p99 <= 25) && pass
console.log(`info   in-process agents: p50 ${ms(inproc.p50)} ms (${ratio(inproc.p50, headline.raw.p50)} raw), p99 ${ms(inproc.p99)} ms`)
if (mosq) {
  console.log(
    `info   mosquitto ${mosq.version}: p50 ${ms(mosq.mesh.p50)} ms (${ratio(mosq.mesh.p50, mosq.raw.p50)} its raw ${ms(mosq.raw.p50)} ms), p99 ${ms(mosq.mesh.p99)} ms` +
      `  [p50 <= 6x raw: ${mosq.mesh.p50 <= 6 * mosq.raw.p50 ? 'PASS' : 'FAIL'}, p99 <= 25 ms: ${mosq.mesh.p99 <= 25 ? 'PASS' : 'FAIL'}]`,
  )
}
process.exit(0)
