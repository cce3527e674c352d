/**
 * A well-behaved sensor is never left waiting: `fogmesh broker` (broker and
 * its gateway), agents as processes, one plain-MQTT sensor keeping 32 jobs in
 * flight (a new one each time one is answered, QoS 0 like a bare
 * mosquitto_pub) faster than its sensor rate. Every job is answered.
 *
 * The regression: the gateway refused jobs over `jobsPerSecondPerSensor`, the
 * quick `overloaded` answers made the sensor send again at once, and past
 * `refusalsPerSecondPerSensor` the refusals went unanswered — jobs the sensor
 * waited for forever, until all 32 were gone (the throughput bench's gateway
 * row "no answer for 15000 ms with 32 jobs outstanding"). Now a job over the
 * rate waits in its sensor's queue. The rate is set low here (20/s) so that
 * any machine's gateway outruns it; the test counts answers, it times nothing.
 */
import { join } from 'node:path'
import { readFileSync } from 'node:fs'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { spawnAgents, type AgentProcess } from './support/agents.ts'
import { fogmeshDaemon, type Daemon } from './support/fogmesh-cli.ts'
import { closeClient, plainClient } from './support/mqtt-clients.ts'
import { ROOT } from './support/paths.ts'
import { freePort } from './support/ports.ts'
import { sha256 } from './support/sha256.ts'
import { tmpDir } from './support/temp-dirs.ts'

const ECHO = readFileSync(join(ROOT, 'wasm-modules/dist/echo.wasm'))
const N = 120
const IN_FLIGHT = 32
const RATE = 20
/** Answers stop coming for this long: the jobs still out are lost (a bound on the test, not a measurement). */
const QUIET_MS = 20_000

let daemon: Daemon | undefined
let agents: AgentProcess[] = []

test.after(async () => {
  await Promise.all(agents.map((a) => a.stop()))
  if (daemon) {
    daemon.proc.kill('SIGTERM')
    await new Promise((r) => daemon!.proc.once('exit', r))
  }
})

test(`one sensor, ${IN_FLIGHT} jobs in flight, faster than its rate (${RATE}/s): all ${N} jobs answered ok, none refused`, async () => {
  const port = await freePort()
  const url = `mqtt://127.0.0.1:${port}`
  daemon = await fogmeshDaemon(
    ['broker', '--data', tmpDir('fm-closed-loop-'), '--port', String(port), '--ws-port', '0', '--host', '127.0.0.1', '--no-console', '--jobs-per-second-per-sensor', String(RATE)],
    /gateway listening/,
  )
  agents = await spawnAgents(url, 2)
  const c = await plainClient(url)
  const module = sha256(ECHO)
  await c.publishAsync(`fm/v1/modules/${module}`, ECHO, { qos: 1, retain: true })
  const replyTo = 'sensors/closed-loop/results'
  await c.subscribeAsync(replyTo, { qos: 0 })
  const outstanding = new Set<string>()
  const statuses: Record<string, number> = {}
  let sent = 0
  let answered = 0
  const send = () => {
    const id = `j${sent++}`
    outstanding.add(id)
    c.publish('fm/v1/jobs/submit', JSON.stringify({ id, module, input: Buffer.from(id).toString('base64'), replyTo }), { qos: 0 })
  }
  try {
    await new Promise<void>((resolve, reject) => {
      let quiet: NodeJS.Timeout | undefined
      const arm = () => {
        clearTimeout(quiet)
        quiet = setTimeout(() => reject(new Error(`no answer for ${QUIET_MS} ms: ${outstanding.size} jobs outstanding, ${answered} answered ${JSON.stringify(statuses)}`)), QUIET_MS)
      }
      c.on('message', (_t, p) => {
        const r = JSON.parse(p.toString()) as { id: string; status: string; error?: { code: string } }
        if (!outstanding.delete(r.id)) return
        answered++
        const k = r.status === 'ok' ? 'ok' : (r.error?.code ?? 'error')
        statuses[k] = (statuses[k] ?? 0) + 1
        arm()
        if (sent < N) send()
        else if (outstanding.size === 0) {
          clearTimeout(quiet)
          resolve()
        }
      })
      arm()
      for (let i = 0; i < IN_FLIGHT; i++) send()
    })
    assert.equal(statuses, { ok: N }, 'every job answered ok (none refused overloaded for the rate)')
  } finally {
    await closeClient(c)
  }
})

test.run()
