/**
 * Shared plumbing for the benchmarks: exact percentiles, tables, temp dirs,
 * agents as child processes (`node bin/fogmesh.js agent ...`) or in-process,
 * Debian's Mosquitto on a free port, plain MQTT clients, the raw QoS0
 * request/response baseline, and per-process CPU accounting from /proc.
 *
 * Not a test helper: nothing here asserts; the benches print figures and
 * ratios measured in the same run.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { existsSync, mkdtempSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
import { createServer, createConnection, type AddressInfo } from 'node:net'
import { availableParallelism, cpus, tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import mqtt, { type MqttClient } from 'mqtt'
import { startAgent, type Agent } from '../agent/agent.ts'

export const ROOT = fileURLToPath(new URL('..', import.meta.url))
export const MOSQUITTO = '/usr/sbin/mosquitto'

// ---- figures ------------------------------------------------------------------

export interface Summary {
  n: number
  p50: number
  p99: number
  mean: number
  max: number
}

/** Exact percentiles (nearest rank) over all samples. */
export function summarize(samples: number[]): Summary {
  const s = Float64Array.from(samples).sort()
  const n = s.length
  if (n === 0) return { n, p50: NaN, p99: NaN, mean: NaN, max: NaN }
  const at = (p: number) => s[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))] as number
  let sum = 0
  for (const v of s) sum += v
  return { n, p50: at(50), p99: at(99), mean: sum / n, max: s[n - 1] as number }
}

export const ms = (v: number) => (Number.isNaN(v) ? '-' : v < 1 ? v.toFixed(3) : v < 100 ? v.toFixed(2) : v.toFixed(0))
export const int = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '-')
export const ratio = (a: number, b: number) => (b > 0 && Number.isFinite(a) ? `${(a / b).toFixed(1)}x` : '-')

/** A plain text table: first row is the header. */
export function table(rows: string[][]): string {
  const widths: number[] = []
  for (const r of rows) r.forEach((c, i) => (widths[i] = Math.max(widths[i] ?? 0, c.length)))
  const line = (r: string[]) => r.map((c, i) => (i === 0 ? c.padEnd(widths[i] ?? 0) : c.padStart(widths[i] ?? 0))).join('  ')
  const out = [line(rows[0] ?? []), widths.map((w) => '-'.repeat(w)).join('  ')]
  for (const r of rows.slice(1)) out.push(line(r))
  return out.join('\n')
}

export function target(label: string, value: string, pass: boolean): boolean {
  console.log(`TARGET ${label}: ${value}  ${pass ? 'PASS' : 'FAIL'}`)
  return pass
}

export function header(title: string, what: string[]): void {
  const cpu = cpus()[0]?.model ?? 'unknown cpu'
  console.log(`== ${title} ==`)
  console.log(`node ${process.versions.node}, ${availableParallelism()} cpus (${cpu.trim()}), ${new Date().toISOString()}`)
  for (const l of what) console.log(l)
  console.log('')
}

/** Progress on stderr, so stdout stays the report. */
export const progress = (msg: string) => process.stderr.write(`  .. ${msg}\n`)

export const sleep = (t: number) => new Promise((r) => setTimeout(r, t))

// ---- temp dirs and child processes --------------------------------------------

const cleanups: Array<() => void> = []
process.on('exit', () => {
  for (const c of cleanups.splice(0).reverse()) {
    try {
      c()
    } catch {
      // best effort at exit
    }
  }
})
for (const sig of ['SIGINT', 'SIGTERM'] as const) {
  process.once(sig, () => process.exit(130))
}

export function tempDir(prefix: string): string {
  const d = mkdtempSync(join(tmpdir(), prefix))
  cleanups.push(() => rmSync(d, { recursive: true, force: true }))
  return d
}

function track(child: ChildProcess): void {
  cleanups.push(() => {
    if (child.exitCode === null && child.signalCode === null && child.pid !== undefined) child.kill('SIGKILL')
  })
}

