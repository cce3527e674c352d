/**
 * The real broker connection's close is bounded: mqtt.js's own unforced end waits, without a
 * bound, for every in-flight QoS 1 publish to be acknowledged — an agent leaving while its broker
 * is unreachable (or withholding PUBACKs) never exited, and a staged OTA release never started.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { CLOSE_GRACE_MS, connect } from './mqtt-connection.ts'
import { testBroker } from '../../test/support/test-broker.ts'
import { waitFor } from '../../test/support/wait.ts'

test('close() with nothing in flight ends at once, with a DISCONNECT', async () => {
  const broker = await testBroker({ wsPort: false })
  try {
    const conn = await connect(broker.url)
    await conn.publishAsync('t/a', 'x', { qos: 1 })
    const t0 = performance.now()
    await conn.close()
    assert.ok(performance.now() - t0 < CLOSE_GRACE_MS, 'not the grace period')
    assert.ok(conn.client.disconnected)
  } finally {
    await broker.close()
  }
})

test('close() with a QoS 1 publish that is never acknowledged (broker gone) ends after the grace period, not never', async () => {
  const broker = await testBroker({ wsPort: false })
  const conn = await connect(broker.url)
  await broker.close()
  await waitFor(() => !conn.client.connected, 10_000, 'the link to drop')
  void conn.publishAsync('t/b', 'y', { qos: 1 }).catch(() => {}) // in flight: nobody will acknowledge it
  assert.ok(Object.keys(conn.client.outgoing).length > 0, 'a publish is in flight')
  const t0 = performance.now()
  const closed = await Promise.race([conn.close().then(() => true), new Promise<boolean>((r) => setTimeout(() => r(false), CLOSE_GRACE_MS + 10_000))])
  const ms = performance.now() - t0
  assert.ok(closed, `close() returned within ${CLOSE_GRACE_MS + 10_000} ms`)
  assert.ok(ms >= CLOSE_GRACE_MS - 50, `it waited the grace period for the PUBACK first (${ms.toFixed(0)} ms)`)
})

test.run()
