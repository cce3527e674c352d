// docs/contract.md: "Any MQTT 3.1.1 broker works." The mesh on Debian's Mosquitto: the
// standalone gateway (`fogmesh gateway` as a child process), agents, and jobs from
// a plain mqtt.js client and from mosquitto_pub / mosquitto_sub, the way a dumb
// sensor or a shell script would send them. Without Mosquitto the tests are skipped,
// unless CI is set: then they fail.
//   node --import tsx test/mosquitto.test.ts
import { spawn, type ChildProcess } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startAgent, type Agent } from '../agent/agent.ts'
import { loadOrCreateIdentityFile } from '../protocol/identity.ts'
import { verifyStatement } from '../protocol/signed-statement.ts'
import { verifyResult } from '../protocol/signature.ts'
import { modulePath } from '../wasm-modules/index.ts'
import { stopChild, trackChild } from './support/child-processes.ts'
import { fogmeshDaemon, type Daemon } from './support/fogmesh-cli.ts'
import { startMosquitto, type Mosquitto } from './support/mosquitto.ts'
import { collect, plainClient } from './support/mqtt-clients.ts'
import { requireProgram, testNeeding } from './support/programs.ts'
import { sha256 } from './support/sha256.ts'
import { tmpDir } from './support/temp-dirs.ts'
import { waitFor } from './support/wait.ts'

const home = tmpDir('fm-mosq-home-')
const ROLLING = readFileSync(modulePath('rolling-stats'))
const ROLLING_SHA = sha256(ROLLING)
/** The tests on Mosquitto: skipped with the reason when it is not installed, failing under CI. */
const mosquittoTest = testNeeding(test, 'mosquitto')
/** The README's shell flow also needs Debian's mosquitto-clients. */
const shellTest = testNeeding(test, 'mosquitto', 'mosquitto_pub', 'mosquitto_sub')

setTimeout(() => {
  console.error('mosquitto.test.ts: watchdog fired after 120 s; killing children and exiting')
  process.exit(1)
}, 120_000).unref()

// ---- the mesh on Mosquitto, shared by the tests below -------------------------

let mosq: Mosquitto | undefined
let gateway: Daemon | undefined
let victim: Daemon | undefined
const agents: Agent[] = []
let client: MqttClient | undefined

test.after(async () => {
  await client?.endAsync().catch(() => {})
  await stopChild(victim?.proc, { signal: 'SIGKILL' })
  await Promise.all(agents.map((a) => a.close({ graceMs: 500 }).catch(() => {})))
  await stopChild(gateway?.proc)
  await mosq?.stop()
})

/** Agents' presences as a plain client sees them (retained), by agent id. */
async function presences(url: string): Promise<Map<string, Record<string, any>>> {
  const c = await plainClient(url)
  try {
    const got = collect(c)
    await c.subscribeAsync('fm/v1/agents/+/presence', { qos: 1 })
    await new Promise((r) => setTimeout(r, 200))
    const out = new Map<string, Record<string, any>>()
    for (const m of got) if (m.payload.length) out.set(m.topic.split('/')[3]!, JSON.parse(m.payload.toString('utf8')))
    return out
  } finally {
    await c.endAsync()
  }
}

/** Publishes docs/contract.md's job JSON on fm/v1/jobs/submit and waits for the answer on replyTo. */
async function plainJob(c: MqttClient, input: string, moduleSha = ROLLING_SHA): Promise<Record<string, any>> {
  const id = `job-${randomBytes(6).toString('hex')}`
  const replyTo = `test/replies/${id}`
  const got = new Promise<Record<string, any>>((resolve) => {
    const on = (topic: string, payload: Buffer) => {
      if (topic !== replyTo) return
      c.off('message', on)
      resolve(JSON.parse(payload.toString('utf8')) as Record<string, any>)
    }
    c.on('message', on)
  })
  await c.subscribeAsync(replyTo, { qos: 1 })
  const job = { id, module: moduleSha, input: Buffer.from(input).toString('base64'), replyTo }
  await c.publishAsync('fm/v1/jobs/submit', JSON.stringify(job), { qos: 1 })
  let timer: NodeJS.Timeout | undefined
  const res = await Promise.race([
    got,
    new Promise<never>((_, reject) => (timer = setTimeout(() => reject(new Error(`no result on ${replyTo} within 15 s`)), 15_000))),
  ]).finally(() => clearTimeout(timer))
  await c.unsubscribeAsync(replyTo)
  assert.is(res.id, id, 'the result carries the job id')
  return res
}

