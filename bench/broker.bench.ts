/**
 * The broker alone: `fogmesh broker` (every limit on, at its defaults; no
 * gateway) against plain aedes and Debian's Mosquitto (`set_tcp_nodelay
 * true`), each as its own process, all started once and measured in the same
 * run. On a shared, loaded machine a broker measured a minute after another
 * sees a different machine, so the measurements are interleaved: short
 * slices that take the brokers in turn (rotating who goes first), and each
 * ratio is the median of the ratios of slices taken side by side.
 *
 * - QoS 1 1→1: one mqtt.js publisher (a window of QoS 1 publishes in flight)
 *   to one mqtt.js subscriber (QoS 1), messages/s delivered; and the broker
 *   process's CPU per delivered message (/proc, so what other work on the
 *   machine takes from it does not count);
 * - raw round trip: QoS 0 request/response between two mqtt.js clients, one
 *   in flight, p50/p99 (rounds in turn; the ratio is the median of the rounds' ratios).
 *
 * The noise floor is measured too: a second plain aedes process ("control")
 * takes its slices like the others, and its ratio to the first says how far
 * two identical brokers land apart on this machine right now. Each paired
 * ratio is printed with its interquartile range over the slices.
 *
 *   node --import tsx bench/broker.bench.ts [SLICES=30] [SLICE_SECONDS=0.5]
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import { exitOnSignal, stopChild, trackChild } from '../test/support/child-processes.ts'
import { closeClient, plainClient } from '../test/support/mqtt-clients.ts'
import { startMosquitto } from '../test/support/mosquitto.ts'
import { ROOT } from '../test/support/paths.ts'
import { findProgram } from '../test/support/programs.ts'
import { processCpuMs } from './cpu.ts'
import { rawRequestResponse } from './raw-request-response.ts'
import { header, progress, table, target } from './report.ts'
import { int, ms, summarize } from './summary.ts'

exitOnSignal()

const SLICES = Number(process.argv[2] ?? 30)
const SLICE_S = Number(process.argv[3] ?? 0.5)
const RTT_ROUNDS = 6
const WINDOW = 64
const PAYLOAD = Buffer.alloc(64, 7)

header('broker: fogmesh broker (all limits on) vs plain aedes vs Mosquitto', [
  `QoS 1 1->1: ${WINDOW} publishes in flight, ${PAYLOAD.length}-byte payloads; ${SLICES} slices of ${SLICE_S} s per broker, interleaved, after 2 s warm-up each (tsx, JIT)`,
  `raw round trip: QoS 0 request/response, 1 in flight, ${RTT_ROUNDS} rounds of 500 after 200 warm-up, brokers in turn`,
  'each broker its own process, started once; clients in this process; ratios are medians of side-by-side slices [interquartile range]',
  'plain aedes (control): a second, identical plain aedes process; its ratio is the noise floor of this run',
])

interface Broker {
  label: string
  url: string
  pid: number
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
        resolve({ label, url: url(m), pid: child.pid!, stop: () => stopChild(child) })
      }
    }
    child.stdout!.on('data', onData)
    child.stderr!.on('data', onData)
    child.once('exit', (code) => reject(new Error(`${label} exited ${code}: ${out}`)))
  })
}

const fogmesh = () =>
  childBroker('fogmesh broker', [join(ROOT, 'bin/fogmesh.js'), 'broker', '--port', '0', '--ws-port', '0', '--host', '127.0.0.1', '--no-gateway', '--no-console'], /broker\s+(mqtt:\/\/\S+)/, (m) => m[1]!)
const aedes = (label = 'plain aedes') => childBroker(label, ['--import', 'tsx', join(ROOT, 'bench/plain-aedes.ts')], /ready (\d+)/, (m) => `mqtt://127.0.0.1:${m[1]}`)
const control = () => aedes('plain aedes (control)')
async function mosquitto(): Promise<Broker | undefined> {
  const bin = findProgram('mosquitto')
  if (!bin) return undefined
  const m = await startMosquitto(bin, 'set_tcp_nodelay true\n')
  return { label: `Mosquitto ${m.version}`, url: m.url, pid: m.proc.pid!, stop: m.stop }
}

/** One QoS 1 publisher and one QoS 1 subscriber on a broker, pumped a slice at a time. */
class Qos1Pair {
  received = 0
  /** Publishes the broker acknowledged (each is delivered once: one QoS 1 subscriber). */
  private acked = 0
  private inFlight = 0
  private running = false
  private constructor(
    private readonly pub: MqttClient,
    private readonly sub: MqttClient,
    private readonly topic: string,
  ) {
    sub.on('message', () => this.received++)
  }

  static async open(url: string): Promise<Qos1Pair> {
    const topic = `bench/q1/${Math.random().toString(36).slice(2, 8)}`
    const sub = await plainClient(url)
    const pub = await plainClient(url)
    await sub.subscribeAsync(topic, { qos: 1 })
    return new Qos1Pair(pub, sub, topic)
  }

  private pump = () => {
    while (this.running && this.inFlight < WINDOW) {
      this.inFlight++
      this.pub.publish(this.topic, PAYLOAD, { qos: 1 }, () => {
        this.inFlight--
        this.acked++
        this.pump()
      })
    }
  }

  /** Publishes for `seconds`; messages delivered and the broker's CPU ms over that time. */
  async slice(seconds: number, pid: number): Promise<{ rate: number; msgs: number; cpuMs: number }> {
    this.running = true
    this.pump()
    const r0 = this.received
    const c0 = processCpuMs(pid)
    const t0 = performance.now()
    await sleep(seconds * 1000)
    const msgs = this.received - r0
    const cpuMs = processCpuMs(pid) - c0
    const rate = (msgs * 1000) / (performance.now() - t0)
    this.running = false
    // let the window drain and every acknowledged publish arrive, so the next broker's slice has the machine to itself
    for (let i = 0; i < 200 && (this.inFlight > 0 || this.received < this.acked); i++) await sleep(10)
    return { rate, msgs, cpuMs }
  }

