/**
 * Deterministic WASI time and randomness, derived from the job id only, so
 * that running the same job again — on this agent or another — gives the
 * same bytes.
 *
 * Clock: a virtual clock shared by all four WASI clocks. Every successful
 * `clock_time_get` reads it and then advances it by CLOCK_STEP_NS (1 ms):
 * the k-th read (k = 0, 1, ...) of any clock returns
 *   realtime:                 DETERMINISTIC_EPOCH_NS + k * 1 ms
 *   monotonic, process/thread CPU time:                k * 1 ms
 * so time moves forward (a loop that waits for a second ends after 1000
 * reads) and a job's timestamps say 2024-01-01T00:00:00Z onwards.
 *
 * Random: the ChaCha20 keystream (RFC 8439 block function, 32-bit counter
 * from 0, nonce 0) under the key sha256("fogmesh/wasi-random/v1\0" + jobId).
 * Successive `random_get` calls continue the one stream.
 */
import { createCipheriv, createHash } from 'node:crypto'
import type { Cipher } from 'node:crypto'
import { ClockId } from './abi.ts'
import type { ClockSource, RandomSource } from './sources.ts'

/** 2024-01-01T00:00:00Z in nanoseconds since the Unix epoch. */
export const DETERMINISTIC_EPOCH_NS = 1_704_067_200_000_000_000n
/** How far the virtual clock moves per read. */
export const CLOCK_STEP_NS = 1_000_000n

const RANDOM_DOMAIN = 'fogmesh/wasi-random/v1\0'
const ZEROES = new Uint8Array(65_536)

export interface JobSources {
  clock: ClockSource
  random: RandomSource
}

export function deterministicSources(jobId: string): JobSources {
  let reads = 0n
  const clock: ClockSource = (id) => {
    if (id !== ClockId.realtime && id !== ClockId.monotonic && id !== ClockId.processCputime && id !== ClockId.threadCputime) {
      return undefined
    }
    const t = reads * CLOCK_STEP_NS
    reads++
    return id === ClockId.realtime ? DETERMINISTIC_EPOCH_NS + t : t
  }

  let stream: Cipher | undefined
  const random: RandomSource = (dest) => {
    if (stream === undefined) {
      const key = createHash('sha256').update(RANDOM_DOMAIN).update(jobId).digest()
      stream = createCipheriv('chacha20', key, new Uint8Array(16))
    }
    for (let at = 0; at < dest.length; at += ZEROES.length) {
      const n = Math.min(ZEROES.length, dest.length - at)
      dest.set(stream.update(ZEROES.subarray(0, n)), at) // zeroes XOR keystream = keystream
    }
  }
  return { clock, random }
}
