/**
 * Stream jobs: what a window costs and how long it takes.
 *
 * 1. per window, the same windows of 16 readings (the simulated MCU's wave,
 *    every 10th with a spike): the anomaly model (tfjs, wasm backend, in its
 *    inference thread) against the zscore WASM module (metered, in a worker of
 *    the job pool) — each call to answer, one window at a time;
 * 2. window latency through the mesh: reading published → window result
 *    received (embedded broker, the gateway, one agent with its executor
 *    process, readings at 200/s into two streams of count windows of 16:
 *    one running the model, one zscore). Latency is measured from the `ts`
 *    of the window's last reading (stamped at publish) to the result's
 *    arrival, in this one process: one clock.
 *
 *   node --import tsx bench/streams.bench.ts [windows=400] [seconds=10]
 */
import { createHash } from 'node:crypto'
import mqtt from 'mqtt'
import { startAgent } from '../agent/agent.ts'
import { ModelPool } from '../agent/engine/model/model-pool.ts'
import { createWorkerPool } from '../agent/engine/worker/pool.ts'
import { startBroker } from '../broker/broker.ts'
import { startGateway } from '../market/gateway.ts'
import { mcuWindow } from '../models/anomaly/synthetic.ts'
import { loadModelBytes } from '../models/index.ts'
import { topics } from '../protocol/topics.ts'
import { exitOnSignal } from '../test/support/child-processes.ts'
import { tmpDir } from '../test/support/temp-dirs.ts'
import { loadModule } from '../wasm-modules/index.ts'
import { header, progress, table, target } from './report.ts'
import { int, ms, summarize } from './summary.ts'

exitOnSignal()
const WINDOWS = Number(process.argv[2] ?? 400)
const SECONDS = Number(process.argv[3] ?? 10)
const W = 16
const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

header('stream jobs: tfjs inference vs the zscore WASM module per window; window latency through the mesh', [
  `${WINDOWS} windows of ${W} readings per module; then ${SECONDS} s of readings at 200/s into two streams`,
])

const windows = Array.from({ length: WINDOWS }, (_, i) => {
  const w = mcuWindow(i * W)
  if (i % 10 === 9) w[7] = 35
  return w
})
const model = await loadModelBytes('anomaly')
const zscore = await loadModule('zscore')
const modelSha = sha256(model)
const zscoreSha = sha256(zscore)
const limits = { timeoutMs: 10_000, outputBytes: 65_536, stderrBytes: 1024, fuel: 1e9, memoryMiB: 64, deterministic: true }

// 1. per window, in the engines
progress('per window: model (tfjs wasm) and zscore (WASM), one at a time')
const models = new ModelPool()
await models.load(modelSha, model)
const pool = createWorkerPool({ size: 1, queueLimit: 16 })
await pool.ready()
await pool.load(zscoreSha, zscore)
const perWindow = { model: [] as number[], zscore: [] as number[] }
const fuel = { model: 0, zscore: 0 }
let flagged = { model: 0, zscore: 0 }
for (let round = 0; round < 2; round++) {
  // round 0 warms both up (JIT, first inference); round 1 is measured
  for (const w of windows) {
    let t = performance.now()
    const m = await models.run({ jobId: 'm', module: modelSha, input: Buffer.from(w.join('\n')), limits })
    const mt = performance.now() - t
    t = performance.now()
    const z = await pool.run({ jobId: 'z', module: zscoreSha, input: Buffer.from(`window=${W - 1} threshold=3\n${w.join('\n')}`), limits })
    const zt = performance.now() - t
    if (m.status !== 'ok' || z.status !== 'ok') throw new Error(`a window failed: ${JSON.stringify(m.status === 'ok' ? z : m)}`)
    if (round === 0) continue
    perWindow.model.push(mt)
    perWindow.zscore.push(zt)
    fuel.model = m.fuel
    fuel.zscore = Math.max(fuel.zscore, z.fuel)
    flagged = {
      model: flagged.model + (JSON.parse(Buffer.from(m.output).toString()).value as number),
      zscore: flagged.zscore + ((JSON.parse(Buffer.from(z.output).toString()).anomalies as unknown[]).length > 0 ? 1 : 0),
    }
  }
}
await models.close()
await pool.close()
const sm = summarize(perWindow.model)
const sz = summarize(perWindow.zscore)
console.log(table([
  ['per window', 'n', 'p50 ms', 'p99 ms', 'mean ms', 'bill', 'flagged'],
  ['anomaly model (tfjs wasm)', int(sm.n), ms(sm.p50), ms(sm.p99), ms(sm.mean), `${int(fuel.model)} FLOPs`, `${flagged.model}/${WINDOWS}`],
  ['zscore (WASM, metered)', int(sz.n), ms(sz.p50), ms(sz.p99), ms(sz.mean), `${int(fuel.zscore)} fuel`, `${flagged.zscore}/${WINDOWS}`],
]))
console.log(`\nmodel/zscore p50 ratio: ${(sm.p50 / sz.p50).toFixed(2)}x (zscore judges only the last reading against the 15 before it; the model scores the window's shape)\n`)

