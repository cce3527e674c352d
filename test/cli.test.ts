// The `fogmesh` command as users run it: `node bin/fogmesh.js ...` child processes
// against a real embedded broker, with agents as child processes too (docs/contract.md's
// CLI table, and "a user error is one clear line on stderr and a non-zero exit").
//   node --import tsx test/cli.test.ts
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Broker } from '../broker/broker.ts'
import { verifyResult } from '../protocol/signature.ts'
import { modulePath } from '../wasm-modules/index.ts'
import { runWithNodeWasi } from '../wasm-modules/node-wasi.ts'
import { spawnAgent, type AgentProcess } from './support/agents.ts'
import { exited } from './support/child-processes.ts'
import { assertUserError, runFogmesh, showRun, type Run } from './support/fogmesh-cli.ts'
import { collect, plainClient } from './support/mqtt-clients.ts'
import { sha256 } from './support/sha256.ts'
import { tmpDir } from './support/temp-dirs.ts'
import { testBroker } from './support/test-broker.ts'
import { waitFor } from './support/wait.ts'

const ROLLING = modulePath('rolling-stats')
const ECHO = modulePath('echo')

// a last resort so that this file always ends, even if something below hangs (children are killed at exit)
setTimeout(() => {
  console.error('cli.test.ts: watchdog fired after 150 s; killing children and exiting')
  process.exit(1)
}, 150_000).unref()

// ---- --help -----------------------------------------------------------------------

test('fogmesh --help and every command --help print usage and exit 0', async () => {
  const cases: Array<{ args: string[]; usage: RegExp }> = [
    { args: ['--help'], usage: /usage: fogmesh <command>/ },
    { args: ['up', '--help'], usage: /usage: fogmesh up\b/ },
    { args: ['broker', '--help'], usage: /usage: fogmesh broker\b/ },
    { args: ['gateway', '--help'], usage: /usage: fogmesh gateway --broker URL/ },
    { args: ['agent', '--help'], usage: /usage: fogmesh agent --broker URL/ },
    { args: ['module', 'add', '--help'], usage: /usage: fogmesh module add FILE\.wasm --broker URL/ },
    { args: ['submit', '--help'], usage: /usage: fogmesh submit --broker URL --module/ },
    { args: ['status', '--help'], usage: /usage: fogmesh status --broker URL/ },
    { args: ['status', '-h'], usage: /usage: fogmesh status --broker URL/ },
  ]
  const runs = await Promise.all(cases.map((c) => runFogmesh(c.args)))
  cases.forEach((c, i) => {
    const r = runs[i]!
    const what = `fogmesh ${c.args.join(' ')}`
    assert.is(r.code, 0, `${what}: exit 0\n${showRun(r)}`)
    assert.ok(c.usage.test(r.stdout), `${what}: usage on stdout\n${showRun(r)}`)
    assert.is(r.stderr, '', `${what}: nothing on stderr\n${showRun(r)}`)
  })
  // the main help names every command of docs/contract.md's table
  for (const name of ['up', 'broker', 'gateway', 'agent', 'module add', 'submit', 'status']) {
    assert.ok(new RegExp(`^\\s+${name}\\s`, 'm').test(runs[0]!.stdout), `fogmesh --help lists "${name}"\n${runs[0]!.stdout}`)
  }
})

// ---- user errors ----------------------------------------------------------------

