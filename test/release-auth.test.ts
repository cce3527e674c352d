/**
 * OTA releases on a broker with identities: `fogmesh release show|publish`
 * log in with --user (deployers write and read `fm/v1/releases/#`); a client
 * whose rules do not cover the channel gets one clear line (a refused
 * subscription is an AuthError, not an internal error), and nobody but a
 * deployer publishes a manifest.
 *
 *   node --import tsx test/release-auth.test.ts
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { topics } from '../protocol/topics.ts'
import { assertUserError, runFogmesh } from './support/fogmesh-cli.ts'
import { closedByBroker, startSecureMesh, type SecureMesh } from './support/secure-mesh.ts'
import { closeClient } from './support/mqtt-clients.ts'
import { tmpDir } from './support/temp-dirs.ts'

let mesh: SecureMesh
const home = tmpDir('fm-release-auth-')

test.before(async () => {
  mesh = await startSecureMesh({ agents: 0 })
})

test.after(async () => {
  await mesh.close()
})

test('release show: a deployer logs in with --user; without credentials the broker refuses it in one line', async () => {
  const [asDeployer, anonymous] = await Promise.all([
    runFogmesh(['release', 'show', '--broker', mesh.broker.url, '--user', 'dep'], { home, env: { FOGMESH_PASSWORD: mesh.passwords.dep! }, timeoutMs: 60_000 }),
    runFogmesh(['release', 'show', '--broker', mesh.broker.url], { home, timeoutMs: 60_000 }),
  ])
  // logged in and subscribed: the channel is simply empty
  assertUserError(asDeployer, /^fogmesh: no release on channel stable at /m, 'an empty channel', 2)
  assert.not.match(asDeployer.stderr, /refused|Not authorized/)
  // fogmesh up's settings let anonymous clients in from loopback, under rules without fm/v1/releases
  assertUserError(anonymous, /^fogmesh: .*the broker refused the subscription to fm\/v1\/releases\/stable \(not allowed for this identity\)/m, 'anonymous release show')
})

test('only a deployer may publish a release: a sensor’s retained manifest is refused', async () => {
  const s1 = await mesh.client('s1')
  s1.publish(topics.release('stable'), JSON.stringify({ version: '9.9.9' }), { qos: 1, retain: true })
  assert.is(await closedByBroker(s1), 'closed')
  await closeClient(s1)
})

test.run()
