/**
 * The default Executor: a fixed pool of worker threads, each running one job
 * at a time, fed from a bounded FIFO queue.
 *
 * Deadlines are enforced from outside: when a job's timer fires, its worker is
 * terminated (which interrupts even a tight wasm loop) and a fresh worker takes
 * its place. A worker that dies on its own is replaced the same way.
 *
 * Hot path, per job: one job record, one promise, one timer, two structured-
 * clone messages. The input is copied once at most and the output buffer is
 * transferred, not copied; the run message object is reused per worker.
 */
import { availableParallelism } from 'node:os'
import type { Worker } from 'node:worker_threads'
import { ErrorCode, JobError } from '../../../protocol/errors.ts'
import { mergeOptions } from '../../../protocol/options.ts'
import type { Executor, ExecutorStats, ModuleInfo, RunOutcome, RunRequest } from '../executor.ts'
import { requestRefusal } from '../executor/request-refusal.ts'
import { prepareRunnable } from '../runner/runnable.ts'
import type { Runnable } from '../runner/runnable.ts'
import { toOutcome } from '../runner/runner-result.ts'
import { InlineSlice } from './inline-slice.ts'
import { JobQueue } from './job-queue.ts'
import type { FromWorker } from './protocol.ts'
import { Slot } from './slot.ts'
import type { Job, SlotEvents } from './slot.ts'
import { spawnJobWorker } from './spawn.ts'

export interface WorkerPoolOptions {
  /** Worker threads, i.e. jobs at once: a whole number, at least 1. Default: `os.availableParallelism()`. */
  size?: number
  /** Jobs that may wait for a worker; one more is refused with `overloaded`. A whole number, at least 0. Default 1024. */
  queueLimit?: number
  /**
   * Workers started up front and kept (at most `size`; 0: the first job starts one); the rest
   * start when jobs need them. Default: `size`. Each worker costs ~9 MB of RSS at idle.
   */
  warm?: number
  /**
   * Fuel slice of an optimistic first try of a metered preview1 job on this thread; a try
   * that does not decide the job is dropped and the job runs on a worker (inline-slice.ts).
   * 0: off, every job goes to a worker. Default 0: only a thread that holds nothing worth
   * protecting (the executor process's main thread) turns it on, never the agent's.
   */
  inlineFuel?: number
}

/** The ranges of the pool's options: a value outside is refused (a ValidationError naming it), never clamped. */
export const WORKER_POOL_RANGES = {
  size: { min: 1, integer: true },
  queueLimit: { min: 0, integer: true },
  warm: { min: 0, integer: true },
  inlineFuel: { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true },
}

export interface WorkerPool extends Executor {
  /** Resolves once every worker has started; jobs run before that just wait in the queue. */
  ready(): Promise<void>
}

/** Longest delay setTimeout honours; a larger one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1
/** Workers that die before becoming ready, in a row, after which the pool gives up. */
const MAX_START_FAILURES = 3

class Pool implements WorkerPool, SlotEvents {
  readonly slots: number
  private readonly warm: number
  private readonly live = new Set<Slot>()
  private readonly idle: Slot[] = []
  private readonly queue: JobQueue<Job>
  private readonly modules = new Map<string, Runnable>()
  private readonly exiting = new Set<Promise<unknown>>()
  private readonly readyWaiters: { resolve: () => void; reject: (err: Error) => void }[] = []
  private nextId = 1
  private running = 0
  private completed = 0
  private failed = 0
  private restarts = 0
  private startFailures = 0
  private closed: Promise<void> | null = null
  private broken: JobError | null = null
  private readonly inline: InlineSlice | undefined

  constructor(options: WorkerPoolOptions) {
    const o = mergeOptions(options, { size: availableParallelism(), queueLimit: 1024, inlineFuel: 0 }, WORKER_POOL_RANGES, 'workerPool')
    this.inline = o.inlineFuel > 0 ? new InlineSlice(o.inlineFuel) : undefined
    this.slots = o.size
    this.queue = new JobQueue(o.queueLimit)
    this.warm = Math.min(this.slots, o.warm ?? this.slots)
    for (let i = 0; i < this.warm; i++) this.spawn()
  }

