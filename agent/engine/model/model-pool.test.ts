/**
 * Model jobs in the executor's inference thread, on the shipped anomaly model
 * (trained at install time, models/anomaly): known-answer vectors, the bill
 * in FLOPs, the job's caps, bad model files, and the determinism that
 * verification by re-execution needs — the wasm backend's SIMD and scalar
 * builds give the same bytes; the pure-JS cpu backend does not (it rounds
 * differently) but decides the same.
 */
import { createHash } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { decodeModelFile, encodeModelFile, modelFlops } from '../../../protocol/model-file.ts'
import { anomalousWindows, mcuWindow, normalWindows, WINDOW } from '../../../models/anomaly/synthetic.ts'
import { loadModelBytes } from '../../../models/index.ts'
import type { RunOutcome } from '../executor.ts'
import { ModelPool } from './model-pool.ts'

const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex')
/** The model bytes training reproduces (seeded data and initializers, tfjs 4.22.0, cpu backend): see bin/build-models.js. */
const MODEL_SHA256 = '7f031ea7e3bfc7b891de391c35c3e185b53a1fef5be2214b0f7774285e5080b8'
/** 100 normal + 100 anomalous synthetic windows + 2 of the simulated MCU, as one tensor job. */
const BATCH = [...normalWindows(7, 100), ...anomalousWindows(8, 100).map((a) => a.values), mcuWindow(0), mcuWindow(30)]
const BATCH_INPUT = Buffer.from(JSON.stringify({ shape: [BATCH.length, WINDOW], data: BATCH.flat() }))
/** sha256 of that job's output, per backend (the same on x86-64 and on arm64 under qemu-user). */
const BATCH_OUTPUT = { wasm: '6e816baecc0903a727bb8a574498aad690c674da615d73a404729754af091364', cpu: 'e1eaf14ca6b18e5f88e1115487f10c54e8b83ba96bae347cdb42c36be3a465e0' }

const limits = { timeoutMs: 20_000, outputBytes: 1 << 20, stderrBytes: 0 }
const text = (o: RunOutcome) => (o.status === 'ok' ? Buffer.from(o.output).toString() : `${o.code}: ${o.message}`)

test('known answers: the trained model, a normal and a spiking window, the bill in FLOPs', async () => {
  const bytes = await loadModelBytes('anomaly')
  assert.is(sha256(bytes), MODEL_SHA256, 'training at install time reproduced the known model bytes')
  const file = decodeModelFile(bytes)
  assert.equal(file.layers.map((l) => `${l.inputs}>${l.units}:${l.activation}`), ['16>12:relu', '12>4:relu', '4>12:relu', '12>16:linear'])
  // per row: 2·16·12+12+12 + 2·12·4+4+4 + 2·4·12+12+12 + 2·12·16+16 + 4·16 (normalize, score)
  assert.is(modelFlops(file, 1), 1096)
  const pool = new ModelPool()
  try {
    assert.equal(await pool.load(MODEL_SHA256, bytes), { sha256: MODEL_SHA256, kind: 'model', imports: [] })
    const normal = await pool.run({ jobId: 'n', module: MODEL_SHA256, input: Buffer.from(mcuWindow(0).join('\n')), limits })
    assert.is(text(normal), '{"value":0,"score":0.000058322454,"threshold":0.004060526}\n')
    assert.is(normal.fuel, 1096)
    const spike = mcuWindow(0)
    spike[9] = 35
    const readings = spike.map((v, i) => JSON.stringify({ device: 'mcu', sensor: 'temp', value: v, ts: 1000 + i, seq: i + 1 })).join('\n')
    const anomalous = await pool.run({ jobId: 's', module: MODEL_SHA256, input: Buffer.from(readings), limits })
    assert.is(text(anomalous), '{"value":1,"score":1.7533926,"threshold":0.004060526}\n')
    const batch = await pool.run({ jobId: 'b', module: MODEL_SHA256, input: BATCH_INPUT, limits })
    assert.is(batch.fuel, 1096 * BATCH.length)
    assert.is(sha256(text(batch)), BATCH_OUTPUT.wasm)
    const flagged = text(batch).trim().split('\n').map((l) => JSON.parse(l).value)
    assert.is(flagged.slice(0, 100).filter((v) => v === 1).length, 0, 'no normal window flagged')
    assert.is(flagged.slice(100, 200).filter((v) => v === 1).length, 100, 'every anomalous window flagged')
  } finally {
    await pool.close()
  }
})

