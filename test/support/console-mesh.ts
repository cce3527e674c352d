/**
 * A real mesh with its console, for the console's tests: the embedded broker
 * on port 0, the console server (page, /mqtt, /metrics, alerts), the gateway
 * with its telemetry, N `fogmesh agent` processes (each publishing its own
 * telemetry) with site and lat/lon labels, and a plain-MQTT sensor submitting
 * jobs at a steady pace (bounded: it stops when closed, and at `maxJobs`).
 */
import { spawnSync } from 'node:child_process'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import type { MqttClient } from 'mqtt'
import type { Broker } from '../../broker/broker.ts'
import { startConsole, type ConsoleServer } from '../../console/server.ts'
import { startGateway, type Gateway } from '../../market/gateway.ts'
import { RequesterTelemetry } from '../../market/telemetry.ts'
import { spawnAgent, type AgentProcess } from './agents.ts'
import { echo } from '../fixtures/engine/modules.ts'
import { plainClient } from './mqtt-clients.ts'
import { testBroker } from './test-broker.ts'

export interface ConsoleMesh {
  broker: Broker
  web: ConsoleServer
  gateway: Gateway
  telemetry: RequesterTelemetry
  agents: AgentProcess[]
  sensor: MqttClient
  /** sha256 of the echo module the sensor runs. */
  module: string
  /** Submits one job from the sensor. */
  submit(id: string, module?: string): Promise<void>
  close(): Promise<void>
}

const root = fileURLToPath(new URL('../..', import.meta.url))

/** Builds the page when console/dist/ is missing or older than its sources (`npm install` builds it too). */
export function ensureConsoleBuilt(): void {
  const app = join(root, 'console', 'dist', 'app.js')
  const web = join(root, 'console', 'web')
  const newest = Math.max(...readdirSync(web).map((f) => statSync(join(web, f)).mtimeMs))
  if (existsSync(app) && statSync(app).mtimeMs >= newest) return
  const r = spawnSync(process.execPath, [join(root, 'console', 'build.js')], { encoding: 'utf8' })
  if (r.status !== 0) throw new Error(`console build failed: ${r.stderr}`)
}

export const SITES = [
  { site: 'depot-3', lat: 52.5205, lon: 13.4095 },
  { site: 'harbour', lat: 52.5101, lon: 13.3902 },
]

export async function startConsoleMesh(opts: { agents?: number; intervalMs?: number; maxJobs?: number; agentArgs?: (i: number) => string[] } = {}): Promise<ConsoleMesh> {
  ensureConsoleBuilt()
  const broker = await testBroker()
  const web = await startConsole({ broker, port: 0, alerts: { evalMs: 200 } })
  const gateway = await startGateway({ broker: broker.url })
  const telemetry = new RequesterTelemetry(gateway.requester, gateway.requester.connection, { kind: 'gateway' }).attachGateway(gateway).start()
  const n = opts.agents ?? 3
  const agents: AgentProcess[] = []
  try {
    // one after another (a loaded machine starts them faster so), each kept as it comes up
    for (let i = 0; i < n; i++) {
      const s = SITES[i % SITES.length]!
      const labels = `site=${s.site},lat=${(s.lat + i * 0.0007).toFixed(5)},lon=${(s.lon + i * 0.0009).toFixed(5)}`
      agents.push(await spawnAgent(broker.url, `agent-${i + 1}`, ['--slots', '1', '--heartbeat-ms', '500', '--labels', labels, ...(opts.agentArgs?.(i) ?? [])]))
    }
    await gateway.requester.directory.waitFor(n, 20_000)
  } catch (err) {
    await Promise.all(agents.map((a) => a.kill()))
    telemetry.stop()
    await gateway.close()
    await web.close()
    await broker.close()
    throw err
  }
  const module = await gateway.requester.publishModule(echo().bytes)
  const sensor = await plainClient(broker.url, { reconnectPeriod: 500 })
  await sensor.subscribeAsync('console-test/replies', { qos: 1 })
  const submit = async (id: string, m = module) => {
    await sensor.publishAsync('fm/v1/jobs/submit', JSON.stringify({ id, module: m, input: Buffer.from(`reading ${id}`).toString('base64'), replyTo: 'console-test/replies' }), { qos: 1 })
  }
  let seq = 0
  const maxJobs = opts.maxJobs ?? 5000
  const timer = setInterval(() => {
    if (seq >= maxJobs || !sensor.connected) return
    submit(`job-${++seq}`).catch(() => {})
  }, opts.intervalMs ?? 100)
  const mesh: ConsoleMesh = {
    broker,
    web,
    gateway,
    telemetry,
    agents,
    sensor,
    module,
    submit,
    async close() {
      clearInterval(timer)
      await sensor.endAsync(true).catch(() => {})
      await Promise.all(agents.map((a) => a.kill()))
      mesh.telemetry.stop()
      await mesh.gateway.close()
      await mesh.web.close()
      await mesh.broker.close()
    },
  }
  return mesh
}
