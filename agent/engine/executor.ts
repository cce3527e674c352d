/**
 * The seam between the agent and whatever runs job code.
 *
 * Today: a pool of worker threads, each with an in-memory WASI preview1 host.
 * Later (sandbox hardening): a separate executor process, fuel metering and
 * memory caps — behind this same interface.
 */
import type { ErrorCode } from '../../protocol/errors.ts'

export interface RunLimits {
  /** Wall-clock deadline for the run, enforced from outside the worker. */
  timeoutMs: number
  /** Cap on stdout bytes; exceeding it ends the job with `output_limit`. */
  outputBytes: number
  /** Cap on stderr bytes kept (the rest is dropped, not an error). */
  stderrBytes: number
  /**
   * Fuel the job may burn (deterministic instruction-cost units); running out
   * ends it with `fuel_exhausted`. Undefined: unmetered (still counted where the module is metered).
   */
  fuel?: number
  /** Hard ceiling on the job's linear memory, in MiB; beyond it growth fails inside the module (`memory_limit`). */
  memoryMiB?: number
  /**
   * Deterministic mode (the default for paid jobs): clock and random are
   * derived from the job id, so re-execution gives the same bytes.
   */
  deterministic?: boolean
}

export interface RunRequest {
  jobId: string
  /** sha256 hex of the module bytes; the module must have been `load`ed first. */
  module: string
  input: Uint8Array
  limits: RunLimits
}

export type RunOutcome =
  | { status: 'ok'; output: Uint8Array; fuel: number; durationMs: number }
  | {
      status: 'error'
      code: ErrorCode
      message: string
      stderr: string
      fuel: number
      durationMs: number
    }

/** What a module needs to run as a job, found out once when it is loaded. */
export interface ModuleInfo {
  sha256: string
  /**
   * `wasi-command`: a core module exporting `_start`; `component-job`: a
   * component of the fogmesh:job world; `component-command`: a WASI 0.2 command component;
   * `model`: a model file (protocol/model-file.ts), run by tfjs (engine/model/).
   */
  kind: 'wasi-command' | 'component-job' | 'component-command' | 'model'
  /** Imports the module declares, as `module.name`. */
  imports: string[]
}

export interface ExecutorStats {
  workers: number
  running: number
  queued: number
  completed: number
  failed: number
  /** Workers replaced after a deadline or a crash. */
  restarts: number
}

export interface Executor {
  /** Number of jobs that can run at once. */
  readonly slots: number
  /**
   * Compiles and checks a module (WebAssembly? a WASI command? allowed imports
   * only?) and makes it available to every worker. Takes the raw bytes: the
   * caller — the key-holding agent — never parses untrusted code itself.
   * Throws a JobError with `invalid_module`, `not_a_command` or `link_error`
   * when it cannot run as a job.
   */
  load(sha256: string, bytes: Uint8Array): Promise<ModuleInfo>
  /**
   * Runs one job. Never rejects for job faults: those come back as an error
   * outcome. Rejects (with a JobError) only when the job is not taken at all:
   * `overloaded` (queue full), `closed`, `module_not_found` (not `load`ed) or
   * `invalid_field` (bad limits).
   */
  run(request: RunRequest): Promise<RunOutcome>
  stats(): ExecutorStats
  close(): Promise<void>
}
