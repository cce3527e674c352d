/**
 * How the meter says no: a JobError with the code a job gets for a module it cannot run
 * (`invalid_module`, `not_a_command`, `link_error`), and the value types it accepts.
 */
import { ErrorCode, JobError } from '../../../protocol/errors.ts'
import type { Reader } from './bytes.ts'

export function refuse(code: ErrorCode, message: string): never {
  throw new JobError(code, message)
}

export const unsupported = (what: string): never =>
  refuse(ErrorCode.invalidModule, `module uses ${what}, which the job host does not support`)

export const hex = (op: number) => `0x${op.toString(16).padStart(2, '0')}`

/** Number types, vector, funcref, externref: the value types the job host accepts. */
export function isValType(b: number): boolean {
  return (b >= 0x7b && b <= 0x7f) || b === 0x70 || b === 0x6f
}

/** Reads a value type, refusing any other (GC and typed references). */
export function valType(r: Reader): number {
  const t = r.u8()
  if (!isValType(t)) unsupported(`value type ${hex(t)}`)
  return t
}

/** Length of the u32 LEB128 at src[at]. */
export function lebLength(src: Uint8Array, at: number): number {
  let n = 1
  while (((src[at + n - 1] as number) & 0x80) !== 0) n++
  return n
}
