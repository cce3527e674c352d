/**
 * `fogmesh auth` as an operator uses it: the credentials file written, listed,
 * exported; every mistake one line (the broker that enforces the file:
 * test/broker-auth-cli.test.ts).
 *
 *   node --import tsx test/auth-cli.test.ts
 */
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { assertUserError, runFogmesh, showRun } from './support/fogmesh-cli.ts'
import { tmpDir } from './support/temp-dirs.ts'

setTimeout(() => {
  console.error('auth-cli.test.ts: watchdog fired after 240 s')
  process.exit(1)
}, 240_000).unref()

const home = tmpDir('fm-auth-cli-')
const file = join(home, 'auth.json')
const passwords: Record<string, string> = {}

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

test.run()
