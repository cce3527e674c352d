/**
 * A plain MQTT client acting as a dumb sensor against a running mesh, keeping
 * a number of jobs in flight and recording each round trip; and publishing a
 * module the way `fogmesh module add` does.
 */
import { closeClient, plainClient } from '../test/support/mqtt-clients.ts'
import { sha256 } from '../test/support/sha256.ts'
import { cpuSampler, type CpuSample } from './cpu.ts'

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
 * A plain MQTT client acting as a dumb sensor: publishes docs/contract.md's job JSON
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
  const client = await plainClient(url, { noDelay: opts.noDelay ?? true })
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
  const sha = sha256(bytes)
  const c = await plainClient(url)
  await c.publishAsync(`fm/v1/modules/${sha}`, Buffer.from(bytes), { qos: 1, retain: true })
  await closeClient(c)
  return sha
}