  async load(sha256: string, bytes: Uint8Array): Promise<ModuleInfo> {
    if (this.closed) throw new JobError(ErrorCode.closed, 'executor is closed')
    const known = this.modules.get(sha256)
    if (known) return known.info
    const runnable = await prepareRunnable(sha256, bytes)
    const raced = this.modules.get(sha256)
    if (raced) return raced.info
    this.modules.set(sha256, runnable)
    if (this.inline && runnable.job) this.inline.load(sha256, runnable.job)
    for (const slot of this.live) slot.load(sha256, runnable)
    return runnable.info
  }

  run(request: RunRequest): Promise<RunOutcome> {
    const refused = this.refusal(request)
    if (refused) return Promise.reject(refused)
    const decided = this.inline?.tryRun(request)
    if (decided) {
      if (decided.status === 'ok') this.completed++
      else this.failed++
      return Promise.resolve(decided)
    }
    const slot = this.idle.pop() // when a worker is idle the queue is empty
    if (slot === undefined && this.queue.length >= this.queue.limit) {
      return Promise.reject(new JobError(ErrorCode.overloaded, `executor queue is full (${this.queue.limit} jobs)`))
    }
    const { input } = request
    // Posting a view clones its whole underlying buffer (a Buffer may sit in an
    // 8 KiB pool): send an exact buffer as it is, else copy once and transfer.
    const exact = input.byteOffset === 0 && input.byteLength === input.buffer.byteLength && input.buffer instanceof ArrayBuffer
    return new Promise<RunOutcome>((resolve, reject) => {
      const job: Job = {
        id: this.nextId++,
        sha256: request.module,
        input: exact ? input : new Uint8Array(input),
        owned: !exact,
        timeoutMs: Math.min(request.limits.timeoutMs, MAX_TIMER_MS),
        outputBytes: request.limits.outputBytes,
        stderrBytes: request.limits.stderrBytes,
        jobId: request.jobId,
        fuel: request.limits.fuel,
        memoryMiB: request.limits.memoryMiB,
        deterministic: request.limits.deterministic,
        resolve,
        reject,
      }
      if (slot) this.dispatch(slot, job)
      else {
        this.queue.push(job)
        this.grow()
      }
    })
  }

  ready(): Promise<void> {
    if (this.closed) return Promise.reject(new JobError(ErrorCode.closed, 'executor is closed'))
    if (this.broken) return Promise.reject(this.broken)
    if (this.allReady()) return Promise.resolve()
    return new Promise((resolve, reject) => this.readyWaiters.push({ resolve, reject }))
  }

  stats(): ExecutorStats {
    const { running, completed, failed, restarts } = this
    return { workers: this.live.size, running, queued: this.queue.length, completed, failed, restarts }
  }

  close(): Promise<void> {
    if (this.closed) return this.closed
    const err = new JobError(ErrorCode.closed, 'executor closed')
    this.closed = Promise.resolve() // from here on run() and load() refuse
    for (const job of this.queue.drain()) job.reject(err)
    for (const slot of [...this.live]) {
      const job = slot.job
      if (job) {
        this.finish(slot)
        job.reject(err)
      }
      this.retire(slot)
    }
    this.settleReady(err)
    this.closed = Promise.all(this.exiting).then(() => undefined)
    return this.closed
  }

  // ---- worker events (called by Slot) ----------------------------------------

  message(slot: Slot, msg: FromWorker): void {
    if (slot.retired) return
    if (msg.type === 'ready') {
      slot.ready = true
      this.startFailures = 0
      this.release(slot)
      if (this.allReady()) this.settleReady(null)
      return
    }
    const job = slot.job
    if (job === null || job.id !== msg.id) return
    this.finish(slot)
    this.release(slot) // start the next job before resolving this one
    if (msg.result.ok) this.completed++
    else this.failed++
    job.resolve(toOutcome(msg.result))
  }