/** Stops a child we started: SIGTERM, then SIGKILL after `graceMs`. */
export async function stopChild(child: ChildProcess, graceMs = 3000): Promise<void> {
  if (child.exitCode !== null || child.signalCode !== null) return
  const exited = new Promise<void>((r) => child.once('exit', () => r()))
  child.kill('SIGTERM')
  const t = setTimeout(() => child.kill('SIGKILL'), graceMs)
  await exited
  clearTimeout(t)
}

export interface ChildAgent {
  name: string
  id: string
  pid: number
  child: ChildProcess
  stop(): Promise<void>
}

/** One agent as its own OS process, exactly as a device runs it: `node bin/fogmesh.js agent ...`. */
export async function spawnAgent(broker: string, name: string, extraArgs: string[] = []): Promise<ChildAgent> {
  const dir = tempDir(`fm-bench-${name}-`)
  // FM_BENCH_AGENT_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" profiles the agents (NODE_OPTIONS refuses --cpu-prof)
  const nodeArgs = (process.env.FM_BENCH_AGENT_NODE_ARGS ?? '').split(' ').filter(Boolean)
  // an open bench mesh: any requester's signed assignments run (unless the caller says --accept-from)
  const accept = extraArgs.includes('--accept-from') ? [] : ['--accept-from', 'any']
  const argv = [...nodeArgs, join(ROOT, 'bin/fogmesh.js'), 'agent', '--broker', broker, '--data', dir, '--name', name, ...accept, ...extraArgs]
  const child = spawn(process.execPath, argv, {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'pipe'],
    env: { ...process.env, FOGMESH_HOME: dir },
  })
  track(child)
  let out = ''
  let err = ''
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
  const id = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => reject(new Error(`agent ${name} did not come online in 20 s: ${err || out}`)), 20_000)
    child.stdout!.on('data', (d: Buffer) => {
      out += d.toString()
      const m = /agent (\S+) "[^"]*" online/.exec(out)
      if (m) {
        clearTimeout(timer)
        resolve(m[1] as string)
      }
    })
    child.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`agent ${name} exited with ${code}: ${err || out}`))
    })
  })
  return { name, id, pid: child.pid as number, child, stop: () => stopChild(child) }
}

export async function spawnAgents(broker: string, n: number): Promise<ChildAgent[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => spawnAgent(broker, `a${i + 1}`)))
}

export async function inProcessAgents(broker: string, n: number): Promise<Agent[]> {
  const out: Agent[] = []
  for (let i = 1; i <= n; i++) out.push(await startAgent({ broker, name: `a${i}`, dataDir: tempDir(`fm-bench-a${i}-`), acceptFrom: 'any' }))
  return out
}

// ---- Mosquitto -------------------------------------------------------------------

export async function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.once('error', reject)
    s.listen(0, '127.0.0.1', () => {
      const { port } = s.address() as AddressInfo
      s.close(() => resolve(port))
    })
  })
}

async function waitForPort(port: number, timeoutMs: number): Promise<void> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const ok = await new Promise<boolean>((resolve) => {
      const c = createConnection({ port, host: '127.0.0.1' })
      c.once('connect', () => {
        c.destroy()
        resolve(true)
      })
      c.once('error', () => resolve(false))
    })
    if (ok) return
    if (Date.now() > until) throw new Error(`nothing listens on 127.0.0.1:${port} after ${timeoutMs} ms`)
    await sleep(20)
  }
}

export interface Mosquitto {
  url: string
  pid: number
  version: string
  stop(): Promise<void>
}

