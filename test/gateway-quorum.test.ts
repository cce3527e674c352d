/**
 * Redundancy for plain-MQTT sensors, all real and no chain: Debian's Mosquitto, `fogmesh gateway`
 * and three `fogmesh agent` processes, plus a lying agent process (TEST ONLY: one job in two
 * flipped, correctly signed; price 0, so the pick rule takes it first). A plain mqtt.js client —
 * what a sensor is — publishes jobs with `"redundancy": 3` to fm/v1/jobs/submit and checks each
 * answer on its own: the output is right, and the quorum certificate verifies against the agent
 * keys it read from retained presence, with no trust in the gateway. Where the liar lied it is
 * outvoted (counted as dissenting, never among the agreeing), and `fogmesh status --json` shows
 * the reputation the gateway kept: the liar's mismatches, the honest agents trusted more.
 *
 *   node --import tsx test/gateway-quorum.test.ts
 */
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { quorumCertificateSchema, verifyQuorumCertificate } from '../protocol/quorum-certificate.ts'
import { topics } from '../protocol/topics.ts'
import { decodeJson } from '../protocol/validate.ts'
import { modulePath } from '../wasm-modules/index.ts'
import { spawnAgent, type AgentProcess } from './support/agents.ts'
import { liesOn } from './support/dishonest-executor.ts'
import { fogmeshDaemon, runFogmesh, showRun, type Daemon } from './support/fogmesh-cli.ts'
import { startMosquitto, type Mosquitto } from './support/mosquitto.ts'
import { closeClient, collect, plainClient } from './support/mqtt-clients.ts'
import { requireProgram, testNeeding } from './support/programs.ts'
import { stopChild } from './support/child-processes.ts'
import { sha256 } from './support/sha256.ts'
import { tmpDir } from './support/temp-dirs.ts'
import { spawnLyingAgent } from './support/verified-agents.ts'
import { waitFor } from './support/wait.ts'

const SEED = 'gw'
const JOBS = 6
const REPLY_TO = 'sensors/pm25-7/results'
const t = testNeeding(test, 'mosquitto')

setTimeout(() => {
  console.error('gateway-quorum.test.ts: watchdog fired after 150 s; exiting')
  process.exit(1)
}, 150_000).unref()

let mosq: Mosquitto | undefined
let gateway: Daemon | undefined
const agents: AgentProcess[] = []
let sensor: MqttClient | undefined

t.after(async () => {
  if (sensor) await closeClient(sensor)
  await stopChild(gateway?.proc)
  await Promise.all(agents.map((a) => a.stop().catch(() => {})))
  await mosq?.stop()
})

