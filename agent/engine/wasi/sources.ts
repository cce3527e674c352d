/**
 * Where a job's time and randomness come from. The only place the WASI host
 * touches the outside world; deterministic mode (clock and random derived from
 * the job id, so re-execution on another agent gives the same output) replaces
 * these two functions and nothing else.
 */
import { webcrypto } from 'node:crypto'
import { ClockId } from './abi.ts'

/**
 * Reads WASI clock `id` in nanoseconds, or `undefined` for a clock that does
 * not exist. `runStartNs` is the monotonic time at which the run began.
 */
export type ClockSource = (id: number, runStartNs: bigint) => bigint | undefined

/** Fills `dest` with random bytes. */
export type RandomSource = (dest: Uint8Array) => void

/**
 * Real clocks. The CPU-time clocks count from the start of the run: a job owns
 * its thread while it runs, so elapsed time is its CPU time (and `clock()` in
 * a job then starts near zero, as it does in a fresh process).
 */
export const realClock: ClockSource = (id, runStartNs) => {
  switch (id) {
    case ClockId.realtime:
      return BigInt(Date.now()) * 1_000_000n
    case ClockId.monotonic:
      return process.hrtime.bigint()
    case ClockId.processCputime:
    case ClockId.threadCputime:
      return process.hrtime.bigint() - runStartNs
    default:
      return undefined
  }
}

/** Resolution of the clocks of `realClock`, in nanoseconds (must be non-zero). */
export function clockResolution(id: number): bigint | undefined {
  if (id === ClockId.realtime) return 1_000_000n // Date.now() has millisecond steps
  if (id >= ClockId.monotonic && id <= ClockId.threadCputime) return 1_000n
  return undefined
}

/** getRandomValues refuses more than 65,536 bytes per call. */
const RANDOM_CHUNK = 65_536

export const cryptoRandom: RandomSource = (dest) => {
  for (let at = 0; at < dest.length; at += RANDOM_CHUNK) {
    webcrypto.getRandomValues(dest.subarray(at, Math.min(at + RANDOM_CHUNK, dest.length)))
  }
}