/** Debian's Mosquitto on a free port with the plainest config, or undefined when it is not installed. */
export async function startMosquitto(extraConfig = ''): Promise<Mosquitto | undefined> {
  if (!existsSync(MOSQUITTO)) return undefined
  const dir = tempDir('fm-bench-mosq-')
  const port = await freePort()
  const conf = join(dir, 'mosquitto.conf')
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\n${extraConfig}`)
  const child = spawn(MOSQUITTO, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
  track(child)
  let err = ''
  child.stderr!.on('data', (d: Buffer) => (err += d.toString()))
  try {
    await waitForPort(port, 5000)
  } catch (e) {
    child.kill('SIGKILL')
    throw new Error(`mosquitto did not start: ${err || (e as Error).message}`)
  }
  const version = await new Promise<string>((resolve) => {
    const v = spawn(MOSQUITTO, ['-h'], { stdio: ['ignore', 'pipe', 'pipe'] })
    let s = ''
    v.stdout!.on('data', (d: Buffer) => (s += d.toString()))
    v.on('exit', () => resolve(/mosquitto version (\S+)/.exec(s)?.[1] ?? '?'))
  })
  return { url: `mqtt://127.0.0.1:${port}`, pid: child.pid as number, version, stop: () => stopChild(child) }
}

// ---- plain MQTT clients ------------------------------------------------------------

/**
 * A plain mqtt.js client, the way a sensor or a script connects: MQTT 3.1.1,
 * default options. `noDelay` turns Nagle off on its socket (the mesh's own
 * clients do that in protocol/transport.ts; mqtt.js leaves it on).
 */
export async function plainClient(url: string, noDelay = true): Promise<MqttClient> {
  const c = await mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, clean: true })
  if (noDelay) (c.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true)
  return c
}

export const closeClient = (c: MqttClient) => c.endAsync(true).catch(() => {})

/** A responder that echoes every request on `reqTopic` to `resTopic` (QoS 0 unless told). */
export async function startEchoResponder(url: string, reqTopic: string, resTopic: string, noDelay = true, qos: 0 | 1 = 0): Promise<MqttClient> {
  const c = await plainClient(url, noDelay)
  c.on('message', (_t, payload) => c.publish(resTopic, payload, { qos }))
  await c.subscribeAsync(reqTopic, { qos })
  return c
}

/** The same echo responder as a child process (bench/echo-responder.ts). */
async function spawnEchoResponder(url: string, reqTopic: string, resTopic: string, qos: 0 | 1): Promise<{ stop(): Promise<void> }> {
  const child = spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/echo-responder.ts'), url, reqTopic, resTopic, String(qos)], {
    cwd: ROOT,
    stdio: ['ignore', 'pipe', 'inherit'],
  })
  track(child)
  await new Promise<void>((resolve, reject) => {
    child.stdout!.on('data', (d: Buffer) => d.toString().includes('ready') && resolve())
    child.once('exit', (code) => reject(new Error(`echo responder exited with ${code}`)))
  })
  return { stop: () => stopChild(child) }
}

/**
 * Raw QoS0 request/response between two plain clients on `url`, `inFlight`
 * requests outstanding at all times. Each request carries `payload` (tagged
 * with a sequence number in its first 8 bytes) and is echoed back.
 */
