/**
 * A simulated microcontroller: the reference firmware's behaviour
 * (`firmware/fogmesh-sensor/fogmesh-sensor.ino`) in a Node process, on a
 * serial port (a pty from socat in the tests) through the real `serialport`.
 *
 *   node --import tsx firmware-bridge/sim/mcu.ts --port /dev/pts/3 [--interval 100] [--baud 115200]
 *
 * Speaks the fogmesh line protocol (json-lines): a hello when the port opens,
 * a `temp` reading every `--interval` ms (0: none), replies to `ping`, `get`
 * and `set` (actuators `fan` and `led`). Like a real board it comes back when
 * its port does (it reopens and says hello again).
 *
 * Driven on stdin, one command per line (tests and the benchmark):
 *   line <text>        write <text>\n as is            hex <bytes>   write raw bytes
 *   noise <n>          n random bytes (binary noise)   overlong <n>  one line of n 'x'
 *   burst <n>          n readings as fast as the port drains, then {"event":"burst-done"}
 *   reading <s> <v>    one reading                     quit
 * and reports on stdout, one JSON object per line: ready, set, burst-done.
 */
import { randomBytes } from 'node:crypto'
import { createInterface } from 'node:readline'
import { parseArgs } from 'node:util'
import { SerialPort } from 'serialport'

const { values } = parseArgs({ options: { port: { type: 'string' }, interval: { type: 'string' }, baud: { type: 'string' } } })
if (!values.port) {
  process.stderr.write('usage: mcu.ts --port PATH [--interval MS] [--baud N]\n')
  process.exit(2)
}
const path = values.port
const intervalMs = Number(values.interval ?? 100)
const baudRate = Number(values.baud ?? 115200)
const started = performance.now()
const millis = () => Math.round(performance.now() - started)
const actuators: Record<string, number | string | boolean> = { fan: 0, led: 0 }
let port: SerialPort | undefined
let tick = 0
let quitting = false

const report = (o: object) => process.stdout.write(JSON.stringify(o) + '\n')

function write(data: string | Buffer): boolean {
  if (!port?.isOpen) return true
  return port.write(data)
}

function temp(): number {
  // a slow deterministic wave: 20.0 .. 22.3 °C
  return Math.round((21 + Math.sin(tick++ / 10) * 1.2) * 100) / 100
}

function onLine(line: string): void {
  let m: { id?: unknown; cmd?: unknown; name?: unknown; v?: unknown }
  try {
    m = JSON.parse(line)
  } catch {
    return // a real board ignores what it cannot parse
  }
  if (typeof m.id !== 'number') return
  const reply = (o: object) => write(JSON.stringify({ id: m.id, ...o }) + '\n')
  switch (m.cmd) {
    case 'ping':
      return void reply({ ok: millis() })
    case 'get':
      return void (m.name === 'temp' ? reply({ ok: temp() }) : reply({ err: `unknown sensor ${String(m.name)}` }))
    case 'set':
      if (typeof m.name !== 'string' || !(m.name in actuators)) return void reply({ err: `unknown actuator ${String(m.name)}` })
      if (typeof m.v !== 'number' && typeof m.v !== 'boolean' && typeof m.v !== 'string') return void reply({ err: 'bad value' })
      actuators[m.name] = m.v
      report({ event: 'set', name: m.name, v: m.v })
      return void reply({ ok: true })
    default:
      reply({ err: `unknown command ${String(m.cmd)}` })
  }
}

function open(): void {
  if (quitting) return
  const p = new SerialPort({ path, baudRate, autoOpen: false })
  p.open((err) => {
    if (err) return void setTimeout(open, 100)
    port = p
    let buf = ''
    p.on('data', (d: Buffer) => {
      buf += d.toString('latin1')
      if (buf.length > 4096) buf = '' // a bounded input buffer, as on the board
      let nl: number
      while ((nl = buf.indexOf('\n')) >= 0) {
        onLine(buf.slice(0, nl).replace(/\r$/, ''))
        buf = buf.slice(nl + 1)
      }
    })
    p.on('error', () => {})
    p.once('close', () => {
      port = undefined
      setTimeout(open, 100)
    })
    write(JSON.stringify({ hello: 'fogmesh-sim/1.0', sensors: ['temp'], actuators: Object.keys(actuators) }) + '\n')
    report({ event: 'ready', path })
  })
}

async function burst(n: number): Promise<void> {
  const t0 = performance.now()
  let i = 0
  while (i < n && port?.isOpen) {
    let chunk = ''
    for (let k = 0; k < 256 && i < n; k++, i++) chunk += `{"s":"temp","v":${(20 + (i % 1000) / 100).toFixed(2)},"t":${i}}\n`
    if (!write(chunk)) await new Promise((r) => port?.once('drain', r))
  }
  await new Promise<void>((r) => (port ? port.drain(() => r()) : r()))
  report({ event: 'burst-done', n: i, ms: Math.round(performance.now() - t0) })
}

createInterface({ input: process.stdin }).on('line', (cmd) => {
  const [op, ...rest] = cmd.split(' ')
  const arg = rest.join(' ')
  switch (op) {
    case 'line':
      return void write(arg + '\n')
    case 'hex':
      return void write(Buffer.from(arg, 'hex'))
    case 'noise':
      return void write(randomBytes(Number(arg)))
    case 'overlong':
      return void write('x'.repeat(Number(arg)) + '\n')
    case 'burst':
      return void burst(Number(arg))
    case 'reading': {
      const [s, v] = rest
      return void write(JSON.stringify({ s, v: Number.isNaN(Number(v)) ? v : Number(v), t: millis() }) + '\n')
    }
    case 'quit':
      quitting = true
      clearInterval(timer)
      port?.close()
      return void setTimeout(() => process.exit(0), 50)
  }
})

const timer = intervalMs > 0 ? setInterval(() => write(JSON.stringify({ s: 'temp', v: temp(), t: millis() }) + '\n'), intervalMs) : undefined
open()
