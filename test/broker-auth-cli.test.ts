/**
 * `fogmesh broker --auth` as an operator runs it: the broker enforces the
 * credentials file, agents join by key (allowlisted) or are told how to be
 * admitted, and the clients (`module add`, `submit`, `status`,
 * `mosquitto_pub -u -P`) log in with `--user` and $FOGMESH_PASSWORD. Without
 * --auth the broker stays on loopback and says so.
 *
 *   node --import tsx test/broker-auth-cli.test.ts
 */
import { spawn } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { loadOrCreateIdentity } from '../agent/identity.ts'
import { CredentialStore } from '../broker/auth/credentials.ts'
import { modulePath } from '../wasm-modules/index.ts'
import { stopChild, trackChild } from './support/child-processes.ts'
import { assertUserError, fogmeshDaemon, runFogmesh, showRun, type Daemon } from './support/fogmesh-cli.ts'
import { findProgram } from './support/programs.ts'
import { closeClient, plainClient } from './support/mqtt-clients.ts'
import { sha256 } from './support/sha256.ts'
import { tmpDir } from './support/temp-dirs.ts'
import { waitFor } from './support/wait.ts'

setTimeout(() => {
  console.error('broker-auth-cli.test.ts: watchdog fired after 170 s')
  process.exit(1)
}, 170_000).unref()

const home = tmpDir('fm-broker-auth-cli-')
const file = join(home, 'auth.json')
const passwords: Record<string, string> = {}
const daemons: Daemon[] = []

test.before(async () => {
  // the file as `fogmesh auth add` writes it (that command: test/auth-cli.test.ts)
  const store = CredentialStore.load(file, { create: true })
  for (const [name, role] of [['s1', 'sensor'], ['gw', 'gateway'], ['dep', 'deployer'], ['ops', 'operator']] as const) {
    passwords[name] = await store.addUser(name, role)
  }
  store.save()
})

test.after(async () => {
  for (const d of daemons) await stopChild(d.proc)
})

test('fogmesh broker without --auth: loopback only, and says so; a LAN listener is refused in one line', async () => {
  const refused = await runFogmesh(['broker', '--host', '0.0.0.0', '--port', '0', '--ws-port', '0', '--http-port', '0'])
  assertUserError(refused, /refusing to serve 0\.0\.0\.0 without --auth/, 'open broker on 0.0.0.0', 2)
  const needs = await runFogmesh(['broker', '--agents', 'open', '--port', '0', '--http-port', '0'])
  assertUserError(needs, /--agents needs --auth FILE/, '--agents without --auth', 2)
  const d = await fogmeshDaemon(['broker', '--port', '0', '--ws-port', '0', '--no-gateway', '--no-console'], /^auth .*$/m, { home, timeoutMs: 60_000 })
  try {
    assert.match(d.output(), /^broker {2}mqtt:\/\/127\.0\.0\.1:\d+/m)
    assert.match(d.match[0], /anonymous clients with full access, from this machine only \(127\.0\.0\.1\)/)
  } finally {
    await stopChild(d.proc)
  }
})

