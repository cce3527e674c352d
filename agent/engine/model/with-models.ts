/**
 * An Executor that also runs models: a module whose bytes are a model file
 * (protocol/model-file.ts) goes to the model pool, everything else to the
 * executor it wraps. The executor process wraps its worker pool with it, so
 * model jobs run where WASM jobs do (executor.main.ts).
 */
import { isModelFile } from '../../../protocol/model-file.ts'
import type { Executor, ExecutorStats, ModuleInfo, RunOutcome, RunRequest } from '../executor.ts'
import { ModelPool, type ModelPoolOptions } from './model-pool.ts'

export function withModels(inner: Executor, options: ModelPoolOptions = {}): Executor & { ready?: () => Promise<unknown> } {
  const models = new ModelPool(options)
  const wrapped: Executor = {
    get slots() {
      return inner.slots
    },
    load(sha256: string, bytes: Uint8Array): Promise<ModuleInfo> {
      return isModelFile(bytes) ? models.load(sha256, bytes) : inner.load(sha256, bytes)
    },
    run(request: RunRequest): Promise<RunOutcome> {
      return models.has(request.module) ? models.run(request) : inner.run(request)
    },
    stats(): ExecutorStats {
      const a = inner.stats()
      const b = models.stats()
      return {
        workers: a.workers + b.workers,
        running: a.running + b.running,
        queued: a.queued + b.queued,
        completed: a.completed + b.completed,
        failed: a.failed + b.failed,
        restarts: a.restarts + b.restarts,
      }
    },
    async close(): Promise<void> {
      await Promise.all([inner.close(), models.close()])
    },
  }
  // the worker pool's ready(): the agent waits for it before it advertises
  const ready = (inner as { ready?: () => Promise<unknown> }).ready
  return ready ? Object.assign(wrapped, { ready: () => ready.call(inner) }) : wrapped
}
