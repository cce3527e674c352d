/**
 * The in-memory twin of the Executor port: the same runners as a job worker
 * (../runner/thread-runner.ts), on the calling thread — no worker threads, no executor
 * process, nothing to start or wait for. For fast unit tests of what sits on top of an
 * executor (the agent), with real modules, real fuel and real outcomes.
 *
 * Not a sandbox and not a scheduler: job code runs with the caller's privileges in the
 * caller's thread, one job at a time in the order `run` was called (each in its own
 * macrotask, so `run` returns before the job starts, as with the real executors), and
 * there is no deadline — a run ends when its code does, so bound test jobs with `fuel`.
 * Everything else is as the port says: `load` checks and prepares (module_not_found,
 * invalid_field, closed are refused the same way as by the worker pool), stats count,
 * `close` answers what has not started with `closed`.
 */
import { ErrorCode, JobError } from '../../../protocol/errors.ts'
import { mergeOptions } from '../../../protocol/options.ts'
import type { Executor, ExecutorStats, ModuleInfo, RunOutcome, RunRequest } from '../executor.ts'
import { prepareRunnable } from '../runner/runnable.ts'
import { toOutcome } from '../runner/runner-result.ts'
import { ThreadRunner } from '../runner/thread-runner.ts'
import type { ThreadRunnerOptions } from '../runner/thread-runner.ts'
import { requestRefusal } from './request-refusal.ts'

export interface InlineExecutorOptions extends ThreadRunnerOptions {
  /** What `slots` says (jobs still run one at a time). A whole number, at least 1. Default 1. */
  slots?: number
}

export interface InlineExecutor extends Executor {
  /** Resolves at once: nothing to start (the same shape as the pool's and the process executor's). */
  ready(): Promise<void>
}

interface Waiting {
  request: RunRequest
  resolve: (outcome: RunOutcome) => void
  reject: (err: Error) => void
}

class Inline implements InlineExecutor {
  readonly slots: number
  private readonly runner: ThreadRunner
  private readonly modules = new Map<string, ModuleInfo>()
  private readonly loading = new Map<string, Promise<ModuleInfo>>()
  private readonly waiting = new Set<Waiting>()
  private readonly counts = { completed: 0, failed: 0 }
  private running = 0
  private closed = false

  constructor(options: InlineExecutorOptions) {
    const { slots, ...runner } = mergeOptions(options, { slots: 1 }, { slots: { min: 1, integer: true } }, 'inlineExecutor')
    this.slots = slots
    this.runner = new ThreadRunner(runner)
  }

  ready(): Promise<void> {
    return this.closed ? Promise.reject(new JobError(ErrorCode.closed, 'executor is closed')) : Promise.resolve()
  }

  async load(sha256: string, bytes: Uint8Array): Promise<ModuleInfo> {
    if (this.closed) throw new JobError(ErrorCode.closed, 'executor is closed')
    const known = this.modules.get(sha256)
    if (known) return known
    let pending = this.loading.get(sha256)
    if (pending === undefined) {
      pending = prepareRunnable(sha256, bytes).then((runnable) => {
        this.runner.load(sha256, runnable)
        this.modules.set(sha256, runnable.info)
        return runnable.info
      })
      this.loading.set(sha256, pending)
      const done = () => this.loading.delete(sha256)
      pending.then(done, done)
    }
    return pending
  }

  run(request: RunRequest): Promise<RunOutcome> {
    if (this.closed) return Promise.reject(new JobError(ErrorCode.closed, 'executor is closed'))
    const refused = requestRefusal(request, this.modules.has(request.module))
    if (refused) return Promise.reject(refused)
    return new Promise<RunOutcome>((resolve, reject) => {
      const waiting: Waiting = { request, resolve, reject }
      this.waiting.add(waiting)
      setImmediate(() => this.execute(waiting))
    })
  }

  private execute(waiting: Waiting): void {
    if (!this.waiting.delete(waiting)) return // answered by close()
    const { request } = waiting
    const { limits } = request
    this.running++
    try {
      const result = this.runner.run(request.module, request.input, limits, {
        jobId: request.jobId,
        fuel: limits.fuel,
        memoryMiB: limits.memoryMiB,
        deterministic: limits.deterministic,
      })
      if (result.ok) this.counts.completed++
      else this.counts.failed++
      waiting.resolve(toOutcome(result))
    } finally {
      this.running--
    }
  }

  stats(): ExecutorStats {
    return { workers: this.slots, running: this.running, queued: this.waiting.size, ...this.counts, restarts: 0 }
  }

  async close(): Promise<void> {
    if (this.closed) return
    this.closed = true
    const err = new JobError(ErrorCode.closed, 'executor closed')
    for (const w of this.waiting) w.reject(err)
    this.waiting.clear()
  }
}

/** An Executor that runs jobs on the calling thread (see the file comment): for unit tests. */
export function createInlineExecutor(options: InlineExecutorOptions = {}): InlineExecutor {
  return new Inline(options)
}