  async close(): Promise<void> {
    this.running = false
    await closeClient(this.pub)
    await closeClient(this.sub)
  }
}

const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))
const median = (xs: number[]) => summarize(xs).p50
const quartiles = (xs: number[]) => {
  const s = [...xs].sort((a, b) => a - b)
  const at = (q: number) => s[Math.min(s.length - 1, Math.max(0, Math.round(q * (s.length - 1))))] ?? NaN
  return `${at(0.25).toFixed(2)}-${at(0.75).toFixed(2)}`
}

const brokers: Broker[] = []
for (const make of [() => aedes(), fogmesh, mosquitto, control] as Array<() => Promise<Broker | undefined>>) {
  const b = await make()
  if (b) brokers.push(b)
}
const pairs = await Promise.all(brokers.map((b) => Qos1Pair.open(b.url)))
for (const [i, p] of pairs.entries()) await p.slice(2, brokers[i]!.pid) // warm-up

const rates = brokers.map(() => [] as number[])
const msgs = brokers.map(() => 0)
const cpu = brokers.map(() => 0)
for (let s = 0; s < SLICES; s++) {
  progress(`QoS 1 slice ${s + 1}/${SLICES}`)
  // rotating who goes first, and every other round backwards: each broker follows different ones
  // (what one leaves behind, GC and the last deliveries, does not always land on the same next broker)
  const order = brokers.map((_, k) => (s + k) % brokers.length)
  if (s % 2 === 1) order.reverse()
  for (const i of order) {
    const r = await pairs[i]!.slice(SLICE_S, brokers[i]!.pid)
    rates[i]!.push(r.rate)
    msgs[i]! += r.msgs
    cpu[i]! += r.cpuMs
  }
}
for (const p of pairs) await p.close()

const p50s = brokers.map(() => [] as number[])
const p99s = brokers.map(() => [] as number[])
for (let round = 0; round < RTT_ROUNDS; round++) {
  progress(`round trip round ${round + 1}/${RTT_ROUNDS}`)
  for (let k = 0; k < brokers.length; k++) {
    const i = (round + k) % brokers.length
    const rt = await rawRequestResponse(brokers[i]!.url, Buffer.alloc(64, 1), { inFlight: 1, warm: { count: 200 }, measure: { count: 500 } })
    const sum = summarize(rt.lat)
    p50s[i]!.push(sum.p50)
    p99s[i]!.push(sum.p99)
  }
}
for (const b of brokers) await b.stop()

/** Broker i's rate / plain aedes' rate, slice by slice (taken side by side). */
const pairedRatios = (i: number) => rates[i]!.map((r, s) => r / rates[0]![s]!)
/** Their median. */
const pairedRatio = (i: number) => median(pairedRatios(i))
const rttRatios = (i: number) => p50s[i]!.map((x, r) => x / p50s[0]![r]!)
const cpuPerMsgUs = (i: number) => (cpu[i]! * 1000) / Math.max(1, msgs[i]!)
const rows = [['broker', 'QoS1 1->1 msgs/s', 'vs aedes', 'broker CPU us/msg', 'vs aedes', 'raw RTT p50 ms', 'p99 ms', 'vs aedes']]
brokers.forEach((b, i) => {
  rows.push([
    b.label,
    int(median(rates[i]!)),
    `${pairedRatio(i).toFixed(2)}x [${quartiles(pairedRatios(i))}]`,
    cpuPerMsgUs(i).toFixed(1),
    `${(cpuPerMsgUs(i) / cpuPerMsgUs(0)).toFixed(2)}x`,
    ms(median(p50s[i]!)),
    ms(median(p99s[i]!)),
    `${median(rttRatios(i)).toFixed(2)}x [${quartiles(rttRatios(i))}]`,
  ])
})
console.log(table(rows))
console.log(`(QoS 1 msgs/s per slice: ${brokers.map((b, i) => `${b.label} ${rates[i]!.map((x) => int(x)).join('/')}`).join('; ')})`)
console.log('')
const fm = brokers.findIndex((b) => b.label === 'fogmesh broker')
const q = pairedRatio(fm)
const p = median(rttRatios(fm)) // paired by round, like the slices
const ctl = brokers.findIndex((b) => b.label === 'plain aedes (control)')
if (ctl >= 0) console.log(`noise floor: plain aedes (control) / plain aedes ${pairedRatio(ctl).toFixed(2)}x [${quartiles(pairedRatios(ctl))}] QoS 1, ${median(rttRatios(ctl)).toFixed(2)}x round trip`)
const c = cpuPerMsgUs(0) / cpuPerMsgUs(fm)
target('QoS1 1->1 throughput, fogmesh broker (all limits on) / plain aedes >= 0.95 (issue 15)', `${q.toFixed(2)}x`, q >= 0.95)
target('QoS1 1->1 throughput, fogmesh broker / plain aedes >= 0.9 (issue 9)', `${q.toFixed(2)}x`, q >= 0.9)
target('QoS1 1->1 messages per broker CPU second, fogmesh broker / plain aedes >= 0.9', `${c.toFixed(2)}x`, c >= 0.9)
target('raw round trip p50, fogmesh broker / plain aedes <= 1.1', `${p.toFixed(2)}x`, p <= 1.1)
process.exit(0)
