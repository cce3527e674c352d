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
import { JobQueue } from './job-queue.ts'
import { isComponent } from '../component/header.ts'
import { prepareComponent, type PreparedComponent } from '../component/prepare.ts'
import { compileJobAsync, type PreparedJob } from '../runner/prepare-job.ts'
import type { Executor, ExecutorStats, ModuleInfo, RunOutcome, RunRequest } from '../executor.ts'
import type { FromWorker } from './protocol.ts'
import { Slot } from './slot.ts'
import type { Job, SlotEvents } from './slot.ts'
import { spawnJobWorker } from './spawn.ts'

export interface WorkerPoolOptions {
  /** Worker threads, i.e. jobs at once. Default: `os.availableParallelism()`; at least 1. */
  size?: number
  /** Jobs that may wait for a worker; one more is refused with `overloaded`. Default 1024. */
  queueLimit?: number
}

export interface WorkerPool extends Executor {
  /** Resolves once every worker has started; jobs run before that just wait in the queue. */
  ready(): Promise<void>
}

/** Longest delay setTimeout honours; a larger one would fire at once. */
const MAX_TIMER_MS = 2 ** 31 - 1
/** Workers that die before becoming ready, in a row, after which the pool gives up. */
const MAX_START_FAILURES = 3

/** `value` as a whole number of at least `min`, or `fallback` when it is not a number. */
function whole(value: number | undefined, fallback: number, min: number): number {
  return Number.isFinite(value) ? Math.max(min, Math.floor(value as number)) : fallback
}

class Pool implements WorkerPool, SlotEvents {
  readonly slots: number
  private readonly live = new Set<Slot>()
  private readonly idle: Slot[] = []
  private readonly queue: JobQueue<Job>
  private readonly modules = new Map<string, { job?: PreparedJob; component?: PreparedComponent; info: ModuleInfo }>()
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

  constructor(options: WorkerPoolOptions) {
    this.slots = whole(options.size, Math.max(1, availableParallelism()), 1)
    this.queue = new JobQueue(whole(options.queueLimit, 1024, 0))
    for (let i = 0; i < this.slots; i++) this.spawn()
  }

  async load(sha256: string, bytes: Uint8Array): Promise<ModuleInfo> {
    if (this.closed) throw new JobError(ErrorCode.closed, 'executor is closed')
    const known = this.modules.get(sha256)
    if (known) return known.info
    if (isComponent(bytes)) {
      // V8 cannot compile a component: jco transpiles it (once, here) into JS and core modules
      const prepared = await prepareComponent(sha256, bytes)
      if (this.modules.get(sha256)) return this.modules.get(sha256)!.info
      const info: ModuleInfo = { sha256, kind: prepared.info.kind, imports: prepared.info.imports }
      this.modules.set(sha256, { component: prepared, info })
      for (const slot of this.live) slot.loadComponent(prepared)
      return info
    }
    // check the original, meter it and move its memory under the host's control: once, here, not per worker
    const { info, job } = await compileJobAsync(sha256, bytes)
    if (this.modules.get(sha256)) return this.modules.get(sha256)!.info
    this.modules.set(sha256, { job, info })
    for (const slot of this.live) slot.load(sha256, job)
    return info
  }

  run(request: RunRequest): Promise<RunOutcome> {
    const refused = this.refusal(request)
    if (refused) return Promise.reject(refused)
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
      else this.queue.push(job)
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
    const r = msg.result
    if (r.ok) {
      this.completed++
      job.resolve({ status: 'ok', output: r.output, fuel: r.fuel, durationMs: r.ms })
    } else {
      this.failed++
      job.resolve({ status: 'error', code: r.code, message: r.message, stderr: r.stderr, fuel: r.fuel, durationMs: r.ms })
    }
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
    if (!this.modules.has(request.module)) {
      return new JobError(ErrorCode.moduleNotFound, `module ${String(request.module).slice(0, 12)} is not loaded`)
    }
    const { timeoutMs, outputBytes, stderrBytes } = request.limits
    if (!(timeoutMs > 0)) return new JobError(ErrorCode.invalidField, 'limits.timeoutMs: expected a positive number')
    if (!(Number.isSafeInteger(outputBytes) && outputBytes >= 0)) {
      return new JobError(ErrorCode.invalidField, 'limits.outputBytes: expected a non-negative integer')
    }
    if (!(Number.isSafeInteger(stderrBytes) && stderrBytes >= 0)) {
      return new JobError(ErrorCode.invalidField, 'limits.stderrBytes: expected a non-negative integer')
    }
    return undefined
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
    for (const [sha256, { job, component }] of this.modules) {
      if (job) slot.load(sha256, job)
      else if (component) slot.loadComponent(component)
    }
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
    if (this.live.size < this.slots) return false
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
