/**
 * Entry of a job worker thread: keeps the compiled modules it was sent and
 * runs one job at a time with a JobRunner. The pool enforces deadlines from
 * outside (by terminating this thread), so nothing here watches the clock.
 */
import { parentPort } from 'node:worker_threads'
import type { TransferListItem } from 'node:worker_threads'
import { JobRunner } from './job-runner.ts'
import type { FromWorker, ToWorker } from './worker-protocol.ts'

const port = parentPort
if (port === null) throw new Error('agent/engine/worker.ts runs only as a worker thread')

const runner = new JobRunner()
const NO_TRANSFER: TransferListItem[] = []

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'load') {
    runner.load(msg.sha256, msg.module)
    return
  }
  const result = runner.run(msg.sha256, msg.input, { outputBytes: msg.outputBytes, stderrBytes: msg.stderrBytes })
  const reply: FromWorker = { type: 'done', id: msg.id, result }
  // result.output owns its whole buffer (see ByteSink.take): hand it over without a copy
  port.postMessage(reply, result.ok ? [result.output.buffer as ArrayBuffer] : NO_TRANSFER)
})

// Messages posted before this point are queued, so every `load` the pool sent
// at spawn time is handled before the first `run`.
const ready: FromWorker = { type: 'ready' }
port.postMessage(ready)
