import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readdirSync, readFileSync, statSync, writeFileSync, chmodSync } from 'node:fs'
import { join } from 'node:path'
import { tmpDir } from '../../test/support/temp-dirs.ts'
import { FogmeshError } from '../../protocol/errors.ts'
import { CredentialStore, checkUserName } from './credentials.ts'
import { hashPassword, parsePasswordHash, verifyPassword } from './password-hash.ts'
import { NonceBook } from './nonce-book.ts'
import { PasswordChecker } from './password-checker.ts'

test('password hashes are Mosquitto $7$ PBKDF2-SHA512 and verify both ways', async () => {
  const h = await hashPassword('s3cret', 1000)
  const p = parsePasswordHash(h)
  assert.is(p.iterations, 1000)
  assert.is(p.salt.length, 12)
  assert.is(p.hash.length, 64)
  assert.ok(await verifyPassword('s3cret', h))
  assert.not.ok(await verifyPassword('s3cret!', h))
  // a hash made by mosquitto_passwd (its default 101 iterations) verifies here too
  const mosq = '$7$101$F+e/WFML9Zf9xqu7$1jBMebFMYGKN5Jp8toDbW8mMu3qAyMIfvaq94dosI5XRr5sw/VeWKM698s3GmWRoevM38+tYrcq4ux+kWPxEzg=='
  assert.ok(await verifyPassword('secret', mosq))
  await hashPassword('x', 100).then(() => assert.unreachable('100 iterations refused'), (e: FogmeshError) => assert.match(e.shortMessage, /iterations/))
})

test('user names: what goes into topics and job ids, and nothing that means something else', () => {
  for (const ok of ['sensor-1', 'greenhouse.north_3', 'A']) assert.is(checkUserName(ok), ok)
  for (const bad of ['', 'a/b', 'a+b', 'a#', 'a:b', 'x'.repeat(65), 'a9dedd4e2ea551eeaf82', 'db21a0936890', 'fm-agent-x', 'anonymous', '__proto__', 'é']) {
    assert.throws(() => checkUserName(bad), undefined, bad)
  }
})

test('the credentials file: add, list, remove, add-agent; written atomically with mode 0600; bad files refused', async () => {
  const dir = tmpDir('fm-cred-')
  const path = join(dir, 'auth.json')
  assert.throws(() => CredentialStore.load(path), /does not exist/)
  const s = CredentialStore.load(path, { create: true })
  const pw = await s.addUser('s1', 'sensor', { iterations: 1000 })
  assert.match(pw, /^[A-Za-z0-9_-]{32}$/)
  await s.addUser('gw', 'gateway', { iterations: 1000, password: 'given' })
  await s.addUser('s1', 'sensor').then(() => assert.unreachable('duplicate'), (e: FogmeshError) => assert.match(e.shortMessage, /already exists/))
  const agentPw = await s.addAgent('a9dedd4e2ea551eeaf82', { iterations: 1000 })
  s.save()
  assert.is(statSync(path).mode & 0o777, 0o600)
  assert.equal(readdirSync(dir), ['auth.json'], 'no temporary file left')
  const text = readFileSync(path, 'utf8')
  assert.not.ok(text.includes(pw), 'the password is not in the file')
  assert.not.ok(text.includes(agentPw))
  const again = CredentialStore.load(path)
  assert.equal(again.users().map((u) => [u.name, u.role]), [['gw', 'gateway'], ['s1', 'sensor']])
  assert.ok(await verifyPassword(pw, again.user('s1')!.hash))
  assert.ok(await verifyPassword('given', again.user('gw')!.hash))
  assert.ok(again.hasAgent('a9dedd4e2ea551eeaf82'))
  assert.is(again.remove('s1'), 'user')
  assert.is(again.remove('a9dedd4e2ea551eeaf82'), 'agent')
  assert.is(again.remove('nobody'), undefined)
  again.save()
  assert.equal(CredentialStore.load(path).users().map((u) => u.name), ['gw'])
  // a file loosened by hand is tightened again when read
  chmodSync(path, 0o644)
  CredentialStore.load(path)
  assert.is(statSync(path).mode & 0o777, 0o600)
  writeFileSync(path, JSON.stringify({ kind: 'fogmesh-credentials', version: 1, users: { 'a/b': { role: 'sensor', hash: 'x' } }, agents: {} }))
  assert.throws(() => CredentialStore.load(path), /users\.a\/b/)
  writeFileSync(path, JSON.stringify({ kind: 'fogmesh-credentials', version: 1, users: { ok: { role: 'root', hash: pw } }, agents: {} }))
  assert.throws(() => CredentialStore.load(path), /users\.ok\.role/)
  writeFileSync(path, '{')
  assert.throws(() => CredentialStore.load(path), /not valid JSON/)
})

test('nonce book: a nonce works once; the bound raises the floor instead of forgetting', () => {
  const limits: number[] = []
  const book = new NonceBook({ windowMs: 1000, maxEntries: 3, onLimit: (l) => limits.push(l.floor) })
  assert.ok(book.accept('a', 'n1', 100, 100))
  assert.not.ok(book.accept('a', 'n1', 100, 150), 'replay')
  assert.ok(book.accept('b', 'n1', 100, 150), 'same nonce, other agent')
  assert.ok(book.accept('a', 'n2', 110, 150))
  assert.ok(book.accept('a', 'n3', 120, 150)) // evicts a.n1 (issued 100, still in its window)
  assert.equal(limits, [100])
  assert.not.ok(book.accept('a', 'n1', 100, 160), 'the evicted nonce is still refused (floor)')
  assert.not.ok(book.accept('c', 'fresh', 100, 160), 'so is any token issued at or before the floor')
  assert.ok(book.accept('c', 'fresh', 130, 160))
  // entries leave once their window is over
  assert.ok(book.accept('d', 'n', 5000, 5000))
  assert.is(book.size, 1)
})

test('password checker: a verified password is cached (as an HMAC) for that hash only; concurrency is bounded', async () => {
  const h = await hashPassword('pw', 50_000)
  const c = new PasswordChecker({ maxPending: 1 })
  let t = performance.now()
  await c.check('u', h, 'pw')
  const cold = performance.now() - t
  t = performance.now()
  await c.check('u', h, 'pw')
  const warm = performance.now() - t
  assert.ok(warm < cold / 5, `cached check is fast (${warm.toFixed(2)} vs ${cold.toFixed(2)} ms)`)
  await c.check('u', h, 'wrong').then(() => assert.unreachable('wrong password'), (e: { reason: string }) => assert.is(e.reason, 'bad_password'))
  const h2 = await hashPassword('pw', 1000)
  await c.check('u', h2, 'pw') // a new hash for the name is checked afresh (and passes)
  await c.check('nobody', undefined, 'pw').then(() => assert.unreachable('unknown user'), (e: { reason: string }) => assert.is(e.reason, 'unknown_user'))
  const limits: string[] = []
  const busy = new PasswordChecker({ maxPending: 1, onLimit: (l) => limits.push(l.limit) })
  const first = busy.check('u', h, 'pw')
  await busy.check('v', h, 'pw').then(() => assert.unreachable('busy'), (e: { reason: string }) => assert.is(e.reason, 'busy'))
  await first
  assert.equal(limits, ['maxPending'])
})

test.run()
