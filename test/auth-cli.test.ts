/**
 * Identities from the command line, as an operator uses them: `fogmesh auth`
 * writes the credentials file, `fogmesh broker --auth` enforces it, agents
 * join by key (allowlisted) or are told how to be admitted, and the clients
 * (`module add`, `submit`, `status`, `mosquitto_pub -u -P`) log in with
 * `--user` and $FOGMESH_PASSWORD. Without --auth the broker stays on loopback.
 *
 *   node --import tsx test/auth-cli.test.ts
 */
import { spawn } from 'node:child_process'
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { loadOrCreateIdentity } from '../agent/identity.ts'
import { modulePath } from '../wasm-modules/index.ts'
import { stopChild, trackChild } from './support/child-processes.ts'
import { assertUserError, fogmeshDaemon, runFogmesh, showRun, type Daemon } from './support/fogmesh-cli.ts'
import { findProgram } from './support/programs.ts'
import { sha256 } from './support/sha256.ts'
import { tmpDir } from './support/temp-dirs.ts'

setTimeout(() => {
  console.error('auth-cli.test.ts: watchdog fired after 240 s')
  process.exit(1)
}, 240_000).unref()

const home = tmpDir('fm-auth-cli-')
const file = join(home, 'auth.json')
const passwords: Record<string, string> = {}
const daemons: Daemon[] = []

test.after(async () => {
  for (const d of daemons) await stopChild(d.proc)
})

const passwordOf = (stdout: string) => /^password {2}(\S+)$/m.exec(stdout)?.[1]