test('user errors are one line on stderr, a non-zero exit, no stack trace', async () => {
  const dir = tmpDir('fm-cli-err-')
  const notWasm = join(dir, 'notes.wasm')
  writeFileSync(notWasm, 'this is not WebAssembly\n')
  const missing = join(dir, 'missing.wasm')
  const broker = await testBroker() // for the cases that get past connecting
  try {
    const live = broker.url
    const cases: Array<{ args: string[]; error: RegExp }> = [
      { args: ['bogus'], error: /unknown command "bogus"/ },
      { args: ['module'], error: /subcommand/ },
      { args: ['status', '--broker', live, '--bogus'], error: /unknown option.*--bogus/i },
      { args: ['up', '--frobnicate', '3'], error: /unknown option.*--frobnicate/i },
      { args: ['status'], error: /--broker is required/ },
      { args: ['agent', '--name', 'x'], error: /--broker is required/ },
      { args: ['gateway'], error: /--broker is required/ },
      { args: ['submit', '--module', ECHO], error: /--broker is required/ },
      { args: ['module', 'add', ECHO], error: /--broker is required/ },
      { args: ['submit', '--broker', live], error: /--module is required/ },
      { args: ['module', 'add', '--broker', live], error: /FILE\.wasm/ },
      { args: ['broker', '--port', 'abc'], error: /--port .*abc/ },
      { args: ['up', '--port', 'abc'], error: /--port .*abc/ },
      { args: ['up', '--agents', '-1'], error: /--agents/ },
      { args: ['agent', '--broker', live, '--name', 'bad name!'], error: /--name/ },
      { args: ['module', 'add', missing, '--broker', live], error: new RegExp(`${missing.replace(/[.]/g, '\\.')}.*ENOENT`) },
      { args: ['module', 'add', notWasm, '--broker', live], error: /not a valid WebAssembly module/ },
      { args: ['submit', '--broker', live, '--module', missing], error: /cannot read .*missing\.wasm/ },
      { args: ['submit', '--broker', live, '--module', notWasm], error: /not a valid WebAssembly module/ },
      { args: ['submit', '--broker', live, '--module', sha256('x'), '--input', join(dir, 'no-input.txt')], error: /cannot read input .*no-input\.txt/ },
      // a broker nobody listens on: refused at once, never a hang
      { args: ['status', '--broker', 'mqtt://127.0.0.1:1'], error: /cannot connect to broker mqtt:\/\/127\.0\.0\.1:1/ },
      { args: ['module', 'add', ECHO, '--broker', 'mqtt://127.0.0.1:1'], error: /cannot connect to broker/ },
      { args: ['submit', '--broker', 'mqtt://127.0.0.1:1', '--module', ECHO], error: /cannot connect to broker/ },
      { args: ['agent', '--broker', 'mqtt://127.0.0.1:1', '--name', 'nobroker', '--data', join(dir, 'nobroker')], error: /cannot connect to broker/ },
      { args: ['gateway', '--broker', 'mqtt://127.0.0.1:1'], error: /cannot connect to broker/ },
      // malformed broker URLs
      { args: ['status', '--broker', 'not a url'], error: /broker URL/ },
      { args: ['status', '--broker', 'http://127.0.0.1:1883'], error: /broker URL must start with mqtt:\/\// },
      { args: ['submit', '--broker', 'mqtt://127.0.0.1:99999', '--module', ECHO], error: /broker URL/ },
      { args: ['agent', '--broker', '127.0.0.1:1883', '--name', 'x', '--data', join(dir, 'x')], error: /broker URL/ },
    ]
    // a few at a time: each is a Node process with tsx. The ones that need the network run in a
    // batch with `fogmesh --version`, the cost of starting the command on this machine right now.
    const isNet = (c: { args: string[] }) => c.args.some((a) => a.startsWith('mqtt://127.0.0.1:1') || a === 'not a url')
    const local = cases.filter((c) => !isNet(c))
    const net = cases.filter(isNet)
    for (let i = 0; i < local.length; i += 4) {
      const batch = local.slice(i, i + 4)
      const runs = await Promise.all(batch.map((c) => runFogmesh(c.args, { graceMs: 5000 })))
      batch.forEach((c, j) => assertUserError(runs[j]!, c.error, `fogmesh ${c.args.join(' ')}`))
    }
    for (let i = 0; i < net.length; i += 3) {
      const batch = net.slice(i, i + 3)
      const [base, ...runs] = await Promise.all([runFogmesh(['--version']), ...batch.map((c) => runFogmesh(c.args, { graceMs: 5000 }))])
      assert.is(base!.code, 0, showRun(base!))
      batch.forEach((c, j) => {
        const r = runs[j]!
        const what = `fogmesh ${c.args.join(' ')}`
        assertUserError(r, c.error, what)
        // an unreachable or malformed broker fails at once (connection refused), not after retries
        assert.ok(r.ms < base!.ms + 4000, `${what}: fails within a few seconds (took ${r.ms} ms; starting the command took ${base!.ms} ms)`)
      })
    }
  } finally {
    await broker.close()
  }
})

test('a bad option value found after connecting is still one line, and the process ends', async () => {
  const b = await testBroker()
  try {
    const cases: Array<{ args: string[]; error: RegExp }> = [
      { args: ['status', '--broker', b.url, '--listen', 'soon'], error: /--listen .*soon/ },
      { args: ['submit', '--broker', b.url, '--module', ECHO, '--wait', 'soon'], error: /--wait .*soon/ },
      { args: ['agent', '--broker', b.url, '--name', 'p', '--data', join(tmpDir('fm-cli-p-'), 'p'), '--price', 'free'], error: /--price .*free/ },
    ]
    const runs = await Promise.all(cases.map((c) => runFogmesh(c.args, { graceMs: 5000 })))
    cases.forEach((c, i) => assertUserError(runs[i]!, c.error, `fogmesh ${c.args.join(' ')}`))
  } finally {
    await b.close()
  }
})

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
    const r = await runFogmesh(['submit', '--broker', empty.url, '--module', ECHO, '--wait', '200'], { timeoutMs: 30_000 })
    assert.ok(r.code !== 0 && r.code !== null, `non-zero exit\n${showRun(r)}`)
    const res = parseResult(r)
    assert.is(res.status, 'error')
    assert.is(res.error?.code, 'no_agents')
    assert.ok(r.ms < 20_000, `answered in ${r.ms} ms`)
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
    assert.equal(JSON.parse(got[0]!.payload.toString()), { status: 'offline', id: a2.id, name: 'a2', reason: 'stopped' })
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

test('`fogmesh up --agents 2 --duration 3 --port 0` runs jobs and exits 0 with a clean summary', async () => {
  const r = await runFogmesh(['up', '--agents', '2', '--duration', '3', '--port', '0'], { timeoutMs: 60_000 })
  assert.is(r.code, 0, showRun(r))
  assert.is(r.stderr, '', `nothing on stderr\n${showRun(r)}`)
  assert.is((r.stdout.match(/^agent\s+[0-9a-f]+\s+agent-\d/gm) ?? []).length, 2, `two agents started\n${showRun(r)}`)
  const m = /^jobs\s+(\d+) sent, (\d+) ok, (\d+) failed, (\d+) unanswered$/m.exec(r.stdout)
  assert.ok(m, `a jobs summary line\n${showRun(r)}`)
  const [sent, ok, failed, unanswered] = m!.slice(1).map(Number) as [number, number, number, number]
  assert.ok(ok > 0, `jobs ok > 0 (${ok})`)
  assert.is(failed, 0, 'no job failed')
  assert.is(unanswered, 0, 'every job was answered')
  assert.is(sent, ok)
})

test.run()
