/**
 * Agent admission through the real broker on loopback: tokens are single-use
 * (replay refused), short-lived, bound to the key and to the `fm-agent-<id>`
 * client id; allowlist, open and staked admission; anonymous policies.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { Client } from 'aedes'
import { createAgentToken } from '../../protocol/agent-token.ts'
import { createSigner } from '../../protocol/signature.ts'
import { agentIdFromPublicKey } from '../../protocol/agent-id.ts'
import { closeClient, plainClient } from '../../test/support/mqtt-clients.ts'
import { testBroker } from '../../test/support/test-broker.ts'
import { computeAddress } from 'ethers'
import { devAccounts } from '../../contracts/anvil.ts'
import { InMemoryChain } from '../../contracts/in-memory-chain.ts'
import { meshKeyOf, type StakeRegistry } from './admission.ts'
import { createBrokerAuth, isLoopback, liveClients, scopedClientId } from './broker-auth.ts'
import { CredentialStore } from './credentials.ts'
import { tmpDir } from '../../test/support/temp-dirs.ts'
import { join } from 'node:path'

const signer = (n: number) => createSigner(Buffer.alloc(32, n))
const idOf = (s: ReturnType<typeof signer>) => agentIdFromPublicKey(s.publicKey)

async function refusedWith(url: string, opts: Parameters<typeof plainClient>[1]): Promise<number | undefined> {
  try {
    const c = await plainClient(url, opts)
    await closeClient(c)
    return 0
  } catch (err) {
    return (err as { code?: number }).code
  }
}

test('token replay: a token works once; replayed, expired or from the future it is refused', async () => {
  const store = CredentialStore.inMemory()
  const a = signer(1)
  await store.addAgent(idOf(a), { iterations: 1000 })
  const auth = createBrokerAuth({ credentials: store, tokenWindowMs: 60_000 })
  const reasons: string[] = []
  auth.on('authRefused', (r) => reasons.push(r.reason))
  const broker = await testBroker({ auth })
  try {
    const clientId = `fm-agent-${idOf(a)}`
    const token = createAgentToken(a)
    const first = await plainClient(broker.url, { clientId, ...token })
    await closeClient(first)
    assert.is(await refusedWith(broker.url, { clientId, ...token }), 4, 'the same token again')
    assert.is(await refusedWith(broker.url, { clientId, ...createAgentToken(a, { now: Date.now() - 61_000 }) }), 4, 'too old')
    assert.is(await refusedWith(broker.url, { clientId, ...createAgentToken(a, { now: Date.now() + 61_000 }) }), 4, 'from the future')
    assert.is(await refusedWith(broker.url, { clientId: 'something-else', ...createAgentToken(a) }), 2, 'not its client id')
    assert.is(await refusedWith(broker.url, { clientId, ...createAgentToken(a) }), 0, 'a fresh token is fine')
    assert.equal(reasons, ['token_replayed', 'token_expired', 'token_from_future', 'client_id_mismatch'])
  } finally {
    await broker.close()
  }
})

test('admission: allowlist refuses strangers (not authorized), open takes any key, staked asks the registry (cached)', async () => {
  const store = CredentialStore.inMemory()
  const [known, stranger] = [signer(2), signer(3)]
  await store.addAgent(idOf(known), { iterations: 1000 })
  // the chain's in-memory twin: `known`'s key registered with the minimum stake, counted reads
  const chain = new InMemoryChain({ minStake: 100n })
  const payout = computeAddress(devAccounts(1)[0]!)
  chain.mint(payout, 1000n)
  await chain.registry(payout).register(meshKeyOf(Buffer.from(known.publicKey).toString('hex')), 100n)
  const twin = chain.registry(payout)
  const registry: StakeRegistry & { lookups: number } = { lookups: 0, activeAgentOf: (k) => (registry.lookups++, twin.activeAgentOf(k)) }
  for (const [mode, expectKnown, expectStranger] of [['allowlist', 0, 5], ['open', 0, 0], ['staked', 0, 5]] as const) {
    const broker = await testBroker({ auth: createBrokerAuth({ credentials: store, agents: mode, registry }) })
    try {
      assert.is(await refusedWith(broker.url, { clientId: `fm-agent-${idOf(known)}`, ...createAgentToken(known) }), expectKnown, `${mode}: known`)
      assert.is(await refusedWith(broker.url, { clientId: `fm-agent-${idOf(stranger)}`, ...createAgentToken(stranger) }), expectStranger, `${mode}: stranger`)
    } finally {
      await broker.close()
    }
  }
  const lookups = registry.lookups
  const broker = await testBroker({ auth: createBrokerAuth({ agents: 'staked', registry }) })
  try {
    for (let i = 0; i < 3; i++) assert.is(await refusedWith(broker.url, { clientId: `fm-agent-${idOf(known)}`, ...createAgentToken(known) }), 0)
    assert.is(registry.lookups - lookups, 1, 'one registry read for three connects')
  } finally {
    await broker.close()
  }
})

test('a password is no way in for an agent id on the fogmesh broker; agent-shaped client ids need the key', async () => {
  const store = CredentialStore.inMemory()
  const pw = await store.addUser('s1', 'sensor', { iterations: 1000 })
  const a = signer(4)
  const agentPw = await store.addAgent(idOf(a), { iterations: 1000 })
  const broker = await testBroker({ auth: createBrokerAuth({ credentials: store, anonymous: 'local' }) })
  try {
    assert.is(await refusedWith(broker.url, { clientId: `fm-agent-${idOf(a)}`, username: idOf(a), password: agentPw }), 4)
    assert.is(await refusedWith(broker.url, { clientId: `fm-agent-${idOf(a)}`, username: 's1', password: pw }), 2)
    assert.is(await refusedWith(broker.url, { clientId: `fm-agent-${idOf(a)}` }), 2)
    assert.is(await refusedWith(broker.url, { clientId: 'any', username: 's1', password: pw }), 0)
  } finally {
    await broker.close()
  }
})

test('anonymous policies: local takes loopback only, none takes nobody; client ids are scoped', async () => {
  const auth = createBrokerAuth({ anonymous: 'local' })
  const hooks = auth.hooks((c) => (c as unknown as { remote: string }).remote)
  const attempt = (remote: string, id = 'x') =>
    new Promise<string>((resolve) => {
      const client = { id, remote, _will: null } as unknown as Client
      hooks.authenticate(client, undefined, undefined, (err) => resolve(err ? `refused ${err.returnCode}` : `ok ${client.id}`))
    })
  assert.is(await attempt('127.0.0.1', 'c1'), 'ok anonymous:c1')
  assert.is(await attempt('::ffff:127.0.0.5', 'anonymous:c2'), 'ok anonymous:c2')
  assert.is(await attempt('192.0.2.7'), 'refused 5')
  assert.ok(isLoopback('::1') && !isLoopback('10.0.0.1') && !isLoopback('::ffff:192.0.2.1'))
  assert.is(scopedClientId('s1', 's1'), 's1')
  assert.is(scopedClientId('s1', 's1:a'), 's1:a')
  assert.is(scopedClientId('s1', 's10:a'), 's1:s10:a')
})

test('revocation: after the file is re-read, removed users, changed passwords or roles and de-listed agents lose their live sessions', async () => {
  const file = join(tmpDir('fm-revoke-'), 'auth.json')
  const store = CredentialStore.inMemory()
  const pw: Record<string, string> = {}
  for (const [n, role] of [['keep', 'sensor'], ['gone', 'sensor'], ['newpw', 'sensor'], ['promoted', 'sensor']] as const) pw[n] = await store.addUser(n, role, { iterations: 1000 })
  const agentKey = signer(41)
  await store.addAgent(idOf(agentKey), { iterations: 1000 })
  store.save(file)
  const live = CredentialStore.load(file)
  const auth = createBrokerAuth({ credentials: live, agents: 'allowlist' })
  const revoked: string[] = []
  auth.on('revoked', (r) => revoked.push(`${r.name}:${r.reason}`))
  const broker = await testBroker({ auth })
  try {
    const users = await Promise.all(['keep', 'gone', 'newpw', 'promoted'].map((n) => plainClient(broker.url, { username: n, password: pw[n]!, reconnectPeriod: 0 })))
    const agent = await plainClient(broker.url, { clientId: `fm-agent-${idOf(agentKey)}`, ...createAgentToken(agentKey), reconnectPeriod: 0 })
    const closed = [...users, agent].map((c) => new Promise<boolean>((r) => { c.once('close', () => r(true)); setTimeout(() => r(false), 3000) }))
    assert.is(auth.revokeStale(liveClients(broker)), 0, 'nothing changed yet')
    store.remove('gone')
    await store.addUser('newpw', 'sensor', { iterations: 1000, replace: true })
    await store.addUser('promoted', 'operator', { iterations: 1000, replace: true, password: pw.promoted! })
    store.remove(idOf(agentKey))
    store.save(file)
    live.reload()
    assert.is(auth.revokeStale(liveClients(broker)), 4)
    assert.equal(await Promise.all(closed), [false, true, true, true, true])
    assert.equal(revoked.sort(), ['gone:removed', 'newpw:password_changed', 'promoted:role_changed', `${idOf(agentKey)}:not_allowlisted`].sort())
    assert.ok(users[0]!.connected, 'an unchanged identity keeps its session')
    assert.is(await refusedWith(broker.url, { username: 'gone', password: pw.gone!, reconnectPeriod: 0 }), 4, 'and the removed one cannot come back')
    await Promise.all([...users, agent].map(closeClient))
  } finally {
    await broker.close()
  }
})

test.run()
