/**
 * Messages between the pool (parent thread) and a job worker. Plain objects,
 * structured-cloned: no JSON. The output buffer of a result is transferred.
 */
import type { PreparedComponent } from '../component/prepare.ts'
import type { PreparedJob } from '../runner/prepare-job.ts'
import type { RunnerResult } from '../runner/runner-result.ts'

/** What `PreparedJob` carries besides the compiled module. */
export type PreparedMeta = Omit<PreparedJob, 'module'>

export type ToWorker =
  /**
   * Sent once per module per worker; WebAssembly.Module is structured-cloneable.
   * With `prepared`, `module` is the metered rewrite (../runner/prepare-job.ts,
   * prepared once by the pool) and jobs run metered and memory-capped. Without
   * it, `module` is the original, run unmetered (fuel 0) and uncapped.
   */
  | { type: 'load'; sha256: string; module: WebAssembly.Module; prepared?: PreparedMeta }
  /** A component, transpiled once by the pool (jco) and posted to every worker. */
  | { type: 'load-component'; prepared: PreparedComponent }
  | {
      type: 'run'
      id: number
      sha256: string
      input: Uint8Array
      outputBytes: number
      stderrBytes: number
      /** RunRequest.jobId: seeds deterministic clock and random. */
      jobId?: string
      /** RunLimits.fuel; absent: the runner's default budget (still metered). */
      fuel?: number
      /** RunLimits.memoryMiB; absent: the runner's default cap. */
      memoryMiB?: number
      /** RunLimits.deterministic. */
      deterministic?: boolean
    }

export type FromWorker =
  /** The worker is up and has taken every `load` sent before. */
  | { type: 'ready' }
  | { type: 'done'; id: number; result: RunnerResult }
