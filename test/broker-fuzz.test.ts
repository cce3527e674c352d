/**
 * Random and mutated MQTT packets at the broker for a fixed budget (seeded;
 * `FM_FUZZ_SEED` reproduces a run, `FM_FUZZ_SECONDS` lengthens it; the long
 * run is bench/broker-fuzz.bench.ts): nothing throws out of the broker, every
 * fuzzing connection is let go (no connection or subscription left counted),
 * and a plain client is served afterwards as before.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { collect, plainClient } from './support/mqtt-clients.ts'
import { fuzzConnection } from './support/mqtt-fuzz.ts'
import { seededRandom } from './support/rng.ts'
import { testBroker } from './support/test-broker.ts'
import { waitFor } from './support/wait.ts'

const SEED = Number(process.env.FM_FUZZ_SEED ?? 20261202)
const SECONDS = Number(process.env.FM_FUZZ_SECONDS ?? 8)
const PARALLEL = 16

test(`fuzz: ${SECONDS} s of random and mutated packets (seed ${SEED}); the broker stands and lets every connection go`, async () => {
  const uncaught: unknown[] = []
  const onUncaught = (e: unknown) => uncaught.push(e)
  process.on('uncaughtException', onUncaught)
  const broker = await testBroker({ limits: { connectTimeoutMs: 1000, preConnectMaxBytes: 4096 } })
  try {
    const rng = seededRandom(SEED)
    const until = Date.now() + SECONDS * 1000
    let connections = 0
    await Promise.all(Array.from({ length: PARALLEL }, async () => {
      while (Date.now() < until) {
        connections++
        await fuzzConnection(rng, broker.port, 1500)
      }
    }))
    assert.equal(uncaught, [], 'nothing thrown out of the broker')
    await waitFor(() => broker.limitStats().connections === 0, 10_000, 'every fuzzing connection let go')
    await waitFor(() => broker.limitStats().subscriptions === 0, 10_000, 'no subscription left counted').catch((e: Error) => {
      throw new Error(`${e.message}: ${JSON.stringify(broker.limitStats())}`)
    })
    const a = await plainClient(broker.url)
    const b = await plainClient(broker.url)
    const got = collect(b)
    await b.subscribeAsync('after/fuzz', { qos: 1 })
    await a.publishAsync('after/fuzz', 'still here', { qos: 1 })
    await waitFor(() => got.length === 1, 5000, 'a message after the fuzzing')
    console.log(`  fuzz: ${connections} connections in ${SECONDS} s, seed ${SEED}`)
    await a.endAsync()
    await b.endAsync()
  } finally {
    process.off('uncaughtException', onUncaught)
    await broker.close()
  }
})

test.run()
