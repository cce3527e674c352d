/**
 * A real `fogmesh broker` process (gateway inside, contained) on port 0 with
 * one in-process agent and an honest sensor, for the hostile-client tests:
 * the broker's RSS from /proc, honest jobs one at a time through the
 * gateway (during an attack and after it), and the broker's output to check
 * which limit bit.
 */
import { readFileSync } from 'node:fs'
import type { MqttClient } from 'mqtt'
import { startAgent, type Agent } from '../../agent/agent.ts'
import * as fx from '../fixtures/engine/modules.ts'
import { stopChild } from './child-processes.ts'
import { fogmeshDaemon, type Daemon } from './fogmesh-cli.ts'
import { collect, plainClient, type Received } from './mqtt-clients.ts'
import { sha256 } from './sha256.ts'
import { tmpDir } from './temp-dirs.ts'
import { waitFor } from './wait.ts'

export interface HonestRun {
  latencies: number[]
  failed: number
  /** The first few failures, for the assertion message. */
  errors: string[]
  p99: number
}

export interface HostileMesh {
  daemon: Daemon
  url: string
  port: number
  agent: Agent
  sensor: MqttClient
  /** VmRSS of the broker process, MiB. */
  rssMiB(): number
  /** One honest job through the gateway; its latency in ms (throws if it is not answered ok in `timeoutMs`). */
  honestJob(timeoutMs?: number): Promise<number>
  /** Honest jobs one after another while `attack` runs (and at least `min` of them). */
  during(attack: () => Promise<void>, min?: number): Promise<HonestRun>
  /** Output of the broker process so far. */
  output(): string
  close(): Promise<void>
}

const percentile = (xs: number[], p: number) => {
  const s = [...xs].sort((a, b) => a - b)
  return s.length ? s[Math.min(s.length - 1, Math.ceil((p / 100) * s.length) - 1)]! : NaN
}

/**
 * glibc raises its mmap threshold after a large buffer is freed, and then keeps freed megabyte
 * buffers in its heap instead of giving them back: RSS would show memory the broker no longer
 * holds. A fixed threshold (README, Limits: the setting for a broker on a small device) makes
 * RSS follow what is live.
 */
const MALLOC_ENV = { MALLOC_MMAP_THRESHOLD_: '32768' }

/**
 * Busy traffic before the baseline: V8 grows each isolate's young generation with the
 * allocation rate (up to ~48 MiB), once, and keeps it. Measured from an idle broker, any busy
 * minute would look like 30+ MiB of growth; measured after this, growth is what an attack left.
 * QoS 0 through the broker to a subscriber, and refused submissions through the gateway's isolate.
 */
async function warmUp(url: string): Promise<void> {
  const sub = await plainClient(url)
  await sub.subscribeAsync('warmup/#')
  const pub = await plainClient(url)
  const chunk = Buffer.alloc(8192, 0x61)
  const junk = JSON.stringify({ id: 'warm', module: 'nope', input: chunk.toString('base64') })
  for (let i = 0; i < 3000; i++) {
    pub.publish('warmup/x', chunk)
    pub.publish('fm/v1/jobs/submit', junk)
    if (i % 100 === 0) await new Promise((r) => setImmediate(r))
  }
  await pub.publishAsync('warmup/x', 'end', { qos: 1 })
  await pub.endAsync()
  await sub.endAsync()
}

export async function startHostileMesh(flags: string[]): Promise<HostileMesh> {
  const daemon = await fogmeshDaemon(['broker', '--port', '0', '--ws-port', '0', '--host', '127.0.0.1', '--no-console', ...flags], /gateway listening/, { timeoutMs: 60_000, env: MALLOC_ENV })
  const m = /broker\s+mqtt:\/\/127\.0\.0\.1:(\d+)/.exec(daemon.output())
  if (!m) throw new Error(`no broker URL in: ${daemon.output()}`)
  const port = Number(m[1])
  const url = `mqtt://127.0.0.1:${port}`
  // the agent takes work from the broker's gateway (the requester id it prints)
  const gw = /requester id ([0-9a-f]{20})/.exec(daemon.output())
  if (!gw) throw new Error(`no gateway requester id in: ${daemon.output()}`)
  const agent = await startAgent({ broker: url, dataDir: tmpDir('fm-hostile-agent-'), name: 'honest', slots: 2, isolation: 'thread', acceptFrom: [gw[1]!] })
  const sensor = await plainClient(url, { clientId: 'honest-sensor' })
  const replies: Received[] = collect(sensor)
  await sensor.subscribeAsync('honest/replies', { qos: 1 })
  const echo = fx.echo().bytes
  const module = sha256(echo)
  await sensor.publishAsync(`fm/v1/modules/${module}`, Buffer.from(echo), { qos: 1, retain: true })
  let seq = 0
  const pid = daemon.proc.pid!

  const honestJob = async (timeoutMs = 30_000) => {
    const id = `honest-${seq++}`
    const started = performance.now()
    sensor.publish('fm/v1/jobs/submit', JSON.stringify({ id, module, input: Buffer.from('hello').toString('base64'), replyTo: 'honest/replies' }), { qos: 1 })
    const reply = await waitFor(() => replies.find((r) => r.payload.includes(`"${id}"`)), timeoutMs, `the answer to ${id}`)
    replies.splice(replies.indexOf(reply), 1)
    const r = JSON.parse(reply.payload.toString())
    if (r.status !== 'ok') throw new Error(`honest job ${id} failed: ${JSON.stringify(r.error)}`)
    return performance.now() - started
  }
  // the gateway sees the agent, and the path is warm
  await waitFor(async () => {
    try {
      await honestJob(5000)
      return true
    } catch {
      return false
    }
  }, 60_000, 'a first honest job')
  await warmUp(url)
  for (let i = 0; i < 20; i++) await honestJob()

  return {
    daemon,
    url,
    port,
    agent,
    sensor,
    rssMiB: () => Number(/VmRSS:\s+(\d+)/.exec(readFileSync(`/proc/${pid}/status`, 'utf8'))![1]) / 1024,
    honestJob,
    async during(attack, min = 3) {
      const latencies: number[] = []
      const errors: string[] = []
      let failed = 0
      let done = false
      const loop = (async () => {
        while (!done || latencies.length + failed < min) {
          try {
            latencies.push(await honestJob())
          } catch (err) {
            failed++
            if (errors.length < 3) errors.push((err as Error).message)
          }
        }
      })()
      try {
        await attack()
      } finally {
        done = true
        await loop
      }
      return { latencies, failed, errors, p99: percentile(latencies, 99) }
    },
    output: () => daemon.output(),
    async close() {
      await sensor.endAsync(true).catch(() => {})
      await agent.close({ graceMs: 100 }).catch(() => {})
      await stopChild(daemon.proc)
    },
  }
}
