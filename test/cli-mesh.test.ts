// The `fogmesh` commands against a mesh, as users run them: `node bin/fogmesh.js ...` child
// processes against a real embedded broker, with agents as child processes too (docs/contract.md's
// CLI table), and the whole mesh in one command (`fogmesh up`). --help and user errors:
// test/cli.test.ts.
//   node --import tsx test/cli-mesh.test.ts
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Broker } from '../broker/broker.ts'
import { verifyResult } from '../protocol/signature.ts'
import { verifyStatement } from '../protocol/signed-statement.ts'
import { modulePath } from '../wasm-modules/index.ts'
import { runWithNodeWasi } from '../wasm-modules/node-wasi.ts'
import { spawnAgent, type AgentProcess } from './support/agents.ts'
import { exited } from './support/child-processes.ts'
import { runFogmesh, showRun, type Run } from './support/fogmesh-cli.ts'
import { collect, plainClient } from './support/mqtt-clients.ts'
import { sha256 } from './support/sha256.ts'
import { tmpDir } from './support/temp-dirs.ts'
import { testBroker } from './support/test-broker.ts'
import { waitFor } from './support/wait.ts'

const ROLLING = modulePath('rolling-stats')
const ECHO = modulePath('echo')

// a last resort so that this file always ends, even if something below hangs (children are killed at exit)
setTimeout(() => {
  console.error('cli-mesh.test.ts: watchdog fired after 150 s; killing children and exiting')
  process.exit(1)
}, 150_000).unref()

// ---- against a real broker, with agents as child processes ------------------------

let broker: Broker | undefined
const agents: AgentProcess[] = []
let moduleSha = ''

test.after(async () => {
  for (const a of agents) {
    if (a.proc.exitCode === null && a.proc.signalCode === null) {
      a.proc.kill('SIGKILL')
      await exited(a.proc, 5000).catch(() => {})
    }
  }
  await broker?.close()
})

function mustHaveMesh(): { url: string } {
  if (!broker || agents.length < 2) throw new Error('the mesh did not start (see the first failing test)')
  return { url: broker.url }
}

function parseResult(r: Run): Record<string, any> {
  try {
    return JSON.parse(r.stdout) as Record<string, any>
  } catch {
    throw new Error(`stdout is not one JSON document\n${showRun(r)}`)
  }
}

test('agents started with `fogmesh agent` show up online in `fogmesh status`', async () => {
  broker = await testBroker()
  const url = broker.url
  const watcher = await plainClient(url)
  const presences = collect(watcher)
  await watcher.subscribeAsync('fm/v1/agents/+/presence', { qos: 1 })
  try {
    const started = await Promise.all(['a1', 'a2'].map((name) => spawnAgent(url, name, ['--slots', '2'])))
    agents.push(...started)
    for (const a of agents) {
      await waitFor(() => presences.some((p) => p.topic === `fm/v1/agents/${a.id}/presence` && JSON.parse(p.payload.toString()).status === 'online'), 5000, `${a.name}'s presence`)
    }
  } finally {
    await watcher.endAsync()
  }

  // as an operator runs it: the default listening time, heartbeats and all
  const r = await runFogmesh(['status', '--broker', url])
  assert.is(r.code, 0, showRun(r))
  const lines = r.stdout.trim().split('\n')
  assert.match(lines[0]!, /^AGENT\s+NAME\s+STATE/, showRun(r))
  for (const a of agents) {
    const row = lines.find((l) => l.startsWith(a.id))
    assert.ok(row, `status lists ${a.name} (${a.id})\n${showRun(r)}`)
    assert.match(row!, new RegExp(`^${a.id}\\s+${a.name}\\s+online\\s`), `${a.name} is online\n${showRun(r)}`)
    assert.match(row!, /\s2\s/, 'its 2 slots')
  }

  const j = await runFogmesh(['status', '--broker', url, '--json', '--listen', '1000'])
  assert.is(j.code, 0, showRun(j))
  const list = JSON.parse(j.stdout) as Array<Record<string, any>>
  assert.ok(Array.isArray(list), 'status --json prints an array')
  assert.is(list.length, 2, showRun(j))
  for (const a of agents) {
    const e = list.find((x) => x.id === a.id)
    assert.ok(e, `${a.name} in status --json`)
    assert.is(e!.name, a.name)
    assert.is(e!.state, 'online')
    assert.is(e!.capacity.slots, 2)
    assert.type(e!.capacity.cores, 'number')
    assert.type(e!.load.running, 'number')
    assert.type(e!.load.queued, 'number')
    assert.match(e!.publicKey, /^[0-9a-f]{64}$/)
  }
})

