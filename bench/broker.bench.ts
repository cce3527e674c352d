/**
 * The broker alone: `fogmesh broker` (every limit on, at its defaults; no
 * gateway) against plain aedes and Debian's Mosquitto (`set_tcp_nodelay
 * true`), each as its own process, measured in the same run, in rounds that
 * take the brokers in turn (the machine's load drifts; medians of the rounds).
 *
 * - QoS 1 1→1: one mqtt.js publisher (a window of QoS 1 publishes in flight)
 *   to one mqtt.js subscriber (QoS 1), messages/s delivered;
 * - raw round trip: QoS 0 request/response between two mqtt.js clients, one
 *   in flight, p50/p99.
 *
 *   node --import tsx bench/broker.bench.ts [ROUNDS=3] [SECONDS=3]
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { exitOnSignal, stopChild, trackChild } from '../test/support/child-processes.ts'
import { closeClient, plainClient } from '../test/support/mqtt-clients.ts'
import { startMosquitto } from '../test/support/mosquitto.ts'
import { ROOT } from '../test/support/paths.ts'
import { findProgram } from '../test/support/programs.ts'
import { rawRequestResponse } from './raw-request-response.ts'
import { header, progress, table, target } from './report.ts'
import { int, ms, summarize } from './summary.ts'

exitOnSignal()

const ROUNDS = Number(process.argv[2] ?? 3)
const SECONDS = Number(process.argv[3] ?? 3)
const WINDOW = 64
const PAYLOAD = Buffer.alloc(64, 7)

header('broker: fogmesh broker (all limits on) vs plain aedes vs Mosquitto', [
  `QoS 1 1->1: ${WINDOW} publishes in flight, ${PAYLOAD.length}-byte payloads, ${SECONDS} s measured after 1 s warm-up`,
  `raw round trip: QoS 0 request/response, 1 in flight, 2000 measured after 500 warm-up`,
  `each broker its own process; clients in this process; ${ROUNDS} rounds, brokers in turn; medians`,
])

interface Broker {
  label: string
  url: string
  stop(): Promise<void>
}

function childBroker(label: string, argv: string[], ready: RegExp, url: (m: RegExpExecArray) => string): Promise<Broker> {
  const child: ChildProcess = trackChild(spawn(process.execPath, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'] }))
  return new Promise((resolve, reject) => {
    let out = ''
    const timer = setTimeout(() => reject(new Error(`${label} did not start: ${out}`)), 30_000)
    const onData = (d: Buffer) => {
      out += d.toString()
      const m = ready.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve({ label, url: url(m), stop: () => stopChild(child) })
      }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.once('exit', (code) => reject(new Error(`${label} exited ${code}: ${out}`)))
  })
}

const fogmesh = () =>
  childBroker('fogmesh broker', [join(ROOT, 'bin/fogmesh.js'), 'broker', '--port', '0', '--ws-port', '0', '--host', '127.0.0.1', '--no-gateway', '--no-console'], /broker\s+(mqtt:\/\/\S+)/, (m) => m[1]!)
const aedes = () => childBroker('plain aedes', ['--import', 'tsx', join(ROOT, 'bench/plain-aedes.ts')], /ready (\d+)/, (m) => `mqtt://127.0.0.1:${m[1]}`)
async function mosquitto(): Promise<Broker | undefined> {
  const bin = findProgram('mosquitto')
  if (!bin) return undefined
  const m = await startMosquitto(bin, 'set_tcp_nodelay true\n')
  return { label: `Mosquitto ${m.version}`, url: m.url, stop: m.stop }
}

/** Messages/s from one QoS 1 publisher to one QoS 1 subscriber. */
async function qos1Throughput(url: string): Promise<number> {
  const topic = `bench/q1/${Math.random().toString(36).slice(2, 8)}`
  const sub = await plainClient(url)
  const pub = await plainClient(url)
  await sub.subscribeAsync(topic, { qos: 1 })
  let received = 0
  sub.on('message', () => received++)
  let running = true
  let inFlight = 0
  const pump = () => {
    while (running && inFlight < WINDOW) {
      inFlight++
      pub.publish(topic, PAYLOAD, { qos: 1 }, () => {
        inFlight--
        pump()
      })
    }
  }
  pump()
  await new Promise((r) => setTimeout(r, 1000))
  const r0 = received
  const t0 = performance.now()
  await new Promise((r) => setTimeout(r, SECONDS * 1000))
  const rate = ((received - r0) * 1000) / (performance.now() - t0)
  running = false
  await closeClient(pub)
  await closeClient(sub)
  return rate
}

const makers: Array<() => Promise<Broker | undefined>> = [aedes, fogmesh, mosquitto]
const results = new Map<string, { qos1: number[]; p50: number[]; p99: number[] }>()
for (let round = 1; round <= ROUNDS; round++) {
  for (const make of makers) {
    const b = await make()
    if (!b) continue
    progress(`round ${round}: ${b.label}`)
    const r = results.get(b.label) ?? { qos1: [], p50: [], p99: [] }
    r.qos1.push(await qos1Throughput(b.url))
    const rt = await rawRequestResponse(b.url, Buffer.alloc(64, 1), { inFlight: 1, warm: { count: 500 }, measure: { count: 2000 } })
    const s = summarize(rt.lat)
    r.p50.push(s.p50)
    r.p99.push(s.p99)
    results.set(b.label, r)
    await b.stop()
  }
}

const median = (xs: number[]) => summarize(xs).p50
const rows = [['broker', 'QoS1 1->1 msgs/s', 'vs aedes', 'raw RTT p50 ms', 'p99 ms', 'vs aedes']]
const base = results.get('plain aedes')!
const baseRate = median(base.qos1)
const baseP50 = median(base.p50)
for (const [label, r] of results) {
  rows.push([label, int(median(r.qos1)), `${(median(r.qos1) / baseRate).toFixed(2)}x`, ms(median(r.p50)), ms(median(r.p99)), `${(median(r.p50) / baseP50).toFixed(2)}x`])
}
console.log(table(rows))
console.log(`(every round: ${[...results].map(([l, r]) => `${l} ${r.qos1.map((x) => int(x)).join('/')} msgs/s`).join('; ')})`)
console.log('')
const fm = results.get('fogmesh broker')!
const q = median(fm.qos1) / baseRate
const p = median(fm.p50) / baseP50
target('QoS1 1->1 throughput, fogmesh broker (all limits on) / plain aedes >= 0.95 (issue 15)', `${q.toFixed(2)}x`, q >= 0.95)
target('QoS1 1->1 throughput, fogmesh broker / plain aedes >= 0.9 (issue 9)', `${q.toFixed(2)}x`, q >= 0.9)
target('raw round trip p50, fogmesh broker / plain aedes <= 1.1', `${p.toFixed(2)}x`, p <= 1.1)
process.exit(0)