/** The first job right after start may beat the gateway to the agents' presence: retry no_agents briefly. */
async function firstJob(c: MqttClient, input: string): Promise<Record<string, any>> {
  const until = Date.now() + 5000
  for (;;) {
    const res = await plainJob(c, input)
    if (res.status !== 'error' || res.error?.code !== 'no_agents' || Date.now() > until) return res
    await new Promise((r) => setTimeout(r, 200))
  }
}

function mustHaveMesh(): { url: string; port: string } {
  if (!mosq || !gateway || agents.length < 2 || !client) throw new Error('the mesh on Mosquitto did not start (see the first failing test)')
  return { url: mosq.url, port: new URL(mosq.url).port }
}

mosquittoTest('a plain MQTT client gets a signed result through Mosquitto and `fogmesh gateway`', async () => {
  mosq = await startMosquitto(requireProgram('mosquitto'), 'max_packet_size 20000000\nset_tcp_nodelay true\n')
  const url = mosq.url
  // two agents (in-process) that take work from the gateway's requester id, then the standalone gateway as a child process
  const gatewayId = loadOrCreateIdentityFile(join(home, 'gateway', 'identity.json'), 'fogmesh-requester-identity').id
  for (const name of ['m1', 'm2']) agents.push(await startAgent({ broker: url, name, dataDir: tmpDir(`fm-mosq-${name}-`), slots: 1, acceptFrom: [gatewayId] }))
  gateway = await fogmeshDaemon(['gateway', '--broker', url], /^gateway on mqtt:\/\/\S+: listening on fm\/v1\/jobs\/submit$/m, { home })

  client = await plainClient(url)
  // deploying a module is a retained publish, nothing more
  await client.publishAsync(`fm/v1/modules/${ROLLING_SHA}`, ROLLING, { qos: 1, retain: true })

  const res = await firstJob(client, '1\n2\n3\n4')
  assert.is(res.status, 'ok', JSON.stringify(res))
  const output = Buffer.from(res.output as string, 'base64')
  const stats = JSON.parse(output.toString('utf8')) as { count: number; mean: number; max: number }
  assert.is(stats.count, 4)
  assert.is(stats.mean, 2.5)
  assert.is(stats.max, 4)
  assert.is(res.outputSha256, sha256(output), 'outputSha256 is the sha256 of the output bytes')
  assert.type(res.fuel, 'number')
  const agent = agents.find((a) => a.id === res.agent)
  assert.ok(agent, `agent ${String(res.agent)} is one of ours`)

  // anyone can check the signature with the key the agent advertises in its retained presence
  const p = (await presences(url)).get(res.agent as string)
  assert.ok(p, 'the agent has a retained presence on Mosquitto')
  assert.is(p!.status, 'online')
  assert.is(p!.publicKey, agent!.publicKey)
  assert.type(res.signature, 'string')
  assert.ok(verifyResult({ ...(res as Parameters<typeof verifyResult>[0]), id: String(res.jobId) }, p!.publicKey as string), 'signature verifies against the advertised key')
  assert.not.ok(
    verifyResult({ ...(res as Parameters<typeof verifyResult>[0]), id: String(res.jobId), outputSha256: sha256('forged') }, p!.publicKey as string),
    'and covers outputSha256',
  )
})

