/**
 * One job worker thread as the pool sees it: the job it runs, that job's
 * deadline timer, and its event handlers, all bound once per worker rather
 * than allocated per job.
 */
import type { TransferListItem, Worker } from 'node:worker_threads'
import type { RunOutcome } from '../executor.ts'
import type { Runnable } from '../runner/runnable.ts'
import type { FromWorker, ToWorker } from './protocol.ts'

export interface Job {
  id: number
  sha256: string
  /** Ours to transfer when `owned` (a copy); otherwise the caller's, cloned on post. */
  input: Uint8Array
  owned: boolean
  timeoutMs: number
  outputBytes: number
  stderrBytes: number
  /** Seeds deterministic clock and random. */
  jobId: string
  fuel: number | undefined
  memoryMiB: number | undefined
  deterministic: boolean | undefined
  resolve: (outcome: RunOutcome) => void
  reject: (err: Error) => void
}

/** What the pool does when something happens to a worker. */
export interface SlotEvents {
  message(slot: Slot, msg: FromWorker): void
  /** A reply arrived that could not be deserialized. */
  unreadable(slot: Slot): void
  deadline(slot: Slot): void
  /** The thread ended, whether we terminated it or not. */
  exited(slot: Slot): void
}

const EMPTY = new Uint8Array(0)
const NO_TRANSFER: TransferListItem[] = []

export class Slot {
  /** Posted `ready`: has every module sent so far and takes jobs. */
  ready = false
  /** Terminated (or terminating) by the pool; its events no longer count. */
  retired = false
  job: Job | null = null
  private startedAt = 0
  private timer: NodeJS.Timeout | undefined = undefined
  // reused for every job: postMessage serializes it synchronously
  private readonly msg: Extract<ToWorker, { type: 'run' }> = {
    type: 'run', id: 0, sha256: '', input: EMPTY, outputBytes: 0, stderrBytes: 0,
    jobId: '', fuel: undefined, memoryMiB: undefined, deterministic: undefined,
  }
  private readonly onDeadline = (): void => this.events.deadline(this)

  constructor(
    private readonly events: SlotEvents,
    readonly worker: Worker,
  ) {
    worker.on('message', (msg: FromWorker) => events.message(this, msg))
    worker.on('messageerror', () => events.unreadable(this))
    worker.on('error', () => {}) // always followed by 'exit', handled there
    worker.on('exit', () => events.exited(this))
  }

  /** Sends a prepared module (metered, memory-capped) or a transpiled component to the worker. */
  load(sha256: string, runnable: Runnable): void {
    if (runnable.component !== undefined) {
      this.worker.postMessage({ type: 'load-component', prepared: runnable.component } satisfies ToWorker)
      return
    }
    const { module, ...prepared } = runnable.job
    this.worker.postMessage({ type: 'load', sha256, module, prepared } satisfies ToWorker)
  }

  /** Sends `job` to the worker and arms its deadline. Throws if it cannot be posted. */
  start(job: Job): void {
    this.job = job
    this.startedAt = performance.now()
    this.timer = setTimeout(this.onDeadline, job.timeoutMs)
    const msg = this.msg
    msg.id = job.id
    msg.sha256 = job.sha256
    msg.input = job.input
    msg.outputBytes = job.outputBytes
    msg.stderrBytes = job.stderrBytes
    msg.jobId = job.jobId
    msg.fuel = job.fuel
    msg.memoryMiB = job.memoryMiB
    msg.deterministic = job.deterministic
    try {
      this.worker.postMessage(msg, job.owned ? [job.input.buffer as ArrayBuffer] : NO_TRANSFER)
    } finally {
      msg.input = EMPTY
      job.input = EMPTY // the worker has it now; do not keep it alive here
    }
  }

  /** Detaches the running job and disarms its deadline; returns how long it ran (ms). */
  stop(): number {
    clearTimeout(this.timer)
    this.timer = undefined
    this.job = null
    return performance.now() - this.startedAt
  }

  /** Stops the thread; resolves when it has exited. */
  retire(): Promise<number> {
    this.retired = true
    clearTimeout(this.timer)
    return this.worker.terminate()
  }
}
