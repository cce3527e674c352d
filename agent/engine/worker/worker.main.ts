/**
 * Entry of a job worker thread: keeps the modules it was sent and runs one
 * job at a time with a JobRunner. The pool enforces deadlines from outside
 * (by terminating this thread), so nothing here watches the clock.
 */
import { parentPort } from 'node:worker_threads'
import type { TransferListItem } from 'node:worker_threads'
import { ComponentRunner } from '../component/component-runner.ts'
import { JobRunner } from '../runner/job-runner.ts'
import type { JobLimits } from '../runner/job-runner.ts'
import type { FromWorker, ToWorker } from './protocol.ts'

const port = parentPort
if (port === null) throw new Error('agent/engine/worker/worker.main.ts runs only as a worker thread')

const runner = new JobRunner()
const components = new ComponentRunner()
const NO_TRANSFER: TransferListItem[] = []
// reused for every job: the runner reads it during run() only
const limits: JobLimits = {}

port.on('message', (msg: ToWorker) => {
  if (msg.type === 'load') {
    runner.load(msg.sha256, msg.prepared ? { module: msg.module, ...msg.prepared } : msg.module)
    return
  }
  if (msg.type === 'load-component') {
    components.add(msg.prepared)
    return
  }
  limits.jobId = msg.jobId
  limits.fuel = msg.fuel
  limits.memoryMiB = msg.memoryMiB
  limits.deterministic = msg.deterministic
  const caps = { outputBytes: msg.outputBytes, stderrBytes: msg.stderrBytes }
  const result = components.has(msg.sha256) ? components.run(msg.sha256, msg.input, caps, limits) : runner.run(msg.sha256, msg.input, caps, limits)
  const reply: FromWorker = { type: 'done', id: msg.id, result }
  // result.output owns its whole buffer (see ByteSink.take): hand it over without a copy
  port.postMessage(reply, result.ok ? [result.output.buffer as ArrayBuffer] : NO_TRANSFER)
})

// Messages posted before this point are queued, so every `load` the pool sent
// at spawn time is handled before the first `run`.
const ready: FromWorker = { type: 'ready' }
port.postMessage(ready)
