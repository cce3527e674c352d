/**
 * The functions the meter adds to every prepared module, after the module's own: three
 * [i32] -> [i32] that charge bulk work and pass their operand through (memory.grow, the
 * bytes of a bulk memory operation, the elements of a table operation) and the
 * out-of-fuel exit of a function body. Their cost rates are costs.ts's.
 */
import { Writer } from './bytes.ts'
import { BULK_BYTES_SHIFT, GROW_PAGE_FUEL, TABLE_ELEMENT_FUEL } from './costs.ts'
import type { ModuleLayout } from './layout.ts'

/** How many helpers there are, and their types: three [i32] -> [i32], then one [i64] -> []. */
export const HELPERS = 4

/** In the helpers (fuel in the global): `if (fuel < 0) { out_of_fuel(); unreachable }` */
function check(m: ModuleLayout): Uint8Array {
  return new Writer(16)
    .u8(0x23)
    .u32(m.fuelGlobal)
    .u8(0x42)
    .u8(0x00)
    .u8(0x53) // i64.lt_s
    .u8(0x04)
    .u8(0x40)
    .u8(0x10)
    .u32(m.outOfFuel)
    .u8(0x00) // unreachable
    .u8(0x0b)
    .take()
}

/** The helpers' bodies, in index order: grow, bytes, elements, out of fuel. */
export function helperBodies(m: ModuleLayout): Writer[] {
  const g = m.fuelGlobal
  const fuelCheck = check(m)
  // memory.grow: grow, then charge per page added, or tell the host it failed (no memory: never called)
  const noMemory = new Writer(8).u8(0).u8(0x00).u8(0x0b) // no locals; unreachable
  const grow = m.memoryFrom === 'none' ? noMemory : new Writer(64)
    .u8(1).u8(1).u8(0x7f) // one i32 local: the result
    .u8(0x20).u8(0) // local.get 0
    .u8(0x40).u8(0) // memory.grow 0
    .u8(0x22).u8(1) // local.tee 1
    .u8(0x41).u8(0x7f) // i32.const -1
    .u8(0x46) // i32.eq
    .u8(0x04).u8(0x40)
    .u8(0x10).u32(m.growFailed)
    .u8(0x05)
    .u8(0x23).u32(g)
    .u8(0x20).u8(0).u8(0xad) // i64.extend_i32_u
    .u8(0x42).sPositive(GROW_PAGE_FUEL).u8(0x7e) // i64.mul
    .u8(0x7d).u8(0x24).u32(g) // i64.sub, global.set
    .bytes(fuelCheck)
    .u8(0x0b)
    .u8(0x20).u8(1)
    .u8(0x0b)
  // bytes of a bulk memory operation: ceil(n / 64), n passed through
  const bytes = new Writer(48)
    .u8(0)
    .u8(0x23).u32(g)
    .u8(0x20).u8(0).u8(0xad)
    .u8(0x42).sPositive(2 ** BULK_BYTES_SHIFT - 1).u8(0x7c) // i64.add
    .u8(0x42).sPositive(BULK_BYTES_SHIFT).u8(0x88) // i64.shr_u
    .u8(0x7d).u8(0x24).u32(g)
    .bytes(fuelCheck)
    .u8(0x20).u8(0)
    .u8(0x0b)
  // elements of a table operation: n, passed through
  const elems = new Writer(48).u8(0).u8(0x23).u32(g).u8(0x20).u8(0).u8(0xad)
  if (TABLE_ELEMENT_FUEL !== 1) elems.u8(0x42).sPositive(TABLE_ELEMENT_FUEL).u8(0x7e)
  elems.u8(0x7d).u8(0x24).u32(g).bytes(fuelCheck).u8(0x20).u8(0).u8(0x0b)
  // out of fuel in a function body: store the (negative) count for the host, tell it, trap
  const out = new Writer(16).u8(0).u8(0x20).u8(0).u8(0x24).u32(g).u8(0x10).u32(m.outOfFuel).u8(0x00).u8(0x0b)
  return [grow, bytes, elems, out]
}
