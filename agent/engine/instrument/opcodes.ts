/**
 * The instructions the meter copies as they are: how far their immediates reach, and
 * which ones it refuses (GC, typed function references, exnref, relaxed SIMD, atomics
 * beyond the plain ones). The instructions it rewrites are body.ts's.
 */
import { ErrorCode } from '../../../protocol/errors.ts'
import type { Reader } from './bytes.ts'
import { hex, refuse, unsupported, valType } from './refuse.ts'

function memarg(r: Reader): void {
  const align = r.u32()
  if (align & 0x40) r.u32() // memory index (multi-memory encoding)
  r.u32()
}

/** Reads past an instruction that is copied as it is (its immediates only), or refuses one the host does not support. */
export function skipPlain(r: Reader, op: number): void {
  switch (op) {
    case 0x01: // nop
    case 0x1a: // drop
    case 0x1b: // select
    case 0xd1: // ref.is_null
      return
    case 0x1c: {
      // select t*
      const n = r.u32()
      for (let i = 0; i < n; i++) valType(r)
      return
    }
    case 0x20: // local.get, local.set, local.tee, table.get, table.set
    case 0x21:
    case 0x22:
    case 0x25:
    case 0x26:
    case 0x3f: // memory.size
      r.u32()
      return
    case 0x41:
      r.skipSigned(32)
      return
    case 0x42:
      r.skipSigned(64)
      return
    case 0x43:
      r.skip(4)
      return
    case 0x44:
      r.skip(8)
      return
    case 0xd0: // ref.null
      valType(r)
      return
    case 0xfd:
      prefixFD(r)
      return
    case 0xfe:
      prefixFE(r)
      return
  }
  if (op >= 0x28 && op <= 0x3e) memarg(r)
  else if (op >= 0x45 && op <= 0xc4) {
    // numeric, conversions, sign extension: no immediates
  } else if (op === 0x0a || op === 0x1f) unsupported('exception handling with exnref (try_table)')
  else if (op === 0x14 || op === 0x15 || (op >= 0xd3 && op <= 0xd6)) unsupported('typed function references')
  else if (op === 0xfb) unsupported('GC instructions')
  else unsupported(`instruction ${hex(op)}`)
}

function prefixFD(r: Reader): void {
  const sub = r.u32()
  if (sub <= 11 || sub === 92 || sub === 93) memarg(r) // loads, stores, load_zero
  else if (sub === 12 || sub === 13) r.skip(16) // v128.const, i8x16.shuffle
  else if (sub >= 21 && sub <= 34) r.skip(1) // extract_lane, replace_lane
  else if (sub >= 84 && sub <= 91) {
    memarg(r) // load_lane, store_lane
    r.skip(1)
  } else if (sub >= 0x100) {
    // relaxed SIMD: results are implementation-defined, so they differ between CPUs
    refuse(ErrorCode.invalidModule, `module uses relaxed SIMD (0xfd ${sub}), whose results differ between machines: jobs must be deterministic`)
  }
  // everything else has no immediates
}

function prefixFE(r: Reader): void {
  const sub = r.u32()
  if (sub === 0x03) r.skip(1) // atomic.fence
  else if (sub <= 0x02 || (sub >= 0x10 && sub <= 0x4e)) memarg(r)
  else unsupported(`atomic instruction 0xfe ${sub}`)
}