test('fogmesh broker --auth: an allowlisted agent joins by key, a stranger is told how to be admitted; clients log in with --user', async () => {
  const agentDir = tmpDir('fm-auth-cli-agent-')
  const id = loadOrCreateIdentity(agentDir).id
  const add = await runFogmesh(['auth', 'add-agent', id, '--file', file])
  assert.is(add.code, 0, showRun(add))
  const broker = await fogmeshDaemon(['broker', '--auth', file, '--host', '127.0.0.1', '--port', '0', '--ws-port', '0', '--http-port', '0'], /gateway listening.*\n/, { home, timeoutMs: 60_000 })
  daemons.push(broker)
  const url = /^broker {2}(mqtt:\/\/\S+)/m.exec(broker.output())![1]!
  assert.match(broker.output(), new RegExp(`^auth {5}${file.replace(/[.]/g, '\\.')}: 4 users, 1 allowlisted agents; agents: allowlist; anonymous: refused$`, 'm'))
  // the console inside the broker logs in as its own operator: no refusal, no denial on stderr
  await waitFor(() => /^console {2}http:\/\/127\.0\.0\.1:\d+\/$/m.test(broker.output()), 30_000, 'the console line')
  assert.not.match(broker.output(), /refused broker-|denied operator broker-console/)
  // the agent runs the jobs of the broker's gateway and of the requester `fogmesh submit` is in this home (signed assignments)
  const whoami = await runFogmesh(['submit', '--whoami'], { home, timeoutMs: 60_000 })
  assert.is(whoami.code, 0, showRun(whoami))
  const agent = await fogmeshDaemon(['agent', '--broker', url, '--name', 'cli-agent', '--data', agentDir, '--isolation', 'thread', '--accept-from', `${whoami.stdout.trim()},${/requester id ([0-9a-f]{20})/.exec(broker.output())![1]}`], /online at/, { home, timeoutMs: 60_000 })
  daemons.push(agent)
  const strangerDir = tmpDir('fm-auth-cli-stranger-')
  const stranger = loadOrCreateIdentity(strangerDir).id
  const env = (name: string) => ({ home, env: { FOGMESH_PASSWORD: passwords[name]! } })
  const echo = modulePath('echo')
  const [refusedAgent, bySensor, anonymous] = await Promise.all([
    runFogmesh(['agent', '--broker', url, '--name', 'stranger', '--data', strangerDir, '--isolation', 'thread'], { home, timeoutMs: 60_000 }),
    runFogmesh(['module', 'add', echo, '--broker', url, '--user', 's1'], { ...env('s1'), timeoutMs: 60_000 }),
    runFogmesh(['status', '--broker', url], { home, timeoutMs: 60_000 }),
  ])
  assertUserError(refusedAgent, new RegExp(`Not authorized.*fogmesh auth add-agent ${stranger}`), 'a stranger agent')
  assertUserError(bySensor, /is "s1" a deployer/, 'a module from a sensor', 2)
  assertUserError(anonymous, /refused an anonymous client/, 'anonymous status')
  const published = await runFogmesh(['module', 'add', echo, '--broker', url, '--user', 'dep'], { ...env('dep'), timeoutMs: 60_000 })
  assert.is(published.code, 0, showRun(published))
  assert.is(published.stdout.trim(), sha256(readFileSync(echo)))
  const [submitted, status] = await Promise.all([
    runFogmesh(['submit', '--broker', url, '--user', 'gw', '--module', published.stdout.trim(), '--input', '-', '--text'], { ...env('gw'), stdin: 'by the gateway role', timeoutMs: 60_000 }),
    runFogmesh(['status', '--broker', url, '--user', 'ops', '--password', passwords.ops!], { home, timeoutMs: 60_000 }),
  ])
  assert.is(submitted.code, 0, showRun(submitted))
  assert.is(JSON.parse(submitted.stdout).outputText, 'by the gateway role')
  assert.is(status.code, 0, showRun(status))
  assert.match(status.stdout, new RegExp(`^${id}\\s+cli-agent\\s+online`, 'm'))
  // revoking: auth remove, then SIGHUP — the operator's live session is closed, its next connect refused
  const live = await plainClient(url, { username: 'ops', password: passwords.ops!, reconnectPeriod: 0 })
  const gone = new Promise<void>((r) => live.once('close', () => r()))
  const removed = await runFogmesh(['auth', 'remove', 'ops', '--file', file], { home })
  assert.is(removed.code, 0, showRun(removed))
  broker.proc.kill('SIGHUP')
  await waitFor(() => /closed 1 session\(s\) of removed or changed identities/.test(broker.output()), 10_000, 'the reload line')
  await gone
  assert.match(broker.output(), /^revoked operator ops \(ops:\S+\): removed$/m)
  const again = await runFogmesh(['status', '--broker', url, '--user', 'ops', '--password', passwords.ops!], { home, timeoutMs: 60_000 })
  assertUserError(again, /ops/, 'a removed user')
  await closeClient(live)
  // a dumb sensor: mosquitto_sub and mosquitto_pub with -u -P, in its own name
  const pub = findProgram('mosquitto_pub')
  const sub = findProgram('mosquitto_sub')
  if (!pub || !sub) {
    if (process.env.CI) assert.unreachable('mosquitto-clients are required under CI')
    return
  }
  const port = new URL(url).port
  const auth = ['-h', '127.0.0.1', '-p', port, '-u', 's1', '-P', passwords.s1!]
  const s = trackChild(spawn(sub, [...auth, '-t', 'fm/v1/replies/s1/#', '-C', '1', '-W', '20'], { stdio: ['ignore', 'pipe', 'pipe'] }))
  let out = ''
  s.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  s.stderr!.on('data', (d: Buffer) => (out += d.toString()))
  await new Promise((r) => setTimeout(r, 500))
  const job = JSON.stringify({ id: 'job-1', module: published.stdout.trim(), input: Buffer.from('from mosquitto_pub').toString('base64'), replyTo: 'fm/v1/replies/s1/results' })
  const p = trackChild(spawn(pub, [...auth, '-t', 'fm/v1/jobs/submit/s1', '-m', job], { stdio: 'ignore' }))
  await new Promise((r) => p.once('exit', r))
  assert.is(await new Promise((r) => s.once('exit', r)), 0, out)
  const r = JSON.parse(out)
  assert.is(r.status, 'ok', out)
  assert.is(r.jobId, 'job-1@s1')
  assert.is(Buffer.from(r.output, 'base64').toString(), 'from mosquitto_pub')
})

test.run()
