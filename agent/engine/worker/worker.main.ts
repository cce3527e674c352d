/**
 * Entry of a job worker thread (it has side effects: it listens on its parent port, and
 * refuses to load anywhere else): keeps the modules it was sent and runs one job at a
 * time with a ThreadRunner. The pool enforces deadlines from outside (by terminating this
 * thread), so nothing here watches the clock.
 */
import { parentPort } from 'node:worker_threads'
import type { TransferListItem } from 'node:worker_threads'
import { ErrorCode, FogmeshError } from '../../../protocol/errors.ts'
import type { RunnerLimits } from '../runner/runner-result.ts'
import { ThreadRunner } from '../runner/thread-runner.ts'
import type { FromWorker, ToWorker } from './protocol.ts'

const port = parentPort
if (port === null) throw new FogmeshError(ErrorCode.usage, 'agent/engine/worker/worker.main.ts runs only as a worker thread')

const runner = new ThreadRunner()
const NO_TRANSFER: TransferListItem[] = []
// reused for every job: the runner reads it during run() only
const limits: RunnerLimits = {}

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'load') {
    runner.loadJob(msg.sha256, msg.prepared ? { module: msg.module, ...msg.prepared } : msg.module)
    return
  }
  if (msg.type === 'load-component') {
    runner.loadComponent(msg.prepared)
    return
  }
  limits.jobId = msg.jobId
  limits.fuel = msg.fuel
  limits.memoryMiB = msg.memoryMiB
  limits.deterministic = msg.deterministic
  const result = runner.run(msg.sha256, msg.input, { outputBytes: msg.outputBytes, stderrBytes: msg.stderrBytes }, limits)
  const reply: FromWorker = { type: 'done', id: msg.id, result }
  // result.output owns its whole buffer (see ByteSink.take): hand it over without a copy
  port.postMessage(reply, result.ok ? [result.output.buffer as ArrayBuffer] : NO_TRANSFER)
})

// Messages posted before this point are queued, so every `load` the pool sent
// at spawn time is handled before the first `run`.
const ready: FromWorker = { type: 'ready' }
port.postMessage(ready)
