/**
 * Every bad input of the issue, through the plain-MQTT path: each gets an
 * error result with a stable code on its replyTo (when it names one), is
 * counted, and takes nothing down — the next good job still succeeds.
 */
import { randomBytes } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as fx from './fixtures/engine/modules.ts'
import { collect, plainClient } from './support/mqtt-clients.ts'
import { waitFor } from './support/wait.ts'
import { startMesh, type Mesh } from './support/mesh.ts'
import { CEILING_DEFAULTS } from '../market/limits-ceiling.ts'
import { assignment } from './support/signed-assign.ts'
import { sha256 } from './support/sha256.ts'

let mesh: Mesh
let sensor: Awaited<ReturnType<typeof plainClient>>
let replies: ReturnType<typeof collect>
let seq = 0

test.before(async () => {
  // the agents offer less memory than the gateway lets a job ask for (its ceiling: 256 MiB)
  mesh = await startMesh({ agents: 2, gateway: true, agent: { moduleFetchTimeoutMs: 300, maxMemoryMiB: 128 } })
  sensor = await plainClient(mesh.broker.url)
  replies = collect(sensor)
  await sensor.subscribeAsync('bad/replies', { qos: 1 })
})

test.after(async () => {
  await sensor.endAsync()
  await mesh.close()
})

async function send(payload: string | Record<string, unknown>): Promise<Record<string, any>> {
  const before = replies.length
  await sensor.publishAsync('fm/v1/jobs/submit', typeof payload === 'string' ? payload : JSON.stringify(payload))
  await waitFor(() => replies.length > before, 8000, 'an answer')
  return JSON.parse(replies[before]!.payload.toString())
}

const job = (module: string, input = 'hi', extra: Record<string, unknown> = {}) => ({
  id: `bad-${seq++}`, module, input: Buffer.from(input).toString('base64'), replyTo: 'bad/replies', ...extra,
})

async function expectCode(payload: Record<string, unknown> | string, code: string, message?: RegExp) {
  const r = await send(payload)
  assert.is(r.status, 'error', JSON.stringify(r))
  assert.is(r.error.code, code, JSON.stringify(r.error))
  assert.type(r.error.message, 'string')
  if (message) assert.match(r.error.message, message)
  assert.not.match(r.error.message, /\n\s+at /, 'no stack trace')
  if (typeof payload !== 'string' && typeof payload.id === 'string') assert.is(r.id, payload.id)
  return r
}

async function goodJobStillRuns() {
  const module = await mesh.publish(fx.echo().bytes)
  const r = await send(job(module, 'still alive'))
  assert.is(r.status, 'ok')
  assert.is(Buffer.from(r.output, 'base64').toString(), 'still alive')
}

test('unknown module → module_not_found', async () => {
  await expectCode(job(sha256(randomBytes(16))), 'module_not_found')
  await goodJobStillRuns()
})

test('a module that is not WebAssembly → invalid_module', async () => {
  const garbage = randomBytes(300)
  await expectCode(job(await mesh.publish(garbage)), 'invalid_module')
  await goodJobStillRuns()
})

test('a module that is not a WASI command (no _start) → not_a_command', async () => {
  await expectCode(job(await mesh.publish(fx.noStart().bytes)), 'not_a_command')
})

test('a module importing a host function it may not have → link_error naming it', async () => {
  await expectCode(job(await mesh.publish(fx.hostImport().bytes)), 'link_error', /env\.host_fn/)
})

test('a module that traps → trap (signed by the agent that ran it)', async () => {
  const r = await expectCode(job(await mesh.publish(fx.trap().bytes)), 'trap')
  assert.ok(mesh.agents.some((a) => a.id === r.agent))
  assert.type(r.signature, 'string')
})

test('a module that exits non-zero → exit_nonzero carrying stderr', async () => {
  await expectCode(job(await mesh.publish(fx.failWithStderr().bytes)), 'exit_nonzero', /exit code 3.*bad input: expected digits/s)
})

test('a module that floods stdout → output_limit; one that spins → deadline', async () => {
  await expectCode(job(await mesh.publish(fx.flood().bytes), '', { limits: { outputBytes: 4096 } }), 'output_limit')
  const started = Date.now()
  await expectCode(job(await mesh.publish(fx.spin().bytes), '', { limits: { timeoutMs: 300 } }), 'deadline')
  assert.ok(Date.now() - started < 3000, 'deadline kept')
  await goodJobStillRuns()
})

