/**
 * Shared test helpers: real brokers on port 0, temp dirs, polling waits,
 * WAT → wasm through wabt, and the rule for external components (fail under
 * CI when missing, skip with a note elsewhere).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { createServer } from 'node:net'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import mqtt, { type MqttClient } from 'mqtt'
import { startBroker, type Broker, type BrokerOptions } from '../broker/broker.ts'

const dirs: string[] = []
export function tmpDir(prefix = 'fm-test-'): string {
  const d = mkdtempSync(join(tmpdir(), prefix))
  dirs.push(d)
  return d
}
process.on('exit', () => {
  for (const d of dirs) rmSync(d, { recursive: true, force: true })
})

export function testBroker(options: BrokerOptions = {}): Promise<Broker> {
  return startBroker({ port: 0, wsPort: 0, host: '127.0.0.1', ...options })
}

export async function waitFor<T>(fn: () => T | undefined | false | Promise<T | undefined | false>, timeoutMs = 5000, what = 'condition'): Promise<T> {
  const until = Date.now() + timeoutMs
  for (;;) {
    const v = await fn()
    if (v) return v
    if (Date.now() > until) throw new Error(`timed out after ${timeoutMs} ms waiting for ${what}`)
    await new Promise((r) => setTimeout(r, 10))
  }
}

export const sleep = (ms: number) => new Promise((r) => setTimeout(r, ms))

/** A plain MQTT client, the way a sensor or a script would connect. */
export async function plainClient(url: string, opts: mqtt.IClientOptions = {}): Promise<MqttClient> {
  return mqtt.connectAsync(url, { protocolVersion: 4, reconnectPeriod: 0, ...opts })
}

/** Collects messages on a topic filter. */
export function collect(client: MqttClient): Array<{ topic: string; payload: Buffer; retain: boolean }> {
  const got: Array<{ topic: string; payload: Buffer; retain: boolean }> = []
  client.on('message', (topic, payload, packet) => got.push({ topic, payload, retain: packet.retain }))
  return got
}

/** An external program the tests need: under CI a missing one fails the test; elsewhere it is skipped. */
export function requireProgram(name: string): string | undefined {
  for (const dir of ['/usr/sbin', '/usr/bin', '/usr/local/bin', '/usr/local/sbin']) {
    const r = spawnSync('test', ['-x', join(dir, name)])
    if (r.status === 0) return join(dir, name)
  }
  if (process.env.CI) throw new Error(`${name} is required under CI but is not installed (apt-get install it in .ci/run)`)
  console.warn(`skipping: ${name} is not installed`)
  return undefined
}

export function freePort(): Promise<number> {
  return new Promise((resolve, reject) => {
    const s = createServer()
    s.listen(0, '127.0.0.1', () => {
      const port = (s.address() as { port: number }).port
      s.close(() => resolve(port))
    })
    s.on('error', reject)
  })
}

/** Starts Debian's Mosquitto on a free loopback port; resolves once it accepts connections. */
export async function startMosquitto(bin: string): Promise<{ url: string; proc: ChildProcess; stop: () => Promise<void> }> {
  const port = await freePort()
  const dir = tmpDir('fm-mosq-')
  const conf = join(dir, 'mosquitto.conf')
  const { writeFileSync } = await import('node:fs')
  writeFileSync(conf, `listener ${port} 127.0.0.1\nallow_anonymous true\npersistence false\nmax_packet_size 20000000\nset_tcp_nodelay true\n`)
  const proc = spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] })
  let stderr = ''
  proc.stderr?.on('data', (d) => (stderr += d))
  const url = `mqtt://127.0.0.1:${port}`
  await waitFor(async () => {
    if (proc.exitCode !== null) throw new Error(`mosquitto exited: ${stderr}`)
    try {
      const c = await plainClient(url, { connectTimeout: 300 })
      await c.endAsync()
      return true
    } catch {
      return false
    }
  }, 10_000, 'mosquitto to accept connections')
  return {
    url,
    proc,
    stop: () => new Promise<void>((resolve) => {
      if (proc.exitCode !== null) return resolve()
      proc.once('exit', () => resolve())
      proc.kill('SIGTERM')
    }),
  }
}
