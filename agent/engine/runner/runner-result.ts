/**
 * What a run in this thread takes and gives back, whichever runner made it (JobRunner for
 * preview1 commands, ComponentRunner for components): the vocabulary of a job worker.
 * The Executor port speaks RunRequest / RunOutcome (../executor.ts); `toOutcome` is the
 * one translation.
 */
import type { ErrorCode } from '../../../protocol/errors.ts'
import type { RunOutcome } from '../executor.ts'

export type RunnerResult =
  | { ok: true; output: Uint8Array; fuel: number; ms: number }
  | { ok: false; code: ErrorCode; message: string; stderr: string; fuel: number; ms: number }

/** The per-job limits a runner enforces itself (time is enforced from outside the thread). */
export interface RunnerLimits {
  /** Seeds the deterministic clock and random. */
  jobId?: string
  /** Fuel budget (for a component: shared by all its core instances); undefined: the runner's `defaultFuel`. */
  fuel?: number
  /** Memory ceiling in MiB; undefined: the runner's `defaultMemoryMiB`. */
  memoryMiB?: number
  /** Clock and random derived from `jobId` (../wasi/deterministic-sources.ts). */
  deterministic?: boolean
}

export function failure(code: ErrorCode, message: string, fuel = 0, ms = 0, stderr = ''): RunnerResult {
  return { ok: false, code, message, stderr, fuel, ms }
}

/** A runner's result as the Executor port reports it. */
export function toOutcome(r: RunnerResult): RunOutcome {
  if (r.ok) return { status: 'ok', output: r.output, fuel: r.fuel, durationMs: r.ms }
  return { status: 'error', code: r.code, message: r.message, stderr: r.stderr, fuel: r.fuel, durationMs: r.ms }
}