export async function rawRequestResponse(
  url: string,
  payload: Buffer,
  opts: {
    inFlight: number
    warm: { count?: number; ms?: number }
    measure: { count?: number; ms?: number }
    noDelay?: boolean
    /** Run the responder as its own OS process (the agents' layout) instead of in this one. */
    childResponder?: boolean
    /** QoS of both publishes and subscriptions (default 0, the baseline; 1 is what the mesh uses between its parts). */
    qos?: 0 | 1
  },
): Promise<{ lat: number[]; elapsedMs: number; done: number; cpu: CpuSample }> {
  const tag = Math.random().toString(36).slice(2, 8)
  const reqTopic = `bench/raw/${tag}/req`
  const resTopic = `bench/raw/${tag}/res`
  const noDelay = opts.noDelay ?? true
  const qos = opts.qos ?? 0
  const responder = opts.childResponder ? await spawnEchoResponder(url, reqTopic, resTopic, qos) : await startEchoResponder(url, reqTopic, resTopic, noDelay, qos)
  const requester = await plainClient(url, noDelay)
  await requester.subscribeAsync(resTopic, { qos })
  const sent = new Map<number, number>()
  let seq = 0
  const send = () => {
    const p = Buffer.from(payload)
    const s = seq++
    p.writeDoubleLE(s, 0)
    sent.set(s, performance.now())
    requester.publish(reqTopic, p, { qos })
  }
  const phase = (spec: { count?: number; ms?: number }, record: number[] | undefined) =>
    new Promise<{ done: number; elapsedMs: number }>((resolve) => {
      const start = performance.now()
      let done = 0
      let stopping = false
      const onMsg = (_t: string, p: Buffer) => {
        const t0 = sent.get(p.readDoubleLE(0))
        if (t0 === undefined) return
        sent.delete(p.readDoubleLE(0))
        const now = performance.now()
        done++
        record?.push(now - t0)
        if (!stopping && ((spec.count !== undefined && done >= spec.count) || (spec.ms !== undefined && now - start >= spec.ms))) stopping = true
        if (!stopping) send()
        if (stopping && sent.size === 0) {
          requester.off('message', onMsg)
          resolve({ done, elapsedMs: now - start })
        }
      }
      requester.on('message', onMsg)
      for (let i = 0; i < opts.inFlight; i++) send()
    })
  await phase(opts.warm, undefined)
  const lat: number[] = []
  const cpu = cpuSampler([])
  const r = await phase(opts.measure, lat)
  const cpuResult = cpu.stop()
  await closeClient(requester)
  if ('endAsync' in responder) await closeClient(responder)
  else await responder.stop()
  return { lat, elapsedMs: r.elapsedMs, done: r.done, cpu: cpuResult }
}

// ---- CPU accounting -----------------------------------------------------------------

const TICK_MS = 10 // CLK_TCK is 100 on Linux

/** utime + stime of a process (all its threads), in ms. */
export function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) * TICK_MS
  } catch {
    return NaN
  }
}

export interface CpuSample {
  wallMs: number
  /** CPU ms per process label over the window, this process included as `self`. */
  byProcess: Record<string, number>
}

/** Measures CPU time of this process (precise, from process.cpuUsage) and of the given pids (10 ms ticks). */
export function cpuSampler(pids: Array<{ label: string; pid: number }>): { stop(): CpuSample } {
  const t0 = performance.now()
  const self0 = process.cpuUsage()
  const others0 = pids.map((p) => processCpuMs(p.pid))
  return {
    stop() {
      const self = process.cpuUsage(self0)
      const byProcess: Record<string, number> = { self: (self.user + self.system) / 1000 }
      pids.forEach((p, i) => (byProcess[p.label] = processCpuMs(p.pid) - (others0[i] as number)))
      return { wallMs: performance.now() - t0, byProcess }
    },
  }
}

// ---- the dumb sensor -------------------------------------------------------------------

export interface SensorRun {
  lat: number[]
  done: number
  ok: number
  failed: number
  elapsedMs: number
  errors: Record<string, number>
  perAgent: Record<string, number>
  cpu: CpuSample
  /** The last result payload, for a sanity check. */
  sample?: Record<string, unknown>
}

/**
 * A plain MQTT client acting as a dumb sensor: publishes DESIGN.md's job JSON
 * `{"id","module","input","replyTo"}` on `fm/v1/jobs/submit` (QoS 0, like a
 * bare `mosquitto_pub`), listens on its own replyTo (QoS 0 subscription), and
 * keeps `inFlight` jobs outstanding.
 */
