/**
 * Readings per second through the firmware bridge into MQTT, against a raw
 * `serialport` read loop on the same pty (socat), same run, same burst from
 * the simulated MCU.
 *
 * 1. baseline: `serialport` opens the bridge's end and counts newlines;
 * 2. the bridge: framing, json-lines decoding, one MQTT publish per reading
 *    into an embedded aedes broker (in this process), counted by a plain
 *    MQTT subscriber (also in this process).
 *
 * A 115200-baud UART carries about 11,520 bytes/s, ~330 of these readings a
 * second; the target asks the bridge for 10× that.
 *
 *   node --import tsx bench/bridge.bench.ts [readings=50000]
 */
import mqtt from 'mqtt'
import { SerialPort } from 'serialport'
import { startBroker } from '../broker/broker.ts'
import { Bridge } from '../firmware-bridge/bridge.ts'
import { parseConfig } from '../firmware-bridge/config.ts'
import { startMcu } from '../firmware-bridge/sim/mcu-process.ts'
import { startPtyPair } from '../firmware-bridge/sim/pty-pair.ts'
import { exitOnSignal } from '../test/support/child-processes.ts'
import { tmpDir } from '../test/support/temp-dirs.ts'
import { header, progress, table, target } from './report.ts'
import { int } from './summary.ts'

exitOnSignal()

const N = Number(process.argv[2] ?? 50_000)
const UART_READINGS_PER_S = 115_200 / 10 / 35

header('firmware bridge: readings/s, pty → bridge → MQTT vs raw serialport', [`${int(N)} json-lines readings per run, burst from the simulated MCU over a socat pty pair`])

const dir = tmpDir('fm-bench-bridge-')
const pty = await startPtyPair(dir)
const mcu = startMcu(pty.device, { intervalMs: 0 })
await mcu.waitFor((r) => r.event === 'ready', 10_000, 'the MCU')

async function burst(): Promise<void> {
  const before = mcu.reports.filter((r) => r.event === 'burst-done').length
  mcu.send(`burst ${N}`)
  await mcu.waitFor(() => mcu.reports.filter((r) => r.event === 'burst-done').length > before, 120_000, 'the burst to finish')
}

// 1. raw serialport read loop
progress('raw serialport')
const raw = await new Promise<{ lines: number; ms: number }>((resolve, reject) => {
  const port = new SerialPort({ path: pty.bridge, baudRate: 115200 })
  let lines = 0
  let t0 = 0
  port.on('data', (d: Buffer) => {
    if (t0 === 0) t0 = performance.now()
    for (let i = d.indexOf(10); i >= 0; i = d.indexOf(10, i + 1)) lines++
    if (lines >= N) {
      const ms = performance.now() - t0
      port.close(() => resolve({ lines, ms }))
    }
  })
  port.on('open', () => void burst().catch(reject))
  port.on('error', reject)
})
await new Promise((r) => setTimeout(r, 200))

// 2. the bridge into MQTT
progress('bridge → aedes → subscriber')
const broker = await startBroker({ port: 0, wsPort: false, host: '127.0.0.1' })
const config = parseConfig({ name: 'bench', limits: { statsIntervalMs: 0 }, serial: [{ name: 'mcu', path: pty.bridge }] })
const bridge = await Bridge.start({ broker: broker.url, config })
const sub = await mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 })
await sub.subscribeAsync('fm/v1/bridge/bench/readings/#', { qos: 0 })
const dev = bridge.devices.get('mcu')!
while (!dev.isOpen) await new Promise((r) => setTimeout(r, 10))
const bridged = await new Promise<{ lines: number; ms: number }>((resolve, reject) => {
  let got = 0
  let t0 = 0
  dev.once('readings', () => (t0 = performance.now()))
  sub.on('message', () => {
    got++
    if (got >= N) resolve({ lines: got, ms: performance.now() - t0 })
  })
  void burst().catch(reject)
  setTimeout(() => resolve({ lines: got, ms: performance.now() - t0 }), 120_000).unref()
})
const drops = Object.values(dev.stats.drops).reduce((a, b) => a + b, 0)
await sub.endAsync()
await bridge.close()
await broker.close()
await mcu.stop()
await pty.stop()

const rawRate = (raw.lines / raw.ms) * 1000
const bridgeRate = (bridged.lines / bridged.ms) * 1000
console.log(
  table([
    ['path', 'readings', 'ms', 'readings/s', 'vs raw'],
    ['raw serialport read loop', int(raw.lines), int(raw.ms), int(rawRate), '1.0x'],
    ['bridge → MQTT subscriber', int(bridged.lines), int(bridged.ms), int(bridgeRate), `${(bridgeRate / rawRate).toFixed(2)}x`],
  ]),
)
console.log(`\nbridge/raw ratio: ${(bridgeRate / rawRate).toFixed(2)}; frames dropped by the bridge: ${drops}; readings lost: ${N - bridged.lines}`)
target(`bridge >= 10x a 115200-baud UART (${int(UART_READINGS_PER_S * 10)} readings/s)`, `${int(bridgeRate)} readings/s`, bridgeRate >= UART_READINGS_PER_S * 10)
target('no reading lost or dropped', `${N - bridged.lines} lost, ${drops} dropped`, bridged.lines === N && drops === 0)
process.exit(0)
