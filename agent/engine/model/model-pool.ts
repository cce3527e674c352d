/**
 * Model jobs inside the executor: one inference thread (model-worker.main.ts)
 * that holds the loaded models, fed one run at a time from a bounded FIFO.
 *
 * The job's limits hold as for WASM jobs: its deadline from outside (the
 * thread is terminated, the job answered `deadline`, a new thread loads the
 * models again), its fuel as FLOPs and its memory as weights + activations
 * (both checked before the run, from the layer shapes: deterministic), and
 * the thread's V8 heap capped (`heapMiB`) as a backstop. tfjs is imported by
 * that thread only, on its first model.
 */
import { Worker } from 'node:worker_threads'
import { ErrorCode, JobError } from '../../../protocol/errors.ts'
import { decodeModelFile } from '../../../protocol/model-file.ts'
import { mergeOptions, type Merged } from '../../../protocol/options.ts'
import type { ExecutorStats, ModuleInfo, RunOutcome, RunRequest } from '../executor.ts'
import { requestRefusal } from '../executor/request-refusal.ts'
import { JobQueue } from '../worker/job-queue.ts'
import { withoutTsxFlags } from '../worker/spawn.ts'
import type { FromModelWorker, ModelWorkerData, ToModelWorker } from './model-protocol.ts'
import type { TfBackend } from './tf-runtime.ts'

export interface ModelPoolOptions {
  /** Model runs that may wait for the inference thread; one more is refused `overloaded`. Default 256. */
  queueLimit?: number
  /** The inference thread's V8 heap cap, MiB. Default 512. */
  heapMiB?: number
  /** tfjs backend (default `wasm`; `wasm-scalar` and `cpu` for comparisons). */
  backend?: TfBackend
}

const DEFAULTS = { queueLimit: 256, heapMiB: 512, backend: 'wasm' as TfBackend }
const RANGES = { queueLimit: { min: 0, integer: true }, heapMiB: { min: 16, max: 65_536, integer: true } }

interface Run {
  n: number
  request: RunRequest
  resolve: (o: RunOutcome) => void
}

export class ModelPool {
  private readonly opts: Merged<ModelPoolOptions, typeof DEFAULTS>
  private readonly models = new Map<string, { bytes: Uint8Array; info: ModuleInfo; loaded: Promise<void> }>()
  private readonly queue: JobQueue<Run>
  private worker: Worker | undefined
  private loadWaiters = new Map<string, { resolve: () => void; reject: (e: Error) => void }>()
  private current: (Run & { timer: NodeJS.Timeout }) | undefined
  private next = 1
  private closed = false
  private readonly counts = { completed: 0, failed: 0, restarts: 0 }

  constructor(options: ModelPoolOptions = {}) {
    this.opts = mergeOptions(options, DEFAULTS, RANGES, 'modelPool')
    this.queue = new JobQueue(this.opts.queueLimit)
  }

  has(sha256: string): boolean {
    return this.models.has(sha256)
  }

  /** Checks the model file here (a bad one never reaches tfjs), then loads it into the inference thread. */
  async load(sha256: string, bytes: Uint8Array): Promise<ModuleInfo> {
    if (this.closed) throw new JobError(ErrorCode.closed, 'executor is closed')
    const known = this.models.get(sha256)
    if (known) {
      await known.loaded
      return known.info
    }
    decodeModelFile(bytes)
    const info: ModuleInfo = { sha256, kind: 'model', imports: [] }
    const entry = { bytes, info, loaded: this.send(sha256, bytes) }
    this.models.set(sha256, entry)
    try {
      await entry.loaded
    } catch (err) {
      this.models.delete(sha256)
      throw err
    }
    return info
  }

  run(request: RunRequest): Promise<RunOutcome> {
    const refused = this.closed ? new JobError(ErrorCode.closed, 'executor is closed') : requestRefusal(request, this.models.has(request.module))
    if (refused) return Promise.reject(refused)
    if (this.current && this.queue.length >= this.queue.limit) {
      return Promise.reject(new JobError(ErrorCode.overloaded, `model queue is full (${this.queue.limit} runs)`))
    }
    return new Promise<RunOutcome>((resolve) => {
      const run: Run = { n: this.next++, request, resolve }
      if (this.current) this.queue.push(run)
      else this.start(run)
    })
  }

