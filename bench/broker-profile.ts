/**
 * One broker process under the broker bench's QoS 1 1→1 load, with V8's
 * profiler on (and optionally `strace -c` counting its socket system calls),
 * to see where the broker spends its time beyond plain aedes:
 *
 *   node --import tsx bench/broker-profile.ts fogmesh|aedes DIR [SECONDS=8]
 *   node --import tsx bench/cpuprofile-summary.ts DIR/CPU.*.0.001.cpuprofile --last 7
 *   STRACE=1 node --import tsx bench/broker-profile.ts fogmesh DIR 5   # writev/read calls per message
 *
 * `fogmesh` is `fogmesh broker --no-gateway --no-console` (every limit on, at its
 * defaults), `aedes` is bench/plain-aedes.ts. The load is bounded by SECONDS.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { exitOnSignal, stopChild, trackChild } from '../test/support/child-processes.ts'
import { closeClient, plainClient } from '../test/support/mqtt-clients.ts'
import { ROOT } from '../test/support/paths.ts'

exitOnSignal()

const [which, dir, secondsArg] = process.argv.slice(2)
if ((which !== 'fogmesh' && which !== 'aedes') || !dir) {
  console.error('usage: node --import tsx bench/broker-profile.ts fogmesh|aedes DIR [SECONDS=8]')
  process.exit(2)
}
const SECONDS = Math.min(120, Math.max(1, Number(secondsArg ?? 8)))
const WINDOW = 64
const PAYLOAD = Buffer.alloc(64, 7)

const prof = ['--cpu-prof', `--cpu-prof-dir=${dir}`]
const argv = which === 'fogmesh'
  ? [...prof, join(ROOT, 'bin/fogmesh.js'), 'broker', '--port', '0', '--ws-port', '0', '--host', '127.0.0.1', '--no-gateway', '--no-console']
  : [...prof, '--import', 'tsx', join(ROOT, 'bench/plain-aedes.ts')]
const child: ChildProcess = trackChild(spawn(process.execPath, argv, { cwd: ROOT, stdio: ['ignore', 'pipe', 'inherit'] }))
const url = await new Promise<string>((resolve, reject) => {
  let out = ''
  const timer = setTimeout(() => reject(new Error(`${which} did not start: ${out}`)), 30_000)
  child.stdout!.on('data', (d: Buffer) => {
    out += d.toString()
    const m = /broker\s+(mqtt:\/\/\S+)/.exec(out) ?? /ready (\d+)/.exec(out)
    if (!m) return
    clearTimeout(timer)
    resolve(m[1]!.startsWith('mqtt') ? m[1]! : `mqtt://127.0.0.1:${m[1]}`)
  })
})

const sub = await plainClient(url)
const pub = await plainClient(url)
await sub.subscribeAsync('bench/profile', { qos: 1 })
let received = 0
sub.on('message', () => received++)
let inFlight = 0
let running = true
const pump = () => {
  while (running && inFlight < WINDOW) {
    inFlight++
    pub.publish('bench/profile', PAYLOAD, { qos: 1 }, () => {
      inFlight--
      pump()
    })
  }
}
const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

const strace = process.env.STRACE
  ? spawn('strace', ['-c', '-f', '-p', String(child.pid), '-e', 'trace=writev,write,read'], { stdio: ['ignore', 'inherit', 'inherit'] })
  : undefined
if (strace) await sleep(500) // attached
pump()
await sleep(SECONDS * 1000)
running = false
const msgs = received
if (strace) {
  strace.kill('SIGINT')
  await new Promise((r) => strace.once('exit', r))
}
console.log(`${which}: ${msgs} messages delivered in ${SECONDS} s (${Math.round(msgs / SECONDS)}/s); profile in ${dir}`)
await sleep(300)
await closeClient(pub)
await closeClient(sub)
await stopChild(child) // SIGTERM: the broker exits and writes its profile
process.exit(0)