t('a sensor submits redundancy 3 through the gateway: right answers, each with a quorum certificate it checks itself; the liar is outvoted', async () => {
  mosq = await startMosquitto(requireProgram('mosquitto'))
  const home = tmpDir('fm-gw-quorum-')
  const env = { FOGMESH_HOME: home }
  const spawned = await Promise.all([
    ...['h1', 'h2', 'h3'].map((n) => spawnAgent(mosq!.url, n, ['--slots', '1', '--isolation', 'thread', '--price', '1', '--no-telemetry'])),
    spawnLyingAgent(mosq.url, 'liar', { lieEvery: 2, lieSeed: SEED, price: 0 }),
  ])
  agents.push(...spawned)
  const liar = spawned[3]!
  gateway = await fogmeshDaemon(['gateway', '--broker', mosq.url, '--reputation', join(home, 'reputation.json')], /listening on fm\/v1\/jobs\/submit/, { env })
  const file = modulePath('sha256')
  const added = await runFogmesh(['module', 'add', file, '--broker', mosq.url], { env })
  assert.is(added.code, 0, showRun(added))
  const module = added.stdout.trim()

  // the sensor knows the agents' keys from their retained presence, not from the gateway
  sensor = await plainClient(mosq.url)
  const got = collect(sensor)
  await sensor.subscribeAsync([topics.presenceWildcard, REPLY_TO], { qos: 1 })
  const keys = new Map<string, string>()
  await waitFor(() => {
    for (const m of got.filter((m) => m.topic.endsWith('/presence'))) {
      const p = JSON.parse(m.payload.toString()) as { id?: string; publicKey?: string; status?: string }
      if (p.id && p.publicKey && p.status === 'online') keys.set(p.id, p.publicKey)
    }
    return keys.size >= 4
  }, 20_000, 'four agents present')
  // the gateway's directory must hold all four before the first job, or a copy may find nobody left
  await new Promise((r) => setTimeout(r, 2500))

  let dissents = 0
  for (let i = 0; i < JOBS; i++) {
    const input = `pm25=${12 + i}`
    await sensor.publishAsync(topics.submit, JSON.stringify({ id: `r${i}`, module, input: Buffer.from(input).toString('base64'), replyTo: REPLY_TO, redundancy: 3 }), { qos: 1 })
    const reply = await waitFor(() => got.find((m) => m.topic === REPLY_TO && (JSON.parse(m.payload.toString()) as { id?: string }).id === `r${i}`), 60_000, `the answer to r${i}`)
    const answer = JSON.parse(reply.payload.toString()) as { status: string; output?: string; jobId: string; quorum?: unknown }
    assert.is(answer.status, 'ok', reply.payload.toString())
    assert.is(Buffer.from(answer.output!, 'base64').toString(), `${sha256(input)}\n`, `r${i}: the right output, whoever lied`)
    const decoded = decodeJson(JSON.stringify(answer.quorum ?? null), quorumCertificateSchema)
    if (!decoded.ok) throw new Error(`r${i}: no valid quorum certificate (${decoded.error.message}): ${reply.payload.toString()}`)
    const qc = decoded.value
    assert.is(qc.id, answer.jobId)
    assert.is(qc.outputSha256, sha256(Buffer.from(answer.output!, 'base64')), 'the certificate is about this output')
    const check = verifyQuorumCertificate(qc, { keys: (a) => keys.get(a) })
    assert.ok(check.ok, `r${i}: ${check.ok ? '' : check.reason}`)
    assert.ok(qc.agreeing.length >= 2 && qc.redundancy === 3)
    if (liesOn(answer.jobId, SEED, 2)) {
      assert.not.ok(check.ok && check.agents.includes(liar.id), `r${i}: the liar lied and is not among the agreeing`)
      if (qc.dissenting > 0) {
        dissents++
        assert.ok(qc.agreeing.length >= 3, `r${i}: a contested job stands on 3 agreeing agents`)
      }
    } else {
      assert.is(qc.dissenting, 0, `r${i}: nobody lied, nobody dissented`)
    }
  }
  assert.ok(dissents >= 1, 'the liar (picked first: price 0) lied at least once and was outvoted')
  await stopChild(gateway.proc) // a clean stop writes the reputation book
  assert.match(gateway.output(), /verify {3}spot checks 0\.0%/)
  assert.match(gateway.output(), new RegExp(`^verify {3}r\\d@[0-9a-f]{12}: ${liar.id} outvoted by [34] agreeing`, 'm'), 'the gateway tells its operator who was outvoted')

  // what the gateway saw of each agent, from `fogmesh status --json` on the same machine
  const status = await runFogmesh(['status', '--broker', mosq.url, '--json', '--listen', '1500', '--reputation', join(home, 'reputation.json')], { env })
  assert.is(status.code, 0, showRun(status))
  type Row = { id: string; reputation?: { accepted: number; mismatched: number; trust: number; latencyMs: number } }
  const rows = new Map((JSON.parse(status.stdout) as Row[]).map((r) => [r.id, r.reputation]))
  const liarRep = rows.get(liar.id)
  assert.ok(liarRep && liarRep.mismatched >= dissents, `the liar's mismatches are on record: ${JSON.stringify(liarRep)}`)
  const honest = spawned.slice(0, 3).map((a) => rows.get(a.id)).filter((r) => r !== undefined)
  assert.ok(honest.length >= 2 && honest.every((r) => r.mismatched === 0 && r.accepted >= 1 && r.latencyMs > 0), JSON.stringify(honest))
  assert.ok(honest.every((r) => r.trust > liarRep.trust), 'every honest agent is trusted more than the liar')
})

t.run()
