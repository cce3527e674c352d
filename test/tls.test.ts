/**
 * TLS on the embedded broker: a certificate made by `openssl` here, MQTT over
 * TLS (`mqtts://`) for an agent and the gateway, MQTT over secure WebSocket
 * (`wss://`) for a sensor, all trusting it through `ca`; clients that do not
 * trust it, or speak plain MQTT to it, get nowhere. Auth is on as well.
 *
 *   node --import tsx test/tls.test.ts
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startAgent } from '../agent/agent.ts'
import { loadOrCreateIdentity } from '../agent/identity.ts'
import { createBrokerAuth } from '../broker/auth/broker-auth.ts'
import { CredentialStore } from '../broker/auth/credentials.ts'
import { startGateway } from '../market/gateway.ts'
import { ephemeralIdentity } from '../protocol/identity.ts'
import { topics } from '../protocol/topics.ts'
import { connect } from '../protocol/transport.ts'
import * as fx from './fixtures/engine/modules.ts'
import { closeClient, collect, plainClient } from './support/mqtt-clients.ts'
import { requireProgram, testNeeding } from './support/programs.ts'
import { sha256 } from './support/sha256.ts'
import { tmpDir } from './support/temp-dirs.ts'
import { testBroker } from './support/test-broker.ts'
import { waitFor } from './support/wait.ts'

const tlsTest = testNeeding(test, 'openssl')

/** A self-signed certificate for 127.0.0.1 and localhost, valid one day (P-256). */
function makeCertificate(): { cert: Buffer; key: Buffer; certPath: string } {
  const dir = tmpDir('fm-tls-')
  const [certPath, keyPath] = [join(dir, 'cert.pem'), join(dir, 'key.pem')]
  const r = spawnSync(requireProgram('openssl'), [
    'req', '-x509', '-newkey', 'ec', '-pkeyopt', 'ec_paramgen_curve:prime256v1', '-nodes', '-days', '1',
    '-keyout', keyPath, '-out', certPath, '-subj', '/CN=fogmesh test broker', '-addext', 'subjectAltName=IP:127.0.0.1,DNS:localhost',
  ], { encoding: 'utf8' })
  assert.is(r.status, 0, r.stderr)
  return { cert: readFileSync(certPath), key: readFileSync(keyPath), certPath }
}

tlsTest('a job over mqtts:// and wss:// with a CA the clients were given; untrusting and plain clients get nowhere', async () => {
  const { cert, key } = makeCertificate()
  const store = CredentialStore.inMemory()
  const pw = { s1: await store.addUser('s1', 'sensor', { iterations: 1000 }), gw: await store.addUser('gw', 'gateway', { iterations: 1000 }), dep: await store.addUser('dep', 'deployer', { iterations: 1000 }) }
  const broker = await testBroker({ tls: { cert, key }, auth: createBrokerAuth({ credentials: store }) })
  assert.match(broker.url, /^mqtts:\/\/127\.0\.0\.1:\d+$/)
  assert.match(broker.wsUrl!, /^wss:\/\/127\.0\.0\.1:\d+$/)
  const dataDir = tmpDir('fm-tls-agent-')
  await store.addAgent(loadOrCreateIdentity(dataDir).id, { iterations: 1000 })
  const gatewayIdentity = ephemeralIdentity()
  const agent = await startAgent({ broker: broker.url, dataDir, name: 'tls-agent', slots: 1, isolation: 'thread', acceptFrom: [gatewayIdentity.id], credentials: { ca: cert } })
  const gateway = await startGateway({ broker: broker.url, identity: gatewayIdentity, credentials: { username: 'gw', password: pw.gw, ca: cert } })
  try {
    await gateway.requester.directory.waitFor(1, 5000)
    const bytes = fx.echo().bytes
    const dep = await connect(broker.url, { reconnect: false, credentials: { username: 'dep', password: pw.dep, ca: cert } })
    await dep.publishAsync(topics.module(sha256(bytes)), Buffer.from(bytes), { qos: 1, retain: true })
    await dep.close()
    const sensor = await plainClient(broker.wsUrl!, { username: 's1', password: pw.s1, ca: cert, noDelay: false })
    try {
      const got = collect(sensor)
      await sensor.subscribeAsync('fm/v1/replies/s1/#')
      await sensor.publishAsync(topics.submitAs('s1'), JSON.stringify({ id: 'tls-1', module: sha256(bytes), input: Buffer.from('over tls').toString('base64'), replyTo: 'fm/v1/replies/s1/r' }))
      const m = await waitFor(() => got.find((x) => x.topic === 'fm/v1/replies/s1/r'), 8000, 'the answer')
      const r = JSON.parse(m.payload.toString())
      assert.is(r.status, 'ok', JSON.stringify(r))
      assert.is(Buffer.from(r.output, 'base64').toString(), 'over tls')
      assert.is(r.agent, agent.id)
    } finally {
      await closeClient(sensor)
    }
    // no CA: the self-signed certificate is refused by the client
    await plainClient(broker.url, { username: 's1', password: pw.s1 }).then(
      (c) => (closeClient(c), assert.unreachable('connected without trusting the certificate')),
      (e: Error) => assert.match(e.message, /self[- ]signed|certificate/i),
    )
    // plain MQTT to the TLS port: no CONNACK ever comes
    await connect(broker.url.replace('mqtts:', 'mqtt:'), { reconnect: false, connectTimeoutMs: 1500, credentials: { username: 's1', password: pw.s1 } }).then(
      (c) => (c.close(true), assert.unreachable('plain MQTT on the TLS port')),
      (e: Error) => assert.match(e.message, /cannot connect to broker/),
    )
  } finally {
    await gateway.close()
    await agent.close({ graceMs: 200 })
    await broker.close()
  }
})

test.run()