mosquittoTest('jobs through Mosquitto: both agents work, failures are signed error results, bad jobs are answered', async () => {
  const { url } = mustHaveMesh()
  const results = await Promise.all(Array.from({ length: 8 }, (_, i) => plainJob(client!, `${i}\n${i + 2}\n`)))
  results.forEach((r, i) => {
    assert.is(r.status, 'ok', JSON.stringify(r))
    assert.is(JSON.parse(Buffer.from(r.output as string, 'base64').toString('utf8')).mean, i + 1)
  })
  const ran = new Set(results.map((r) => r.agent as string))
  for (const r of ran) assert.ok(agents.some((a) => a.id === r), `ran on one of ours: ${r}`)

  const bad = await plainJob(client!, 'abc')
  assert.is(bad.status, 'error')
  assert.is(bad.error?.code, 'exit_nonzero')
  assert.type(bad.error?.message, 'string')
  assert.is(bad.output, undefined)
  const key = (await presences(url)).get(bad.agent as string)?.publicKey as string
  assert.ok(verifyResult({ ...(bad as Parameters<typeof verifyResult>[0]), id: String(bad.jobId) }, key), 'a failure is signed too')

  // not a sha256: answered on replyTo with a stable code, and the gateway keeps working
  const replyTo = `test/replies/bad-${randomBytes(4).toString('hex')}`
  const got = collect(client!)
  await client!.subscribeAsync(replyTo, { qos: 1 })
  await client!.publishAsync('fm/v1/jobs/submit', JSON.stringify({ id: 'bad-1', module: 'nope', input: '', replyTo }), { qos: 1 })
  const m = await waitFor(() => got.find((x) => x.topic === replyTo), 5000, 'the answer to an invalid job')
  const ans = JSON.parse(m.payload.toString('utf8')) as Record<string, any>
  assert.is(ans.id, 'bad-1')
  assert.is(ans.status, 'error')
  assert.is(ans.error?.code, 'invalid_field')
  assert.match(String(ans.error?.message), /module/)
  assert.is((await plainJob(client!, '5')).status, 'ok', 'still working')
})

shellTest('the README flow: mosquitto_pub submits a job, mosquitto_sub -C 1 -W 10 reads the result', async () => {
  const pub = requireProgram('mosquitto_pub')
  const sub = requireProgram('mosquitto_sub')
  const { port } = mustHaveMesh()
  const run = (bin: string, args: string[], timeoutMs = 15_000) =>
    new Promise<{ code: number | null; stdout: string; stderr: string; proc: ChildProcess }>((resolve) => {
      const proc = trackChild(spawn(bin, args, { stdio: ['ignore', 'pipe', 'pipe'] }))
      let stdout = ''
      let stderr = ''
      proc.stdout!.on('data', (d) => (stdout += d))
      proc.stderr!.on('data', (d) => (stderr += d))
      const t = setTimeout(() => proc.kill('SIGKILL'), timeoutMs)
      proc.on('close', (code) => {
        clearTimeout(t)
        resolve({ code, stdout, stderr, proc })
      })
    })

  // deploying the module from the shell too: a retained publish of the file
  const dep = await run(pub, ['-h', '127.0.0.1', '-p', port, '-q', '1', '-r', '-t', `fm/v1/modules/${ROLLING_SHA}`, '-f', modulePath('rolling-stats')])
  assert.is(dep.code, 0, dep.stderr)

  const id = `sh-${randomBytes(4).toString('hex')}`
  const replyTo = `sensors/pm25/results/${id}`
  // -d only to know when the subscription is in place (its SUBACK line; stdbuf so that the line is not
  // stuck in stdio's buffer of a pipe); the result is the JSON line
  const subArgs = ['-d', '-h', '127.0.0.1', '-p', port, '-t', replyTo, '-C', '1', '-W', '10']
  const subscriber = trackChild(
    existsSync('/usr/bin/stdbuf')
      ? spawn('/usr/bin/stdbuf', ['-oL', sub, ...subArgs], { stdio: ['ignore', 'pipe', 'pipe'] })
      : spawn(sub, subArgs, { stdio: ['ignore', 'pipe', 'pipe'] }),
  )
  let subOut = ''
  subscriber.stdout!.on('data', (d) => (subOut += d))
  subscriber.stderr!.on('data', (d) => (subOut += d))
  const subDone = new Promise<number | null>((r) => subscriber.on('close', (code) => r(code)))
  try {
    if (existsSync('/usr/bin/stdbuf')) await waitFor(() => /received SUBACK/.test(subOut), 5000, 'mosquitto_sub to subscribe')
    else await new Promise((r) => setTimeout(r, 1000))
    const message = `{"id":"${id}","module":"${ROLLING_SHA}","input":"${Buffer.from('2\n4\n6\n8').toString('base64')}","replyTo":"${replyTo}"}`
    const p = await run(pub, ['-h', '127.0.0.1', '-p', port, '-t', 'fm/v1/jobs/submit', '-m', message])
    assert.is(p.code, 0, p.stderr)
    const code = await subDone
    assert.is(code, 0, `mosquitto_sub got one message before -W 10 ran out\n${subOut}`)
  } finally {
    if (subscriber.exitCode === null) subscriber.kill('SIGKILL')
  }
  const line = subOut.split('\n').find((l) => l.startsWith('{'))
  assert.ok(line, `a JSON line from mosquitto_sub\n${subOut}`)
  const res = JSON.parse(line!) as Record<string, any>
  assert.is(res.id, id)
  assert.is(res.status, 'ok', line)
  const output = Buffer.from(res.output as string, 'base64')
  assert.is(JSON.parse(output.toString('utf8')).mean, 5)
  assert.is(res.outputSha256, sha256(output))
  const agent = agents.find((a) => a.id === res.agent)
  assert.ok(agent, 'ran on one of ours')
  assert.ok(verifyResult({ ...(res as Parameters<typeof verifyResult>[0]), id: String(res.jobId) }, agent!.publicKey), 'signed by it')
})

