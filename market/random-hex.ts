/**
 * Random hex for per-job ids and nonces, from a pool filled a few KiB at a time.
 *
 * `randomBytes(n)` for a few bytes is one synchronous CSPRNG call each (randomFillSync, ~10 us
 * under load): a job id and an assignment nonce per job were ~20 us of the requester's time at
 * 32 jobs in flight (issue 15). The pool is the same CSPRNG's output, each byte handed out once.
 */
import { randomFillSync } from 'node:crypto'

/** Bytes drawn from the CSPRNG at a time. */
const POOL_BYTES = 4096

const pool = Buffer.allocUnsafe(POOL_BYTES)
let at = POOL_BYTES

/** `bytes` random bytes (at most POOL_BYTES) as lowercase hex. */
export function randomHex(bytes: number): string {
  if (at + bytes > POOL_BYTES) {
    randomFillSync(pool)
    at = 0
  }
  const hex = pool.toString('hex', at, at + bytes)
  at += bytes
  return hex
}