test('`fogmesh module add FILE` prints exactly the sha256 of the file, and publishes it retained', async () => {
  const { url } = mustHaveMesh()
  const bytes = readFileSync(ROLLING)
  const r = await runFogmesh(['module', 'add', ROLLING, '--broker', url])
  assert.is(r.code, 0, showRun(r))
  assert.is(r.stdout, `${sha256(bytes)}\n`, showRun(r))
  assert.is(r.stderr, '', showRun(r))
  moduleSha = sha256(bytes)
  const c = await plainClient(url)
  try {
    const got = collect(c)
    await c.subscribeAsync(`fm/v1/modules/${moduleSha}`, { qos: 1 })
    await waitFor(() => got.length > 0, 3000, 'the retained module')
    assert.ok(got[0]!.retain, 'retained')
    assert.ok(got[0]!.payload.equals(bytes), 'the same bytes')
  } finally {
    await c.endAsync()
  }
})

test('`fogmesh submit --module SHA --input FILE` prints an ok result with the right output and exits 0', async () => {
  const { url } = mustHaveMesh()
  assert.ok(moduleSha, 'module add ran first')
  const input = '1\n2\n3\n4'
  const inputFile = join(tmpDir('fm-cli-in-'), 'input.txt')
  writeFileSync(inputFile, input)
  const expected = (await runWithNodeWasi(readFileSync(ROLLING), input)).stdout

  const r = await runFogmesh(['submit', '--broker', url, '--module', moduleSha, '--input', inputFile])
  assert.is(r.code, 0, showRun(r))
  const res = parseResult(r)
  assert.is(res.status, 'ok', showRun(r))
  assert.type(res.id, 'string')
  assert.is(res.output, expected.toString('base64'), 'output is the base64 of what rolling-stats writes')
  const out = Buffer.from(res.output as string, 'base64')
  const stats = JSON.parse(out.toString('utf8')) as { count: number; mean: number; min: number; max: number; last: number }
  assert.is(stats.count, 4)
  assert.is(stats.mean, 2.5)
  assert.is(stats.min, 1)
  assert.is(stats.max, 4)
  assert.is(res.outputSha256, sha256(out))
  assert.is(res.module, moduleSha)
  assert.is(res.inputSha256, sha256(input))
  assert.type(res.fuel, 'number')
  const agent = agents.find((a) => a.id === res.agent)
  assert.ok(agent, `ran on one of the agents (${String(res.agent)})`)
  // the signature is the agent's (its key from status --json)
  const j = await runFogmesh(['status', '--broker', url, '--json', '--listen', '1000'])
  const key = (JSON.parse(j.stdout) as Array<{ id: string; publicKey: string }>).find((x) => x.id === res.agent)?.publicKey
  assert.ok(key, 'the agent advertises a key')
  assert.ok(verifyResult(res as Parameters<typeof verifyResult>[0], key!), 'signature verifies against the agent key')
})

test('`fogmesh submit --module FILE.wasm --input -` reads the input from stdin', async () => {
  const { url } = mustHaveMesh()
  const r = await runFogmesh(['submit', '--broker', url, '--module', ROLLING, '--input', '-', '--text'], { stdin: '10\n20\n30\n40\n50\n' })
  assert.is(r.code, 0, showRun(r))
  const res = parseResult(r)
  assert.is(res.status, 'ok', showRun(r))
  assert.is(res.module, sha256(readFileSync(ROLLING)), 'the file was published under its sha256')
  assert.is(res.inputSha256, sha256('10\n20\n30\n40\n50\n'), 'the whole of stdin was the input')
  const stats = JSON.parse(Buffer.from(res.output as string, 'base64').toString('utf8')) as { count: number; mean: number }
  assert.is(stats.count, 5)
  assert.is(stats.mean, 30)
  assert.is(res.outputText, Buffer.from(res.output as string, 'base64').toString('utf8'), '--text adds the decoded output')
})

test('a job that fails prints an error result and exits non-zero', async () => {
  const { url } = mustHaveMesh()
  const r = await runFogmesh(['submit', '--broker', url, '--module', ROLLING, '--input', '-'], { stdin: 'abc' })
  assert.ok(r.code !== 0 && r.code !== null, `non-zero exit\n${showRun(r)}`)
  const res = parseResult(r)
  assert.is(res.status, 'error', showRun(r))
  assert.is(res.error?.code, 'exit_nonzero', showRun(r))
  assert.match(String(res.error?.message), /not a number/, 'the module stderr travels in the message')
  assert.is(res.output, undefined, 'no output on error')
  assert.ok(agents.some((a) => a.id === res.agent), 'an agent ran it (and signed the failure)')
  assert.type(res.signature, 'string')
})

