/**
 * Clustered brokers on Debian's real redis-server (started here on a free port):
 * agents on one broker, the sensor and the gateway on another, jobs flow; a
 * retained message published on one is seen on the other; a Redis that goes
 * away and comes back is a retry (a publish is acknowledged only once Redis is back),
 * and on the stream bus (broker/stream-emitter.ts) what was published meanwhile reaches the other brokers.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startAgent } from '../agent/agent.ts'
import { startGateway } from '../market/gateway.ts'
import { FogmeshError } from '../protocol/errors.ts'
import { closeClient, collect, plainClient } from '../test/support/mqtt-clients.ts'
import { ROOT } from '../test/support/paths.ts'
import { requireProgram, testNeeding } from '../test/support/programs.ts'
import { startRedis } from '../test/support/redis.ts'
import { tmpDir } from '../test/support/temp-dirs.ts'
import { testBroker } from '../test/support/test-broker.ts'
import { waitFor } from '../test/support/wait.ts'

const redisTest = testNeeding(test, 'redis-server')
const ECHO = readFileSync(join(ROOT, 'wasm-modules/dist/echo.wasm'))

redisTest('two brokers on one Redis: agents on A, sensor and gateway on B, jobs answered; retained state shared', async () => {
  const redis = await startRedis(requireProgram('redis-server'))
  const a = await testBroker({ cluster: redis.url, wsPort: false })
  const b = await testBroker({ cluster: redis.url, wsPort: false })
  const agents = [
    await startAgent({ broker: a.url, dataDir: tmpDir('fm-agent-'), name: 'c1', slots: 2, acceptFrom: 'any' }),
    await startAgent({ broker: a.url, dataDir: tmpDir('fm-agent-'), name: 'c2', slots: 2, acceptFrom: 'any' }),
  ]
  const gateway = await startGateway({ broker: b.url })
  const sensor = await plainClient(b.url)
  try {
    assert.is(a.state.kind, 'redis')
    await gateway.requester.directory.waitFor(2, 10_000) // presences published on A, seen through B
    const module = await gateway.requester.publishModule(ECHO) // retained in Redis, fetched by agents on A
    const replies = collect(sensor)
    await sensor.subscribeAsync('cl/replies', { qos: 1 })
    const N = 10
    for (let i = 0; i < N; i++) {
      await sensor.publishAsync('fm/v1/jobs/submit', JSON.stringify({ id: `j${i}`, module, input: Buffer.from(`in ${i}`).toString('base64'), replyTo: 'cl/replies' }), { qos: 1 })
    }
    await waitFor(() => replies.length >= N || undefined, 30_000, `${N} answers`)
    const ok = replies.map((r) => JSON.parse(r.payload.toString()) as { status: string; id: string }).filter((r) => r.status === 'ok')
    console.log(`cluster: ${ok.length}/${N} answered ok across brokers`)
    assert.is(ok.length, N)
    // a new client on A sees the retained module published through B
    const late = await plainClient(a.url)
    const got = collect(late)
    await late.subscribeAsync(`fm/v1/modules/${module}`, { qos: 1 })
    await waitFor(() => got.length === 1 || undefined, 5000, 'the retained module from Redis')
    assert.is(got[0]!.payload.length, ECHO.length)
    await closeClient(late)
  } finally {
    await closeClient(sensor)
    await gateway.close()
    await Promise.all(agents.map((x) => x.close({ graceMs: 200 })))
    await a.close()
    await b.close()
    await redis.stop()
  }
})

/** One Redis outage: killed, a QoS 1 publish on A meanwhile, restarted; was it acknowledged, and did B's subscriber get it? */
async function outage(bin: string, bus: 'streams' | 'pubsub', runs: number) {
  let redis = await startRedis(bin)
  const a = await testBroker({ cluster: redis.url, clusterBus: bus, wsPort: false })
  const b = await testBroker({ cluster: redis.url, clusterBus: bus, wsPort: false })
  const sub = await plainClient(b.url)
  const got = collect(sub)
  await sub.subscribeAsync('out/#', { qos: 1 })
  const pub = await plainClient(a.url, { reconnectPeriod: 200 })
  const delivered: boolean[] = []
  try {
    await pub.publishAsync('out/before', 'before', { qos: 1 })
    await waitFor(() => got.length === 1 || undefined, 5000, 'delivery through Redis')
    for (let run = 0; run < runs; run++) {
      await redis.kill()
      await new Promise((r) => setTimeout(r, 50)) // the broker's connections have seen Redis go
      let acked = false
      const during = pub.publishAsync(`out/during/${run}`, 'during', { qos: 1 }).then(() => void (acked = true))
      await new Promise((r) => setTimeout(r, 300))
      assert.not.ok(acked, 'not acknowledged while Redis is away')
      redis = await startRedis(bin, redis.port)
      await Promise.race([during, new Promise((_, rej) => setTimeout(() => rej(new Error('not acknowledged after Redis returned')), 20_000))])
      assert.ok(acked)
      // what follows the outage flows; then: did the message of the outage arrive too?
      await waitFor(async () => {
        await pub.publishAsync(`out/after/${run}`, 'after', { qos: 1 })
        return got.some((m) => m.topic === `out/after/${run}`) || undefined
      }, 20_000, 'messages across brokers after Redis returned')
      await new Promise((r) => setTimeout(r, 100))
      delivered.push(got.some((m) => m.topic === `out/during/${run}`))
    }
    return { delivered, gaps: a.state.bus?.stats().gaps ?? 0 }
  } finally {
    await closeClient(pub)
    await closeClient(sub)
    await a.close()
    await b.close()
    await redis.stop()
  }
}

redisTest('Redis killed and restarted, 3 times: a QoS 1 publish during each outage is acknowledged only after Redis returns, and reaches the other broker (stream bus)', async () => {
  const bin = requireProgram('redis-server')
  const streams = await outage(bin, 'streams', 3)
  // the same outages on Redis pub/sub (mqemitter-redis), for the README's comparison: fire-and-forget
  const pubsub = await outage(bin, 'pubsub', 3)
  const n = (d: boolean[]) => d.filter(Boolean).length
  console.log(`redis outage: during-outage message delivered to the other broker: stream bus ${n(streams.delivered)}/3, pub/sub bus ${n(pubsub.delivered)}/3`)
  assert.equal(streams.delivered, [true, true, true], 'the stream bus delivers what was published during the outage')
  assert.is(streams.gaps, 0)
})

test('--cluster refuses a URL that is not redis://, and a Redis that is not there, with a typed error', async () => {
  const bad = await testBroker({ cluster: 'http://127.0.0.1:1', wsPort: false }).catch((e: unknown) => e)
  assert.ok(bad instanceof FogmeshError, String(bad))
  assert.match((bad as FogmeshError).message, /redis:\/\//)
  const gone = await testBroker({ cluster: 'redis://127.0.0.1:1', wsPort: false }).catch((e: unknown) => e)
  assert.ok(gone instanceof FogmeshError, String(gone))
  assert.match((gone as FogmeshError).message, /cannot reach Redis/)
})

test.run()
