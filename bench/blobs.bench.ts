/**
 * Content-addressed data: how fast an agent fetches a 16 MiB input as a blob (protocol/blobs/:
 * 32 retained chunks of 512 KiB and a manifest, each piece subscribed for, hash-checked, the whole
 * checked against the manifest) against raw MQTT carrying the same bytes on the same broker (the
 * baseline: 32 QoS 1 messages of 512 KiB from a publisher to a subscriber that is already there).
 * Same embedded broker (aedes on loopback), same run, alternating rounds, fresh bytes each round.
 *
 *   npm run bench:blobs        (or: node --import tsx bench/blobs.bench.ts [MiB=16] [rounds=3])
 */
import { randomBytes } from 'node:crypto'
import { BlobFetcher } from '../agent/blob-fetcher.ts'
import { BlobStore } from '../agent/blob-store.ts'
import { DEFAULT_CHUNK_BYTES } from '../protocol/blobs/chunk-blob.ts'
import { publishBlob } from '../protocol/blobs/publish-blob.ts'
import { connect } from '../protocol/transport.ts'
import { testBroker } from '../test/support/test-broker.ts'
import { header, progress, table, target } from './report.ts'
import { ms, ratio } from './summary.ts'

const MIB = 1024 * 1024
const SIZE = Number(process.argv[2] ?? 16) * MIB
const ROUNDS = Number(process.argv[3] ?? 3)
const CHUNK = DEFAULT_CHUNK_BYTES

header('content-addressed blobs: fetch vs raw MQTT', [`${SIZE / MIB} MiB per round in ${CHUNK / 1024} KiB pieces, ${ROUNDS} rounds each, alternating; aedes on 127.0.0.1`])

const broker = await testBroker()
const pub = await connect(broker.url)
const sub = await connect(broker.url)

/** Raw MQTT: the same bytes as QoS 1 messages, 4 in flight (as publishBlob), to a subscriber already listening. */
async function raw(round: number, data: Buffer): Promise<number> {
  const topic = `bench/raw/${round}`
  let got = 0
  const all = new Promise<void>((resolve) => {
    sub.route(topic, (_t, p) => {
      got += p.length
      if (got >= data.length) resolve()
    })
  })
  await sub.subscribe(topic, 1)
  const t0 = performance.now()
  for (let off = 0; off < data.length; off += CHUNK * 4) {
    const batch = []
    for (let o = off; o < Math.min(data.length, off + CHUNK * 4); o += CHUNK) batch.push(pub.publishAsync(topic, data.subarray(o, o + CHUNK), { qos: 1 }))
    await Promise.all(batch)
  }
  await all
  const t = performance.now() - t0
  sub.unroute(topic)
  await sub.unsubscribe(topic)
  return t
}

/** A blob: published (retained), then fetched by an agent-side fetcher with an empty cache; both timed. */
async function blob(data: Buffer): Promise<{ publishMs: number; fetchMs: number }> {
  const t0 = performance.now()
  const ref = await publishBlob(pub, data, { chunkBytes: CHUNK })
  const t1 = performance.now()
  const fetcher = new BlobFetcher(sub, new BlobStore({ maxBytes: 2 * SIZE }), { limits: { maxBytes: 2 * SIZE } })
  const r = await fetcher.resolve(ref.sha256)
  const t2 = performance.now()
  if (!r.bytes.equals(data)) throw new Error('fetched bytes differ')
  return { publishMs: t1 - t0, fetchMs: t2 - t1 }
}

const raws: number[] = []
const fetches: number[] = []
const publishes: number[] = []
for (let i = 0; i < ROUNDS; i++) {
  progress(`round ${i + 1}/${ROUNDS}`)
  raws.push(await raw(i, randomBytes(SIZE)))
  const b = await blob(randomBytes(SIZE))
  fetches.push(b.fetchMs)
  publishes.push(b.publishMs)
}
await pub.close()
await sub.close()
await broker.close()

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] as number
const mibs = (t: number) => (SIZE / MIB / (t / 1000)).toFixed(1)
const [r, f, p] = [median(raws), median(fetches), median(publishes)]
console.log(table([
  ['path (median of rounds)', 'ms', 'MiB/s'],
  ['raw MQTT publish -> subscriber (baseline)', ms(r), mibs(r)],
  ['blob fetch (retained, verified, assembled)', ms(f), mibs(f)],
  ['blob publish (chunks + manifest, QoS 1, retained)', ms(p), mibs(p)],
]))
console.log('')
console.log(`blob fetch throughput / raw MQTT: ${ratio(r, f)}`)
target('blob fetch throughput >= 0.5x raw MQTT of the same bytes', ratio(r, f), r / f >= 0.5)
