/**
 * The fuel cost model: what every instruction of a job costs. Part of the
 * billing contract — two agents that meter the same module with the same
 * METERING_VERSION report the same fuel for the same run — so any change to
 * a number here (or to where charges are placed, see meter.ts and body.ts) must bump
 * METERING_VERSION.
 *
 * | what                                              | fuel                                  |
 * |---------------------------------------------------|---------------------------------------|
 * | nop, block, loop, else, end, try, catch, catch_all, delegate | 0 (structure, no work)     |
 * | every other instruction (incl. call, br, SIMD)    | 1                                     |
 * | memory.fill / memory.copy / memory.init of n bytes| 1 + ceil(n / 64)                      |
 * | table.fill / table.copy / table.init / table.grow of n elements | 1 + n                   |
 * | memory.grow by n pages                            | 1, + 1024 per page when it succeeds   |
 * | WASI fd_read / fd_write / random_get moving n bytes | 1 (the call) + ceil(n / 64), by the host |
 * | any other WASI call                               | 1 (the call)                          |
 *
 * Fuel is charged per segment: a straight-line run of code is paid for in
 * full when it is entered (see meter.ts for where segments start), so a
 * segment left early (a taken `br_if`, a trap, an exit) has been paid for
 * entirely. That is deterministic — the same path through the module always
 * pays the same — and it is what keeps the overhead to one check per block.
 * Bulk operations are charged when they run, before they do their work
 * (memory.grow: after it succeeded, by the pages it actually added); WASI
 * transfers after they succeeded, by the bytes actually moved (../runner/job-runner.ts).
 * Whether the count has gone below zero is tested at function entries and
 * loop heads (meter.ts): a job stops there, at most one straight stretch of
 * code after crossing its budget, and is reported with fuel = its budget.
 */

/** Version of the cost model and charge placement. Bump on any change that alters fuel counts. */
export const METERING_VERSION = 1

/** Opcodes that mark structure and cost nothing. */
export const FREE_OPCODES: ReadonlySet<number> = new Set([
  0x01, // nop
  0x02, // block
  0x03, // loop
  0x05, // else
  0x06, // try
  0x07, // catch
  0x0b, // end
  0x18, // delegate
  0x19, // catch_all
])

/** memory.fill / memory.copy / memory.init: one fuel per this many bytes (rounded up), on top of the instruction. */
export const BULK_BYTES_PER_FUEL = 64
/** log2(BULK_BYTES_PER_FUEL), for the shift in the charging helper. */
export const BULK_BYTES_SHIFT = 6
/** table.fill / table.copy / table.init / table.grow: fuel per element. */
export const TABLE_ELEMENT_FUEL = 1
/** memory.grow: fuel per 64 KiB page actually added. */
export const GROW_PAGE_FUEL = 1024