test('`fogmesh submit` with no agent on the broker is an error result, not a hang', async () => {
  const empty = await testBroker()
  try {
    // not a hang: it ends by itself (the runner kills it only after a generous 60 s) with the
    // error result; how soon is the machine's load as much as ours, so no clock
    const r = await runFogmesh(['submit', '--broker', empty.url, '--module', ECHO, '--wait', '200'], { timeoutMs: 60_000 })
    assert.is(r.signal, null, `ended by itself, not killed\n${showRun(r)}`)
    assert.ok(r.code !== 0 && r.code !== null, `non-zero exit\n${showRun(r)}`)
    const res = parseResult(r)
    assert.is(res.status, 'error')
    assert.is(res.error?.code, 'no_agents')
  } finally {
    await empty.close()
  }
})

test('SIGTERM: the agent process leaves cleanly (exit 0) with a retained "stopped" presence', async () => {
  const { url } = mustHaveMesh()
  const a2 = agents.find((a) => a.name === 'a2')!
  a2.proc.kill('SIGTERM')
  const code = await exited(a2.proc, 10_000)
  assert.is(code, 0, `agent exit code\n${a2.output()}`)
  const c = await plainClient(url)
  try {
    const got = collect(c)
    await c.subscribeAsync(`fm/v1/agents/${a2.id}/presence`, { qos: 1 })
    await waitFor(() => got.length > 0, 3000, 'the retained presence')
    assert.ok(got[0]!.retain, 'retained')
    const left = JSON.parse(got[0]!.payload.toString())
    assert.equal([left.status, left.id, left.name, left.reason], ['offline', a2.id, 'a2', 'stopped'])
    assert.ok(verifyStatement('presence', left, left.publicKey), 'signed by the agent (protocol/presence-signature.ts)')
  } finally {
    await c.endAsync()
  }
  // the plain listing shows only who is online
  const r = await runFogmesh(['status', '--broker', url, '--listen', '1000'])
  assert.is(r.code, 0, showRun(r))
  assert.not.ok(r.stdout.includes(a2.id), `a stopped agent is not listed without --all\n${showRun(r)}`)
  assert.ok(r.stdout.includes(agents.find((a) => a.name === 'a1')!.id), `a1 still is\n${showRun(r)}`)
})

test('`fogmesh status --all` shows an agent stopped by SIGTERM as gone (stopped)', async () => {
  const { url } = mustHaveMesh()
  const a2 = agents.find((a) => a.name === 'a2')!
  assert.ok(a2.proc.exitCode !== null, 'a2 was stopped by the previous test')
  const j = await runFogmesh(['status', '--broker', url, '--all', '--json', '--listen', '1000'])
  assert.is(j.code, 0, showRun(j))
  const list = JSON.parse(j.stdout) as Array<Record<string, any>>
  const e = list.find((x) => x.id === a2.id)
  assert.ok(e, `status --all --json lists the stopped agent ${a2.id} (it listed ${JSON.stringify(list.map((x) => `${x.id} ${x.name} ${x.state}`))})`)
  assert.is(e!.state, 'gone')
  assert.is(e!.reason, 'stopped')
  const r = await runFogmesh(['status', '--broker', url, '--all', '--listen', '1000'])
  const row = r.stdout.split('\n').find((l) => l.startsWith(a2.id))
  assert.ok(row, `status --all lists ${a2.id}\n${showRun(r)}`)
  assert.match(row!, /gone \(stopped\)/)
})

// ---- the whole mesh in one command -------------------------------------------------

test('`fogmesh up --agents 2 --duration 3 --port 0 --http-port 0` runs jobs and exits 0 with a clean summary', async () => {
  const r = await runFogmesh(['up', '--agents', '2', '--duration', '3', '--port', '0', '--http-port', '0'], { timeoutMs: 60_000 })
  assert.is(r.code, 0, showRun(r))
  assert.is(r.stderr, '', `nothing on stderr\n${showRun(r)}`)
  assert.is((r.stdout.match(/^agent\s+[0-9a-f]+\s+agent-\d/gm) ?? []).length, 2, `two agents started\n${showRun(r)}`)
  assert.match(r.stdout, /^auth {5}\S+\/up\/auth\.json: agents by key, up-gateway/m, `up runs with its own identities\n${showRun(r)}`)
  const m = /^jobs\s+(\d+) sent, (\d+) ok, (\d+) failed, (\d+) unanswered$/m.exec(r.stdout)
  assert.ok(m, `a jobs summary line\n${showRun(r)}`)
  const [sent, ok, failed, unanswered] = m!.slice(1).map(Number) as [number, number, number, number]
  assert.ok(ok > 0, `jobs ok > 0 (${ok})`)
  assert.is(failed, 0, 'no job failed')
  assert.is(unanswered, 0, 'every job was answered')
  assert.is(sent, ok)
})

test.run()
