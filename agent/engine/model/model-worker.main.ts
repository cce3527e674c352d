/**
 * Entry of the inference thread (side effects: it answers on its parent port):
 * loads tfjs on its first model, keeps the models it was sent, and runs one
 * inference at a time. Started by the model pool inside the executor process,
 * so model jobs run where WASM jobs do: no keys, no data dir, the pool's
 * deadline (it terminates this thread) and the job's FLOP and memory caps.
 */
import { parentPort, workerData } from 'node:worker_threads'
import { ErrorCode, toFogmeshError } from '../../../protocol/errors.ts'
import { decodeModelFile } from '../../../protocol/model-file.ts'
import type { RunOutcome } from '../executor.ts'
import type { FromModelWorker, ModelWorkerData, ToModelWorker } from './model-protocol.ts'
import { buildModel, infer, loadTf, type LoadedModel } from './tf-runtime.ts'

const port = parentPort
if (!port) throw new Error('model-worker.main: must run as a worker thread')
const { backend } = workerData as ModelWorkerData
const models = new Map<string, Promise<LoadedModel>>()
const send = (m: FromModelWorker) => port.postMessage(m)

port.on('message', (m: ToModelWorker) => {
  if (m.t === 'load') {
    const p = loadTf(backend).then((tf) => buildModel(tf, decodeModelFile(m.bytes)))
    models.set(m.sha256, p)
    p.then(
      () => send({ t: 'loaded', sha256: m.sha256 }),
      (err: unknown) => {
        models.delete(m.sha256)
        const e = toFogmeshError(err, ErrorCode.invalidModule)
        send({ t: 'loadFailed', sha256: m.sha256, code: e.code, message: e.shortMessage })
      },
    )
    return
  }
  void run(m).then((outcome) => send({ t: 'done', n: m.n, outcome }))
})

async function run(m: Extract<ToModelWorker, { t: 'run' }>): Promise<RunOutcome> {
  const started = performance.now()
  const model = models.get(m.sha256)
  try {
    if (!model) throw toFogmeshError(new Error(`model ${m.sha256.slice(0, 12)} is not loaded`), ErrorCode.moduleNotFound)
    const tf = await loadTf(backend)
    const r = infer(tf, await model, m.input, { fuel: m.fuel, memoryMiB: m.memoryMiB, outputBytes: m.outputBytes })
    return { status: 'ok', output: r.output, fuel: r.fuel, durationMs: performance.now() - started }
  } catch (err) {
    const e = toFogmeshError(err)
    return { status: 'error', code: e.code, message: e.shortMessage, stderr: '', fuel: 0, durationMs: performance.now() - started }
  }
}