test('fogmesh auth: add prints the password once, list never does; add-agent, remove, export; mistakes are one line', async () => {
  for (const [name, role] of [['s1', 'sensor'], ['gw', 'gateway'], ['dep', 'deployer'], ['ops', 'operator']] as const) {
    const r = await runFogmesh(['auth', 'add', name, '--role', role, '--file', file])
    assert.is(r.code, 0, showRun(r))
    assert.match(r.stdout, new RegExp(`^added ${role} "${name}" in ${file}$`, 'm'))
    passwords[name] = passwordOf(r.stdout)!
    assert.match(passwords[name]!, /^[A-Za-z0-9_-]{32}$/)
  }
  assert.is(statSync(file).mode & 0o777, 0o600)
  const text = readFileSync(file, 'utf8')
  for (const pw of Object.values(passwords)) assert.not.ok(text.includes(pw), 'no password in the file')
  const list = await runFogmesh(['auth', 'list', '--file', file])
  assert.is(list.code, 0, showRun(list))
  assert.match(list.stdout, /^NAME\s+ROLE\s+ADDED$/m)
  assert.match(list.stdout, /^s1\s+sensor\s+\d{4}-/m)
  for (const pw of Object.values(passwords)) assert.not.ok(list.stdout.includes(pw))
  const wrong = [
    ['auth', 'add', 's1', '--role', 'sensor', '--file', file],
    ['auth', 'add', 'x', '--role', 'root', '--file', file],
    ['auth', 'add', 'a/b', '--role', 'sensor', '--file', file],
    ['auth', 'add-agent', 'not-an-id', '--file', file],
    ['auth', 'remove', 'nobody', '--file', file],
    ['auth', 'list', '--file', join(home, 'missing.json')],
    ['auth'],
  ]
  const errors = []
  for (let i = 0; i < wrong.length; i += 3) errors.push(...(await Promise.all(wrong.slice(i, i + 3).map((args) => runFogmesh(args, { timeoutMs: 60_000 })))))
  const expected = [/already exists/, /--role: expected sensor, operator, deployer or gateway/, /name: expected 1\.\.64 characters/, /ID: expected an agent id/, /no user or agent "nobody"/, /does not exist/, /subcommand/]
  errors.forEach((r, i) => assertUserError(r, expected[i]!, `auth error ${i}`, 2))
  const other = join(home, 'other.json')
  const added = await runFogmesh(['auth', 'add', 'tmp', '--role', 'sensor', '--file', other])
  const rm = await runFogmesh(['auth', 'remove', 'tmp', '--file', other])
  assert.is(added.code, 0, showRun(added))
  assert.is(rm.code, 0, showRun(rm))
  assert.match(rm.stdout, /^removed user tmp from/m)
  const exported = await runFogmesh(['auth', 'export', '--mosquitto', join(home, 'mosq'), '--file', file])
  assert.is(exported.code, 0, showRun(exported))
  assert.match(readFileSync(join(home, 'mosq', 'acl_file'), 'utf8'), /^pattern read fm\/v1\/replies\/%u\/#$/m)
  assert.match(readFileSync(join(home, 'mosq', 'password_file'), 'utf8'), /^s1:\$7\$20000\$/m)
})

test('every auth command has --help', async () => {
  const names = ['add', 'add-agent', 'list', 'remove', 'export']
  for (let i = 0; i < names.length; i += 3) {
    const runs = await Promise.all(names.slice(i, i + 3).map((n) => runFogmesh(['auth', n, '--help'], { timeoutMs: 60_000 })))
    runs.forEach((r, j) => {
      assert.is(r.code, 0, showRun(r))
      assert.match(r.stdout, new RegExp(`usage: fogmesh auth ${names[i + j]}\\b`))
    })
  }
})

test('fogmesh broker without --auth: loopback only, and says so; a LAN listener is refused in one line', async () => {
  const refused = await runFogmesh(['broker', '--host', '0.0.0.0', '--port', '0', '--ws-port', '0'])
  assertUserError(refused, /refusing to serve 0\.0\.0\.0 without --auth/, 'open broker on 0.0.0.0', 2)
  const needs = await runFogmesh(['broker', '--agents', 'open', '--port', '0'])
  assertUserError(needs, /--agents needs --auth FILE/, '--agents without --auth', 2)
  const d = await fogmeshDaemon(['broker', '--port', '0', '--ws-port', '0', '--no-gateway'], /^auth .*$/m, { home })
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
  const broker = await fogmeshDaemon(['broker', '--auth', file, '--host', '127.0.0.1', '--port', '0', '--ws-port', '0'], /gateway listening.*\n/, { home })
  daemons.push(broker)
  const url = /^broker {2}(mqtt:\/\/\S+)/m.exec(broker.output())![1]!
  assert.match(broker.output(), new RegExp(`^auth {5}${file.replace(/[.]/g, '\\.')}: 4 users, 1 allowlisted agents; agents: allowlist; anonymous: refused$`, 'm'))
  const agent = await fogmeshDaemon(['agent', '--broker', url, '--name', 'cli-agent', '--data', agentDir, '--isolation', 'thread'], /online at/, { home })
  daemons.push(agent)
  const strangerDir = tmpDir('fm-auth-cli-stranger-')
  const stranger = loadOrCreateIdentity(strangerDir).id
  const env = (name: string) => ({ home, env: { FOGMESH_PASSWORD: passwords[name]! } })
  const echo = modulePath('echo')
  const [refusedAgent, bySensor, anonymous] = await Promise.all([
    runFogmesh(['agent', '--broker', url, '--name', 'stranger', '--data', strangerDir, '--isolation', 'thread'], { home }),
    runFogmesh(['module', 'add', echo, '--broker', url, '--user', 's1'], env('s1')),
    runFogmesh(['status', '--broker', url], { home }),
  ])
  assertUserError(refusedAgent, new RegExp(`Not authorized.*fogmesh auth add-agent ${stranger}`), 'a stranger agent')
  assertUserError(bySensor, /is "s1" a deployer/, 'a module from a sensor', 2)
  assertUserError(anonymous, /refused an anonymous client/, 'anonymous status')
  const published = await runFogmesh(['module', 'add', echo, '--broker', url, '--user', 'dep'], env('dep'))
  assert.is(published.code, 0, showRun(published))
  assert.is(published.stdout.trim(), sha256(readFileSync(echo)))
  const [submitted, status] = await Promise.all([
    runFogmesh(['submit', '--broker', url, '--user', 'gw', '--module', published.stdout.trim(), '--input', '-', '--text'], { ...env('gw'), stdin: 'by the gateway role' }),
    runFogmesh(['status', '--broker', url, '--user', 'ops', '--password', passwords.ops!], { home }),
  ])
  assert.is(submitted.code, 0, showRun(submitted))
  assert.is(JSON.parse(submitted.stdout).outputText, 'by the gateway role')
  assert.is(status.code, 0, showRun(status))
  assert.match(status.stdout, new RegExp(`^${id}\\s+cli-agent\\s+online`, 'm'))
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
