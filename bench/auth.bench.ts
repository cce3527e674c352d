/**
 * Connects per second with authentication against anonymous, same run, same
 * machine: a client connects (CONNECT/CONNACK), then disconnects cleanly, in a
 * loop, several clients at once, against the embedded broker:
 *
 *   anonymous            a broker without auth (today's open bus), the baseline
 *   password, cached     `fogmesh broker --auth`: a user whose password verified
 *                        before (an HMAC check; what every reconnect of a sensor costs)
 *   password, cold       the same with the cache off: a full PBKDF2-SHA512 check
 *                        (20,000 iterations, the default) per connect — a first
 *                        connect, or a guesser
 *   agent token          an agent: a fresh ed25519-signed token per connect (sign on
 *                        the client, verify + nonce + allowlist on the broker)
 *
 * Bounded: each case runs for a fixed time (or at most MAX_CONNECTS connects).
 *
 *   node --import tsx bench/auth.bench.ts [seconds per case=3] [clients at once=1]
 */
import mqtt from 'mqtt'
import { createAgentToken } from '../protocol/agent-token.ts'
import { createSigner, type Signer } from '../protocol/signature.ts'
import { agentIdFromPublicKey } from '../protocol/agent-id.ts'
import { createBrokerAuth } from '../broker/auth/broker-auth.ts'
import { CredentialStore } from '../broker/auth/credentials.ts'
import { PASSWORD_HASH_ITERATIONS } from '../broker/auth/password-hash.ts'
import { startBroker, type Broker } from '../broker/broker.ts'
import { randomBytes } from 'node:crypto'
import { header, table, target } from './report.ts'
import { int, ms, ratio, summarize } from './summary.ts'

const SECONDS = Number(process.argv[2] ?? 3)
const CLIENTS = Number(process.argv[3] ?? 1)
const WARM_S = 0.5
const MAX_CONNECTS = 20_000

header('fogmesh broker: connects per second, authenticated vs anonymous', [
  `${CLIENTS} clients connecting in a loop (CONNECT, CONNACK, DISCONNECT), ${WARM_S} s warm-up, then ${SECONDS} s per case (at most ${MAX_CONNECTS} connects)`,
  `password hashes: PBKDF2-SHA512, ${PASSWORD_HASH_ITERATIONS} iterations (Mosquitto's $7$ format); broker and clients in this one process`,
])

type Options = (worker: number) => mqtt.IClientOptions

async function measure(url: string, options: Options): Promise<{ perSec: number; p50: number; p99: number; n: number }> {
  const once = async (w: number) => {
    const c = mqtt.connect(url, { protocolVersion: 4, reconnectPeriod: 0, clean: true, ...options(w) })
    ;(c.stream as { setNoDelay?: (on: boolean) => void }).setNoDelay?.(true) // as the mesh's clients do (Nagle costs ~40 ms a connect)
    await new Promise<void>((resolve, reject) => {
      c.once('connect', () => resolve())
      c.once('error', reject)
    })
    await c.endAsync()
  }
  const run = async (seconds: number, record: boolean) => {
    const samples: number[] = []
    const end = performance.now() + seconds * 1000
    let count = 0
    await Promise.all(
      Array.from({ length: CLIENTS }, async (_, w) => {
        while (performance.now() < end && count < MAX_CONNECTS) {
          count++
          const t0 = performance.now()
          await once(w)
          if (record) samples.push(performance.now() - t0)
        }
      }),
    )
    return samples
  }
  await run(WARM_S, false)
  const t0 = performance.now()
  const samples = await run(SECONDS, true)
  const elapsed = (performance.now() - t0) / 1000
  const s = summarize(samples)
  return { perSec: samples.length / elapsed, p50: s.p50, p99: s.p99, n: s.n }
}

const store = CredentialStore.inMemory()
const password = await store.addUser('s1', 'sensor')
const signers: Signer[] = Array.from({ length: CLIENTS }, () => createSigner(randomBytes(32)))
for (const s of signers) await store.addAgent(agentIdFromPublicKey(s.publicKey), { withPassword: false })

const brokers: Broker[] = []
const open = async (auth?: ReturnType<typeof createBrokerAuth>) => {
  const b = await startBroker({ port: 0, wsPort: false, host: '127.0.0.1', ...(auth ? { auth } : {}) })
  brokers.push(b)
  return b
}
const anonymousBroker = await open()
const authBroker = await open(createBrokerAuth({ credentials: store, agents: 'allowlist' }))
const coldBroker = await open(createBrokerAuth({ credentials: store, agents: 'allowlist', maxVerifiedCache: 0 }))

const cases: Array<[string, string, Options]> = [
  ['anonymous (no auth)', anonymousBroker.url, (w) => ({ clientId: `anon-${w}` })],
  ['password, cached', authBroker.url, (w) => ({ clientId: `s1:w${w}`, username: 's1', password })],
  ['password, cold (PBKDF2 each)', coldBroker.url, (w) => ({ clientId: `s1:w${w}`, username: 's1', password })],
  ['agent token (ed25519)', authBroker.url, (w) => ({ clientId: `fm-agent-${agentIdFromPublicKey(signers[w]!.publicKey)}`, ...createAgentToken(signers[w]!) })],
]
const results: Array<[string, Awaited<ReturnType<typeof measure>>]> = []
for (const [name, url, options] of cases) {
  process.stderr.write(`  .. ${name}\n`)
  results.push([name, await measure(url, options)])
}
for (const b of brokers) await b.close()

const base = results[0]![1].perSec
console.log(table([
  ['case', 'connects/s', 'p50 ms', 'p99 ms', 'n', 'vs anonymous'],
  ...results.map(([name, r]) => [name, int(r.perSec), ms(r.p50), ms(r.p99), String(r.n), ratio(r.perSec, base)]),
]))
console.log('')
const [, cached, cold, token] = results.map(([, r]) => r.perSec) as [number, number, number, number]
target('password (cached) connects/s >= 0.5x anonymous', ratio(cached, base), cached >= 0.5 * base)
target('agent token connects/s >= 0.5x anonymous', ratio(token, base), token >= 0.5 * base)
// the slow hash is the point: a guesser gets at most this many tries per second from this broker
target('cold password checks/s <= 100 (the hash stays slow)', int(cold), cold <= 100)