export async function sensorRun(
  url: string,
  module: string,
  input: Buffer,
  opts: {
    inFlight: number
    warm: { count?: number; ms?: number }
    measure: { count?: number; ms?: number }
    pids?: Array<{ label: string; pid: number }>
    noDelay?: boolean
    /** Give up on a phase when no answer came for this long (a lost job). */
    stallMs?: number
  },
): Promise<SensorRun> {
  const tag = Math.random().toString(36).slice(2, 8)
  const replyTo = `sensors/bench-${tag}/results`
  const client = await plainClient(url, opts.noDelay ?? true)
  await client.subscribeAsync(replyTo, { qos: 0 })
  const inputB64 = input.toString('base64')
  const sent = new Map<string, number>()
  let seq = 0
  const send = () => {
    const id = `${tag}-${seq++}`
    sent.set(id, performance.now())
    client.publish('fm/v1/jobs/submit', JSON.stringify({ id, module, input: inputB64, replyTo }), { qos: 0 })
  }
  const stallMs = opts.stallMs ?? 15_000
  const phase = (spec: { count?: number; ms?: number }, run: SensorRun | undefined) =>
    new Promise<{ done: number; elapsedMs: number }>((resolve, reject) => {
      const start = performance.now()
      let done = 0
      let stopping = false
      let last = start
      const watchdog = setInterval(() => {
        if (performance.now() - last > stallMs) {
          cleanup()
          reject(new Error(`sensor: no answer for ${stallMs} ms with ${sent.size} jobs outstanding (done ${done})`))
        }
      }, 500)
      const cleanup = () => {
        clearInterval(watchdog)
        client.off('message', onMsg)
      }
      const onMsg = (_t: string, p: Buffer) => {
        const now = performance.now()
        let r: { id?: unknown; status?: unknown; agent?: unknown; error?: { code?: unknown } }
        try {
          r = JSON.parse(p.toString('utf8'))
        } catch {
          return
        }
        const t0 = typeof r.id === 'string' ? sent.get(r.id) : undefined
        if (t0 === undefined) return
        sent.delete(r.id as string)
        last = now
        done++
        if (run) {
          run.lat.push(now - t0)
          if (r.status === 'ok') {
            run.ok++
            const a = String(r.agent)
            run.perAgent[a] = (run.perAgent[a] ?? 0) + 1
          } else {
            run.failed++
            const c = String(r.error?.code ?? 'unknown')
            run.errors[c] = (run.errors[c] ?? 0) + 1
          }
          run.sample = r as Record<string, unknown>
        } else if (r.status !== 'ok') {
          // warm-up failures are reported too: they mean the mesh is not ready
          warmFailures++
        }
        if (!stopping && ((spec.count !== undefined && done >= spec.count) || (spec.ms !== undefined && now - start >= spec.ms))) stopping = true
        if (!stopping) send()
        if (stopping && sent.size === 0) {
          cleanup()
          resolve({ done, elapsedMs: now - start })
        }
      }
      client.on('message', onMsg)
      for (let i = 0; i < opts.inFlight; i++) send()
    })
  let warmFailures = 0
  await phase(opts.warm, undefined)
  if (warmFailures > 0) console.log(`  (warm-up: ${warmFailures} jobs failed)`)
  const run: SensorRun = { lat: [], done: 0, ok: 0, failed: 0, elapsedMs: 0, errors: {}, perAgent: {}, cpu: { wallMs: 0, byProcess: {} } }
  const cpu = cpuSampler(opts.pids ?? [])
  const r = await phase(opts.measure, run)
  run.cpu = cpu.stop()
  run.done = r.done
  run.elapsedMs = r.elapsedMs
  await closeClient(client)
  return run
}

/** Publishes a module the way `fogmesh module add` does: retained, QoS 1, on fm/v1/modules/<sha256>. */
export async function publishModule(url: string, bytes: Uint8Array): Promise<string> {
  const { createHash } = await import('node:crypto')
  const sha = createHash('sha256').update(bytes).digest('hex')
  const c = await plainClient(url)
  await c.publishAsync(`fm/v1/modules/${sha}`, Buffer.from(bytes), { qos: 1, retain: true })
  await closeClient(c)
  return sha
}
