/**
 * One linear memory kept from a finished job for the next, when nothing of the finished job
 * can be seen in it: a memory the job did not grow, zeroed as soon as the job ended, with the
 * same initial size and the same maximum as the next job's is, to that job, exactly a fresh
 * `new WebAssembly.Memory` (the same size, the same limit, all zeros). It saves the
 * allocation per job (V8 reserves the whole guarded address range of every memory, and
 * frees it only at a GC, which that pressure forces): ~150 us against ~5 us to zero a page.
 *
 * Only small memories are kept (SPARE_MAX_PAGES): zeroing costs by the byte, allocating does not.
 */
import type { MemoryLimits } from '../instrument/meter.ts'
import { MAX_PAGES } from '../instrument/meter.ts'
import { cappedMemory } from './run-budget.ts'
import type { Fault } from './faults.ts'

/** Largest memory kept for the next job, in 64 KiB pages (1 MiB). */
export const SPARE_MAX_PAGES = 16
const PAGE = 65_536

export class SpareMemory {
  private spare: WebAssembly.Memory | undefined = undefined
  private initial = 0
  private maximum = 0

  /** A memory for a job declaring `declared` under a cap of `capPages`: the spare if it fits exactly, else a new one. */
  take(declared: MemoryLimits, capPages: number): WebAssembly.Memory | Fault {
    const spare = this.spare
    this.spare = undefined
    if (spare !== undefined && this.initial === declared.initialPages && this.maximum === maximumOf(declared, capPages) && declared.initialPages <= capPages) return spare
    return cappedMemory(declared, capPages)
  }

  /** Keeps `memory` (used by a job that declared `declared` under `capPages`) if it was not grown and is small; zeroes it now. */
  give(memory: WebAssembly.Memory, declared: MemoryLimits, capPages: number): void {
    const pages = declared.initialPages
    if (pages > SPARE_MAX_PAGES || memory.buffer.byteLength !== pages * PAGE) return
    new Uint8Array(memory.buffer).fill(0)
    this.spare = memory
    this.initial = pages
    this.maximum = maximumOf(declared, capPages)
  }
}

/** The maximum cappedMemory gives a memory. */
function maximumOf(declared: MemoryLimits, capPages: number): number {
  return Math.min(capPages, declared.maxPages ?? MAX_PAGES)
}
