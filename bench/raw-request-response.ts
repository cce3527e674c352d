/**
 * The baseline the mesh's round trips are measured against: raw MQTT
 * request/response between two plain clients on the same broker, the
 * responder in this process or in its own (bench/echo-responder.ts).
 */
import { spawn } from 'node:child_process'
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import { stopChild, trackChild } from '../test/support/child-processes.ts'
import { closeClient, plainClient } from '../test/support/mqtt-clients.ts'
import { ROOT } from '../test/support/paths.ts'
import { cpuSampler, type CpuSample } from './cpu.ts'

/** A responder that echoes every request on `reqTopic` to `resTopic` (QoS 0 unless told). */
export async function startEchoResponder(url: string, reqTopic: string, resTopic: string, noDelay = true, qos: 0 | 1 = 0): Promise<MqttClient> {
  const c = await plainClient(url, { noDelay })
  c.on('message', (_t, payload) => c.publish(resTopic, payload, { qos }))
  await c.subscribeAsync(reqTopic, { qos })
  return c
}

/** The same echo responder as a child process (bench/echo-responder.ts). */
async function spawnEchoResponder(url: string, reqTopic: string, resTopic: string, qos: 0 | 1): Promise<{ stop(): Promise<void> }> {
  const child = trackChild(
    spawn(process.execPath, ['--import', 'tsx', join(ROOT, 'bench/echo-responder.ts'), url, reqTopic, resTopic, String(qos)], {
      cwd: ROOT,
      stdio: ['ignore', 'pipe', 'inherit'],
    }),
  )
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
  const requester = await plainClient(url, { noDelay })
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
