/**
 * Messages between the pool (parent thread) and a job worker. Plain objects,
 * structured-cloned: no JSON. The output buffer of a result is transferred.
 */
import type { JobResult } from './job-runner.ts'

export type ToWorker =
  /** Sent once per module per worker; WebAssembly.Module is structured-cloneable. */
  | { type: 'load'; sha256: string; module: WebAssembly.Module }
  | { type: 'run'; id: number; sha256: string; input: Uint8Array; outputBytes: number; stderrBytes: number }

export type FromWorker =
  /** The worker is up and has taken every `load` sent before. */
  | { type: 'ready' }
  | { type: 'done'; id: number; result: JobResult }