// 2. latency through the mesh
progress('window latency: broker, gateway, one agent (executor process), 200 readings/s')
const broker = await startBroker({ port: 0, wsPort: false, host: '127.0.0.1' })
const gateway = await startGateway({ broker: broker.url })
const agent = await startAgent({ broker: broker.url, dataDir: tmpDir('fm-bench-streams-'), name: 'bench', slots: 1, acceptFrom: [gateway.id] })
await gateway.requester.directory.waitFor(1, 10_000)
const c = await mqtt.connectAsync(broker.url, { protocolVersion: 4, reconnectPeriod: 0 })
await c.publishAsync(topics.model(modelSha), model, { qos: 1, retain: true })
await c.publishAsync(topics.module(zscoreSha), Buffer.from(zscore), { qos: 1, retain: true })
const latency = { model: [] as number[], zscore: [] as number[] }
const dropped = { model: 0, zscore: 0 }
c.on('message', (topic, payload) => {
  const now = Date.now()
  const r = JSON.parse(String(payload)) as { status: string; window?: { to: number }; dropped?: number }
  const kind = topic === 'bench/out/model' ? 'model' : 'zscore'
  if (r.status !== 'ok' || !r.window) return
  // zscore's bare values carry no ts: the agent stamps them on arrival, so its figure starts there
  latency[kind].push(now - r.window.to)
  dropped[kind] = r.dropped ?? 0
})
await c.subscribeAsync('bench/out/+', { qos: 1 })
for (const [kind, module] of [['model', modelSha], ['zscore', zscoreSha]] as const) {
  await c.publishAsync(topics.streamSubmit, JSON.stringify({ id: kind, module, source: `bench/sensor/${kind}`, window: { count: W }, replyTo: `bench/out/${kind}` }), { qos: 1 })
}
// the bridge's two formats: JSON readings for the model, bare values ("format": "value") for zscore
let i = 0
const publishBoth = () => {
  const value = Math.round((21 + Math.sin(i++ / 10) * 1.2) * 100) / 100
  c.publish('bench/sensor/model', JSON.stringify({ device: 'bench', sensor: 'temp', value, ts: Date.now(), seq: i }), { qos: 0 })
  c.publish('bench/sensor/zscore', String(value), { qos: 0 })
}
// warm-up: until both streams answered a window (placement, module fetch, tfjs start in the executor)
const warmUntil = Date.now() + 60_000
while ((latency.model.length === 0 || latency.zscore.length === 0) && Date.now() < warmUntil) {
  publishBoth()
  await new Promise((r) => setTimeout(r, 5))
}
await new Promise((r) => setTimeout(r, 500))
latency.model.length = 0
latency.zscore.length = 0
const base = { model: dropped.model, zscore: dropped.zscore }
const until = Date.now() + SECONDS * 1000
let sent = 0
while (Date.now() < until && sent < SECONDS * 200) {
  publishBoth()
  sent++
  await new Promise((r) => setTimeout(r, 5))
}
await new Promise((r) => setTimeout(r, 1500))
await c.endAsync()
await agent.close({ graceMs: 500 })
await gateway.close()
await broker.close()
const lm = summarize(latency.model)
const lz = summarize(latency.zscore)
const expected = Math.floor(sent / W) - 1
dropped.model -= base.model
dropped.zscore -= base.zscore
console.log(table([
  ['reading → result', 'windows', 'p50 ms', 'p99 ms', 'max ms', 'dropped'],
  ['anomaly model stream', `${lm.n}/${expected}`, ms(lm.p50), ms(lm.p99), ms(lm.max), String(dropped.model)],
  ['zscore stream', `${lz.n}/${expected}`, ms(lz.p50), ms(lz.p99), ms(lz.max), String(dropped.zscore)],
]))
console.log('')
target('model inference per window p50 <= 5 ms', `${ms(sm.p50)} ms`, sm.p50 <= 5)
target('model per window within 5x the zscore WASM module (p50)', `${(sm.p50 / sz.p50).toFixed(2)}x`, sm.p50 <= sz.p50 * 5)
target('model stream: reading → result p99 <= 250 ms at 200 readings/s', `${ms(lm.p99)} ms`, lm.p99 <= 250)
target('every window answered (none dropped)', `${lm.n + lz.n}/${expected * 2}`, lm.n >= expected && lz.n >= expected)
process.exit(0)