  /** A reply that could not be deserialized: the job is lost, the worker is fine. */
  unreadable(slot: Slot): void {
    const job = slot.job
    if (slot.retired || job === null) return
    const ms = this.finish(slot)
    this.release(slot)
    this.fail(job, ErrorCode.internal, 'job result could not be read', ms)
  }

  deadline(slot: Slot): void {
    const job = slot.job
    if (slot.retired || job === null) return
    const ms = this.finish(slot)
    this.retire(slot)
    this.restarts++
    this.spawn()
    this.fail(job, ErrorCode.deadline, `deadline of ${job.timeoutMs} ms exceeded`, ms)
  }

  exited(slot: Slot): void {
    if (slot.retired) return // we terminated it
    const job = slot.job
    const ms = job ? this.finish(slot) : 0
    this.retire(slot)
    this.restarts++
    if (job) this.fail(job, ErrorCode.internal, 'job worker exited unexpectedly', ms)
    if (this.broken) return
    if (!slot.ready && ++this.startFailures >= MAX_START_FAILURES) this.breakDown()
    else this.spawn()
  }

  // ---- internals -------------------------------------------------------------

  private refusal(request: RunRequest): JobError | undefined {
    if (this.closed) return new JobError(ErrorCode.closed, 'executor is closed')
    if (this.broken) return this.broken
    return requestRefusal(request, this.modules.has(request.module))
  }

  private dispatch(slot: Slot, job: Job): void {
    this.running++
    try {
      slot.start(job)
    } catch {
      const ms = this.finish(slot)
      this.release(slot)
      this.fail(job, ErrorCode.internal, 'job could not be sent to a worker', ms)
    }
  }

  /** Detaches the running job from its slot; returns how long it ran. */
  private finish(slot: Slot): number {
    this.running--
    return slot.stop()
  }

  private fail(job: Job, code: ErrorCode, message: string, durationMs: number): void {
    this.failed++
    job.resolve({ status: 'error', code, message, stderr: '', fuel: 0, durationMs })
  }

  /** A ready worker is free: give it the next queued job or park it. */
  private release(slot: Slot): void {
    if (slot.retired || this.closed) return
    const next = this.queue.shift()
    if (next) this.dispatch(slot, next)
    else this.idle.push(slot)
  }

  private spawn(): void {
    let worker: Worker
    try {
      worker = spawnJobWorker()
    } catch {
      this.breakDown()
      return
    }
    const slot = new Slot(this, worker)
    this.live.add(slot)
    for (const [sha256, runnable] of this.modules) slot.load(sha256, runnable)
  }

  /** More jobs waiting than workers starting, and room for one more: start one. */
  private grow(): void {
    if (this.live.size >= this.slots || this.broken || this.closed) return
    let starting = 0
    for (const s of this.live) if (!s.ready) starting++
    if (this.queue.length > starting) this.spawn()
  }

  private retire(slot: Slot): void {
    this.live.delete(slot)
    const at = this.idle.indexOf(slot)
    if (at !== -1) this.idle.splice(at, 1)
    const exit = slot.retire()
    this.exiting.add(exit)
    const done = () => this.exiting.delete(exit)
    exit.then(done, done)
  }

  /** Workers cannot be started: refuse everything from now on instead of respawning forever. */
  private breakDown(): void {
    this.broken = new JobError(ErrorCode.internal, 'job workers fail to start')
    for (const job of this.queue.drain()) job.reject(this.broken)
    this.settleReady(this.broken)
  }

  private allReady(): boolean {
    if (this.live.size < this.warm) return false
    for (const slot of this.live) if (!slot.ready) return false
    return true
  }

  private settleReady(err: Error | null): void {
    for (const w of this.readyWaiters.splice(0)) err ? w.reject(err) : w.resolve()
  }
}

/** The default Executor: `size` worker threads behind a queue of `queueLimit` jobs. */
export function createWorkerPool(options: WorkerPoolOptions = {}): WorkerPool {
  return new Pool(options)
}