test('broken JSON: nobody to answer, counted, nothing breaks', async () => {
  const before = mesh.gateway!.stats()
  await sensor.publishAsync('fm/v1/jobs/submit', '{"id": "x", "module": ')
  await sensor.publishAsync('fm/v1/jobs/submit', Buffer.from([0xff, 0x00, 0x13]))
  await waitFor(() => mesh.gateway!.stats().invalid === before.invalid + 2, 10_000, 'counted')
  assert.is(mesh.gateway!.stats().errors.invalid_json, (before.errors.invalid_json ?? 0) + 2)
  await goodJobStillRuns()
})

test('missing fields → invalid_field naming the field', async () => {
  const { module: _m, ...noModule } = job('ab'.repeat(32))
  await expectCode(noModule, 'invalid_field', /^module: /)
  const { id: _i, ...noId } = job('ab'.repeat(32))
  const r = await expectCode(noId, 'invalid_field', /^id: /)
  assert.is(r.id, null)
})

test('bad base64 → invalid_field naming input', async () => {
  await expectCode({ ...job('ab'.repeat(32)), input: '%%%not base64%%%' }, 'invalid_field', /^input: /)
})

test('limits above what any agent offers → no_agents; above the gateway\'s ceiling → limit_exceeded before the market', async () => {
  const module = await mesh.publish(fx.echo().bytes)
  const maxMemory = mesh.agents[0]!.presence().limits.memoryMiB
  assert.ok(maxMemory < CEILING_DEFAULTS.memoryMiB, 'the agents offer less memory than the gateway lets a job ask for')
  await expectCode(job(module, 'x', { limits: { memoryMiB: maxMemory + 1 } }), 'no_agents')
  await expectCode(job(module, 'y', { limits: { timeoutMs: 3_000_000 } }), 'limit_exceeded', /limits\.timeoutMs/)
})

test('limits above what an agent advertises: refused with limit_exceeded, even when assigned directly', async () => {
  const agent = mesh.agents[0]!
  const p = agent.presence()
  assert.ok(p.limits.memoryMiB >= p.defaults.memoryMiB && p.limits.fuel >= p.defaults.fuel, 'maxima and defaults advertised')
  const module = await mesh.publish(fx.echo().bytes)
  // through the market: nobody offers that much (within the gateway's ceiling)
  await expectCode(job(module, 'x', { limits: { memoryMiB: p.limits.memoryMiB + 1 } }), 'no_agents')
  // a requester the agent accepts that skips the market and assigns straight to the agent
  const direct = await plainClient(mesh.broker.url)
  const got = collect(direct)
  await direct.subscribeAsync('direct/inbox', { qos: 1 })
  const assign = assignment(mesh.identity, { agent: agent.id, module, now: Date.now(), replyTo: 'direct/inbox' }, { id: 'greedy', input: '', limits: { fuel: p.limits.fuel + 1 } })
  await direct.publishAsync(`fm/v1/agents/${agent.id}/jobs`, JSON.stringify(assign))
  await waitFor(() => got.length > 0, 5000, 'the refusal')
  const r = JSON.parse(got[0]!.payload.toString())
  assert.is(r.status, 'error')
  assert.is(r.error.code, 'limit_exceeded')
  assert.match(r.error.message, /limits\.fuel/)
  await direct.endAsync()
})

test('a hundred bad jobs in a row, then good ones: all answered, all counted, agents up', async () => {
  const bad = [fx.trap(), fx.failWithStderr(), fx.hostImport(), fx.noStart()].map((f) => f.bytes)
  const shas = await Promise.all(bad.map((b) => mesh.publish(b)))
  const before = replies.length
  const stats0 = mesh.gateway!.stats()
  for (let i = 0; i < 100; i++) await sensor.publishAsync('fm/v1/jobs/submit', JSON.stringify(job(shas[i % shas.length]!)))
  await waitFor(() => replies.length >= before + 100, 15_000, '100 answers')
  const answers = replies.slice(before, before + 100).map((m) => JSON.parse(m.payload.toString()))
  assert.ok(answers.every((a) => a.status === 'error'))
  assert.is(mesh.gateway!.stats().failed - stats0.failed, 100)
  assert.equal(new Set(answers.map((a) => a.error.code)), new Set(['trap', 'exit_nonzero', 'link_error', 'not_a_command']))
  assert.is(mesh.requester.directory.list('online').length, 2)
  await goodJobStillRuns()
})

test.run()
