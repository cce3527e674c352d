/**
 * A run's two budgets, the same for both job forms: fuel (a count the metered code burns,
 * ../instrument/) and memory (a cap on the one linear memory, which the host creates per
 * run). Checked before anything of the job exists; read back after it ended.
 */
import { ErrorCode } from '../../../protocol/errors.ts'
import { BULK_BYTES_PER_FUEL } from '../instrument/costs.ts'
import { MAX_PAGES } from '../instrument/meter.ts'
import type { MemoryLimits } from '../instrument/meter.ts'
import type { Fault } from './faults.ts'
import { short } from './faults.ts'
import type { RunnerLimits } from './runner-result.ts'

/** Memory ceiling of a job that names none. */
export const DEFAULT_MEMORY_MIB = 256
/** Large enough never to run out in practice (~100 days at 1e9 fuel/s), small enough to stay exact in a double. */
export const DEFAULT_FUEL = Number.MAX_SAFE_INTEGER
export const PAGES_PER_MIB = 16

/** What a runner falls back on for a job that names no limit. */
export interface BudgetDefaults {
  defaultFuel: number
  defaultMemoryMiB: number
}

export interface Budget {
  fuel: number
  /** The memory cap, in 64 KiB pages. */
  capPages: number
}

/** MiB shown in messages: whole numbers plainly, fractions to a 64 KiB page. */
export const mib = (pages: number) => `${Number((pages / PAGES_PER_MIB).toFixed(4))} MiB`

/** The run's budget, or why its limits are refused (`invalid_field`). */
export function budgetOf(limits: RunnerLimits, defaults: BudgetDefaults): Budget | Fault {
  const fuel = limits.fuel ?? defaults.defaultFuel
  if (!(Number.isSafeInteger(fuel) && fuel >= 0)) return { code: ErrorCode.invalidField, message: 'limits.fuel: expected a non-negative integer' }
  const memoryMiB = limits.memoryMiB ?? defaults.defaultMemoryMiB
  if (!(memoryMiB > 0 && Number.isFinite(memoryMiB))) return { code: ErrorCode.invalidField, message: 'limits.memoryMiB: expected a positive number' }
  return { fuel, capPages: Math.min(MAX_PAGES, Math.floor(memoryMiB * PAGES_PER_MIB)) }
}

/**
 * The memory of one run: the module's declared limits under the cap, or `memory_limit`.
 * An initial size over the cap is refused before anything is allocated (a 4 GiB initial
 * memory costs nothing here).
 */
export function cappedMemory(declared: MemoryLimits, capPages: number): WebAssembly.Memory | Fault {
  const { initialPages, maxPages } = declared
  if (initialPages > capPages) {
    return { code: ErrorCode.memoryLimit, message: `module needs ${mib(initialPages)} of memory to start; the limit is ${mib(capPages)}` }
  }
  try {
    return new WebAssembly.Memory({ initial: initialPages, maximum: Math.min(capPages, maxPages ?? MAX_PAGES) })
  } catch {
    return { code: ErrorCode.memoryLimit, message: `could not allocate ${mib(initialPages)} of memory` }
  }
}

/** The message of a job that failed after memory.grow was refused: the cap, not the job's own fault, is the cause. */
export function memoryFaultMessage(capPages: number, then: string): string {
  return short(`memory limit of ${mib(capPages)} reached (then: ${then})`)
}

/**
 * The fuel a run used, from what its counter says at the end. Over budget is over budget,
 * however the run ended: the count is tested at loop heads and function entries only
 * (../instrument/body.ts), so a job may have exited, or trapped, in the straight stretch
 * after crossing zero; its fuel is then its budget.
 */
export function fuelBurned(budget: number, left: bigint, outOfFuel: boolean): { fuel: number; exhausted: boolean } {
  const exhausted = outOfFuel || left < 0n
  return { fuel: exhausted ? budget : budget - Number(left), exhausted }
}

/** Charges the bytes a host call moved to the run's counter: ceil(bytes / 64) (../instrument/costs.ts). */
export function chargeBytes(counter: WebAssembly.Global, bytes: number): void {
  if (bytes > 0) counter.value = (counter.value as bigint) - BigInt(Math.ceil(bytes / BULK_BYTES_PER_FUEL))
}
