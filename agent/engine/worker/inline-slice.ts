/**
 * An optimistic first try of a tiny metered job on the pool's own thread (the executor
 * process's main thread): no hop to a worker and back, which for a job of a few hundred
 * fuel costs far more than the job. Only where the outcome cannot differ from a worker's:
 *
 * - metered preview1 modules only (components and unmetered modules always go to a worker),
 *   declaring at most INLINE_MAX_INITIAL_PAGES of initial memory;
 * - the try runs with a fuel slice, `inlineFuel`, small enough that its worst case is far
 *   under any deadline; the slice is the job's budget when the job's own is smaller;
 * - a job is a pure function of its module, input and limits (an in-memory WASI host: no
 *   files, no network, no sleeping; clock and random from the job id when deterministic),
 *   so a try that is not kept has had no effect anywhere: its output is dropped and the
 *   job runs again from scratch on a worker, which gives the answer;
 * - kept are only the endings that are the module's own and cannot depend on the thread:
 *   success, a non-zero exit, stdout over its cap, and running out of fuel when the slice was
 *   the job's whole budget. A trap, a memory fault or anything else (e.g. a stack overflow,
 *   where this thread's stack is not a worker's) is run again on a worker and that is the answer.
 *
 * Fuel, output, stderr and caps come from the same JobRunner code as in a worker, with the
 * same defaults, so a kept try is byte-identical to the worker's run (worker/inline-slice.test.ts).
 * The deadline still holds: a try is bounded by its fuel, and past that the pool's own
 * deadline (on the worker run) and the agent's watchdog on this process both still apply.
 */
import { ErrorCode } from '../../../protocol/errors.ts'
import type { RunOutcome, RunRequest } from '../executor.ts'
import { DEFAULT_FUEL, DEFAULT_MEMORY_MIB } from '../runner/run-budget.ts'
import { JobRunner } from '../runner/job-runner.ts'
import type { PreparedJob } from '../runner/prepare-job.ts'
import { toOutcome } from '../runner/runner-result.ts'
import type { RunnerLimits } from '../runner/runner-result.ts'

/**
 * Default slice: a tiny job (the echo fixture: 56 fuel) fits many times over; the worst case,
 * a loop of 1-fuel host calls (clock_time_get), takes ~1.7 ms on a loaded 2-core machine
 * (plain loops, memory.fill, memory.grow: ~0.1 ms).
 */
export const DEFAULT_INLINE_FUEL = 20_000
/** A module whose tries ran out of their slice this many times in a row is no longer tried inline. */
export const INLINE_MISS_LIMIT = 4
/** Jobs with a deadline under this are not tried inline: a try's worst case must be far under the deadline. */
export const INLINE_MIN_TIMEOUT_MS = 100

/**
 * A module declaring more initial memory than this (64 KiB pages: 16 MiB) is never tried inline:
 * its memory alone (a new one per try, over the spare's size) costs the executor's main thread
 * ~8 ms at 200 MiB on a loaded 2-core machine (bench/inline-hostile.bench.ts) — far more than
 * the hop a try saves, and on the thread every other job is dispatched from. Tiny jobs declare
 * a page or a few (AssemblyScript 1, wasi-libc a few).
 */
export const INLINE_MAX_INITIAL_PAGES = 256
/**
 * A try's memory cap (MiB) when the job's is larger: one big memory.grow (charged after it
 * succeeded) would otherwise commit it on the main thread (~6 ms for 240 MiB) before the slice
 * runs out. A try in which a grow was refused under this lowered cap is not kept (on a worker,
 * under the job's own cap, the grow may succeed): the worker's run answers.
 */
export const INLINE_MAX_MEMORY_MIB = 16

/** Endings a try may keep: the module's own, the same on any thread. */
const KEPT: ReadonlySet<ErrorCode> = new Set([ErrorCode.exitNonZero, ErrorCode.outputLimit])

export class InlineSlice {
  private readonly runner = new JobRunner()
  /** Consecutive tries per module that ran out of the slice; bounded by the pool's modules (one entry each). */
  private readonly misses = new Map<string, number>()
  private readonly limits: RunnerLimits = {}
  private readonly caps = { outputBytes: 0, stderrBytes: 0 }
  tried = 0
  kept = 0

  constructor(readonly fuel: number) {}

  /** Makes a metered module triable here (the compiled module is shared with the workers', not copied); not one with a big memory. */
  load(sha256: string, job: PreparedJob): void {
    if (job.memory.initialPages > INLINE_MAX_INITIAL_PAGES) return
    this.runner.load(sha256, job)
    this.misses.set(sha256, 0)
  }

  /** The job's outcome if a try here decides it, else undefined (run it on a worker). */
  tryRun(request: RunRequest): RunOutcome | undefined {
    const misses = this.misses.get(request.module)
    const { limits } = request
    if (misses === undefined || misses >= INLINE_MISS_LIMIT || limits.timeoutMs < INLINE_MIN_TIMEOUT_MS) return undefined
    const budget = limits.fuel ?? DEFAULT_FUEL
    const whole = budget <= this.fuel
    const l = this.limits
    l.jobId = request.jobId
    l.fuel = whole ? budget : this.fuel
    const cap = limits.memoryMiB ?? DEFAULT_MEMORY_MIB
    const lowered = cap > INLINE_MAX_MEMORY_MIB
    l.memoryMiB = lowered ? INLINE_MAX_MEMORY_MIB : limits.memoryMiB
    l.deterministic = limits.deterministic
    this.caps.outputBytes = limits.outputBytes
    this.caps.stderrBytes = limits.stderrBytes
    this.tried++
    const r = this.runner.run(request.module, request.input, this.caps, l)
    if (lowered && this.runner.lastGrowFailed) {
      // its own cap might have let the grow through: the worker answers; a module that keeps doing it stops being tried
      this.misses.set(request.module, misses + 1)
      return undefined
    }
    if (r.ok || KEPT.has(r.code) || (whole && r.code === ErrorCode.fuelExhausted)) {
      this.kept++
      this.misses.set(request.module, 0)
      return toOutcome(r)
    }
    if (r.code === ErrorCode.fuelExhausted) this.misses.set(request.module, misses + 1)
    return undefined
  }
}