  stats(): ExecutorStats {
    return {
      workers: this.worker ? 1 : 0,
      running: this.current ? 1 : 0,
      queued: this.queue.length,
      completed: this.counts.completed,
      failed: this.counts.failed,
      restarts: this.counts.restarts,
    }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    const closed: RunOutcome = { status: 'error', code: ErrorCode.closed, message: 'executor closed', stderr: '', fuel: 0, durationMs: 0 }
    if (this.current) this.finish(this.current.n, closed)
    for (const r of this.queue.drain()) r.resolve(closed)
    for (const w of this.loadWaiters.values()) w.reject(new JobError(ErrorCode.closed, 'executor closed'))
    this.loadWaiters.clear()
    await this.worker?.terminate()
    this.worker = undefined
  }

  private thread(): Worker {
    if (this.worker) return this.worker
    const data: ModelWorkerData = { backend: this.opts.backend }
    const resourceLimits = { maxOldGenerationSizeMb: this.opts.heapMiB }
    const w = import.meta.url.endsWith('.ts')
      ? new Worker(bootstrap(), { eval: true, execArgv: withoutTsxFlags(process.execArgv), workerData: data, resourceLimits })
      : new Worker(new URL('./model-worker.main.js', import.meta.url), { workerData: data, resourceLimits })
    w.on('message', (m: FromModelWorker) => this.onMessage(m))
    w.on('error', () => {}) // 'exit' follows and does the recovery
    w.once('exit', () => this.onExit(w))
    this.worker = w
    return w
  }

  private send(sha256: string, bytes: Uint8Array): Promise<void> {
    return new Promise<void>((resolve, reject) => {
      this.loadWaiters.set(sha256, { resolve, reject })
      this.thread().postMessage({ t: 'load', sha256, bytes } satisfies ToModelWorker)
    })
  }

  private start(run: Run): void {
    const { request } = run
    const timer = setTimeout(() => this.deadline(run.n), Math.min(request.limits.timeoutMs, 2 ** 31 - 1))
    this.current = { ...run, timer }
    const msg: ToModelWorker = {
      t: 'run', n: run.n, sha256: request.module, input: request.input,
      fuel: request.limits.fuel, memoryMiB: request.limits.memoryMiB, outputBytes: request.limits.outputBytes,
    }
    this.thread().postMessage(msg)
  }

  private onMessage(m: FromModelWorker): void {
    if (m.t === 'done') return this.finish(m.n, m.outcome)
    const w = this.loadWaiters.get(m.sha256)
    if (!w) return
    this.loadWaiters.delete(m.sha256)
    if (m.t === 'loaded') w.resolve()
    else w.reject(new JobError(m.code as ErrorCode, m.message))
  }

  private finish(n: number, outcome: RunOutcome): void {
    const cur = this.current
    if (!cur || cur.n !== n) return
    clearTimeout(cur.timer)
    this.current = undefined
    if (outcome.status === 'ok') this.counts.completed++
    else this.counts.failed++
    cur.resolve(outcome)
    const nextRun = this.queue.shift()
    if (nextRun && !this.closed) this.start(nextRun)
  }

  private deadline(n: number): void {
    const cur = this.current
    if (!cur || cur.n !== n) return
    const ms = cur.request.limits.timeoutMs
    // the thread is busy past the deadline: end it, and give a new one the models before any run
    const old = this.worker
    this.worker = undefined
    void old?.terminate()
    this.replaced()
    this.finish(n, { status: 'error', code: ErrorCode.deadline, message: `model run exceeded its ${ms} ms deadline`, stderr: '', fuel: 0, durationMs: ms })
  }

  /** A new inference thread gets every model again (runs sent after wait for them in order). */
  private replaced(): void {
    this.counts.restarts++
    const died = new JobError(ErrorCode.internal, 'inference thread replaced')
    for (const waiter of this.loadWaiters.values()) waiter.reject(died)
    this.loadWaiters.clear()
    for (const [sha, m] of this.models) m.loaded = this.send(sha, m.bytes).catch(() => {})
  }

  private onExit(w: Worker): void {
    if (w !== this.worker) return // replaced already (a deadline)
    this.worker = undefined
    if (this.closed) return
    const cur = this.current
    this.replaced()
    if (cur) this.finish(cur.n, { status: 'error', code: ErrorCode.internal, message: 'inference thread died', stderr: '', fuel: 0, durationMs: 0 })
  }
}

let bootstrapCode: string | undefined
/** Under tsx: a worker registers tsx itself before importing its entry (see worker/spawn.ts for why). */
function bootstrap(): string {
  if (bootstrapCode === undefined) {
    const tsxApi = import.meta.resolve('tsx/esm/api')
    const entry = new URL('./model-worker.main.ts', import.meta.url).href
    bootstrapCode = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}) })`
  }
  return bootstrapCode
}