test('determinism: wasm SIMD and scalar builds give the same bytes; the cpu backend rounds differently but decides the same', async () => {
  const bytes = await loadModelBytes('anomaly')
  const out: Record<string, string> = {}
  for (const backend of ['wasm', 'wasm-scalar', 'cpu'] as const) {
    const pool = new ModelPool({ backend })
    try {
      await pool.load(MODEL_SHA256, bytes)
      const runs = [await pool.run({ jobId: 'a', module: MODEL_SHA256, input: BATCH_INPUT, limits }), await pool.run({ jobId: 'b', module: MODEL_SHA256, input: BATCH_INPUT, limits })]
      assert.is(text(runs[0]!), text(runs[1]!), `${backend}: two runs, the same bytes`)
      out[backend] = text(runs[0]!)
    } finally {
      await pool.close()
    }
  }
  assert.is(out['wasm-scalar'], out.wasm)
  assert.is(sha256(out.cpu!), BATCH_OUTPUT.cpu)
  assert.is.not(out.cpu, out.wasm)
  const decisions = (s: string) => s.trim().split('\n').map((l) => JSON.parse(l).value)
  assert.equal(decisions(out.cpu!), decisions(out.wasm!))
})

test('limits and refusals: fuel in FLOPs, the deadline (the thread is replaced), bad input, bad model files', async () => {
  const bytes = await loadModelBytes('anomaly')
  const pool = new ModelPool()
  try {
    await pool.load(MODEL_SHA256, bytes)
    const poor = await pool.run({ jobId: 'f', module: MODEL_SHA256, input: BATCH_INPUT, limits: { ...limits, fuel: 1096 * BATCH.length - 1 } })
    assert.is(poor.status === 'error' && poor.code, 'fuel_exhausted')
    const short = await pool.run({ jobId: 'i', module: MODEL_SHA256, input: Buffer.from('1\n2\n3\n'), limits })
    assert.is(short.status === 'error' && short.code, 'invalid_field')
    assert.match(text(short), /3 values; the model takes rows of 16/)
    const big = Buffer.from(JSON.stringify({ shape: [4096, WINDOW], data: Array.from({ length: 4096 * WINDOW }, (_, i) => Math.sin(i)) }))
    const late = await pool.run({ jobId: 'd', module: MODEL_SHA256, input: big, limits: { ...limits, timeoutMs: 1 } })
    assert.is(late.status === 'error' && late.code, 'deadline')
    const after = await pool.run({ jobId: 'n', module: MODEL_SHA256, input: Buffer.from(mcuWindow(0).join('\n')), limits })
    assert.is(text(after), '{"value":0,"score":0.000058322454,"threshold":0.004060526}\n', 'a new thread with the model again')
    assert.is(pool.stats().restarts, 1)

    const file = decodeModelFile(bytes)
    const conv = { ...file.header, modelTopology: { class_name: 'Sequential', config: { layers: [{ class_name: 'Conv1D', config: {} }] } } }
    assert.throws(() => encodeModelFile(conv, file.weights), /only Dense layers/)
    const truncated = bytes.subarray(0, bytes.length - 4)
    await pool.load(sha256(truncated), truncated).then(() => assert.unreachable(), (e) => {
      assert.is(e.code, 'invalid_module')
      assert.match(e.message, /weights are \d+ bytes; the layers need \d+/)
    })
  } finally {
    await pool.close()
  }
})

test.run()