mosquittoTest('presence and last will through Mosquitto: kill -9 of `fogmesh agent` leaves {"status":"offline","reason":"lost"}', async () => {
  const { url } = mustHaveMesh()
  const watcher = await plainClient(url)
  try {
    const got = collect(watcher)
    await watcher.subscribeAsync('fm/v1/agents/+/presence', { qos: 1 })
    victim = await fogmeshDaemon(['agent', '--broker', url, '--name', 'victim', '--data', join(home, 'victim'), '--slots', '1'], /^agent ([0-9a-f]+) "victim" online/m, { home })
    const id = victim.match[1]!
    const topic = `fm/v1/agents/${id}/presence`
    const online = await waitFor(() => got.find((m) => m.topic === topic && m.payload.length > 0 && JSON.parse(m.payload.toString()).status === 'online'), 5000, 'the victim online')
    const p = JSON.parse(online.payload.toString()) as Record<string, any>
    assert.is(p.id, id)
    assert.is(p.name, 'victim')
    assert.match(p.publicKey, /^[0-9a-f]{64}$/)
    assert.type(p.capacity?.slots, 'number')
    assert.type(p.version, 'string')

    const before = got.length
    await stopChild(victim.proc, { signal: 'SIGKILL' })
    const will = await waitFor(() => got.slice(before).find((m) => m.topic === topic), 15_000, 'the last will on the presence topic')
    const w = JSON.parse(will.payload.toString())
    assert.equal([w.status, w.id, w.name, w.reason], ['offline', id, 'victim', 'lost'])
    assert.ok(verifyStatement('presence', w, p.publicKey), 'the will was signed by the agent at connect, for its epoch')
    assert.is(w.epoch, p.epoch, 'and ends the epoch its online presence began')

    // retained: a client that connects afterwards sees the agent gone
    const late = (await presences(url)).get(id)
    assert.equal(late, w)
  } finally {
    await watcher.endAsync()
  }
  // the mesh goes on without it
  for (let i = 0; i < 4; i++) {
    const r = await plainJob(client!, '1\n2')
    assert.is(r.status, 'ok', JSON.stringify(r))
    assert.ok(agents.some((a) => a.id === r.agent), 'on a live agent')
  }
})

mosquittoTest('SIGTERM of `fogmesh gateway` ends it cleanly (exit 0)', async () => {
  mustHaveMesh()
  const proc = gateway!.proc
  const code = new Promise<number | null>((r) => proc.once('exit', (c) => r(c)))
  proc.kill('SIGTERM')
  assert.is(await code, 0, gateway!.output())
  assert.match(gateway!.output(), /SIGTERM: shutting down/)
})

test.run()
