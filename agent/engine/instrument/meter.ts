/**
 * prepareModule: rewrites a job module, once, into the form the job host runs.
 *
 * 1. **Memory.** The module's one defined memory becomes an import,
 *    `fogmesh.memory`, with the same declared limits, and stays exported as
 *    `memory`. The host creates that memory per job with
 *    `maximum = min(job limit, declared maximum)`, so one prepared module
 *    serves every per-job memory limit and growth past it fails inside the
 *    module (memory.grow returns -1).
 * 2. **Fuel.** A mutable i64 global, exported as `fogmesh_fuel`, holds the
 *    fuel left. At the start of every segment of straight-line code the
 *    segment's cost (costs.ts) is subtracted from it; when it goes negative
 *    the module calls `fogmesh.out_of_fuel` and traps (`unreachable`: a trap
 *    cannot be caught by the guest, unlike an exception thrown by the host).
 *    Inside a function the count lives in a local (a register: V8 does not
 *    keep a global in one, and reloading it after every store cost up to
 *    4.5x on branchy code); the global is written at every loop iteration,
 *    before every call, return, throw and `unreachable`, and read back after
 *    calls and at `catch`. So the global is exact whenever the host can look
 *    at it, except after a trap the module did not raise itself (out of
 *    bounds, division by zero, stack overflow): then it misses what the
 *    trapping function did since its last loop iteration or call — one
 *    pass through straight-line code, never a loop. Still deterministic.
 *    The sign of the count is tested only where execution can repeat: at
 *    function entries and loop heads. Elsewhere a charge only subtracts, so
 *    a job may run one straight stretch past its budget before it stops
 *    (then it is `fuel_exhausted`, whatever it did in that stretch, and its
 *    fuel is its budget). On branchy code that is measurably cheaper
 *    (rolling-stats: 1.21x -> 1.13x of its unmetered time).
 * 3. **Bulk work.** memory.grow goes through a helper that charges per page
 *    added and calls `fogmesh.grow_failed` when growth fails; memory.fill,
 *    memory.copy, memory.init and the table bulk operations are preceded by
 *    a call that charges their length.
 * 4. **Start function.** A wasm start function would run inside
 *    instantiation, before the host can set the fuel: it is removed from the
 *    start section and exported as `fogmesh_start` for the host to call first.
 *
 * Segments start at: the function entry; inside every `loop` (each iteration
 * pays); at the start of each arm of an `if` and of each `catch`/`catch_all`;
 * after the `end` of an `if`, `loop` or `try`, and of a `block` that some
 * branch targets (a join point). A segment runs up to the next such point or
 * unconditional branch, and is paid in full on entry. Code after an
 * unconditional branch (`br`, `br_table`, `return`, `unreachable`, `throw`, ...)
 * up to the end of its block is unreachable and costs nothing. So a loop body
 * costs the same on every iteration, and the fuel of a run is a function of
 * the module, its input and METERING_VERSION only.
 *
 * Deterministic: the output is a function of the input bytes alone (custom
 * sections, including `name`, are dropped). Refuses, with a JobError, what it
 * cannot meter or cap: memory64, shared memory, more than one memory, an
 * imported memory, anything imported from `fogmesh`, export names starting
 * with `fogmesh_`, and instructions beyond the supported set (MVP, sign
 * extension, non-trapping float-to-int, bulk memory, reference types,
 * multi-value, tail calls, legacy exception handling, SIMD, atomics on
 * unshared memory). GC, typed function references, exnref and relaxed SIMD
 * (implementation-defined results: not deterministic) are refused.
 *
 * Component cores (`componentCore`): the core modules of one component link to
 * each other and share one budget, so the counter is imported
 * (`fogmesh.fuel`) rather than defined, and a module may import its memory
 * (left as it is: the module that defines it is capped) or have none.
 * Same cost model, same charge placement.
 */
import { ErrorCode, JobError } from '../../../protocol/errors.ts'
import { BodyRewriter } from './body.ts'
import { METERING_VERSION } from './costs.ts'
import { ModuleLayout } from './layout.ts'
import type { MeterOptions, PreparedModule } from './prepared-module.ts'
import { writeModule } from './sections.ts'

export { FUEL_EXPORT, FUEL_IMPORT, HOST_MODULE, MAX_PAGES, RESERVED_EXPORT_PREFIX, START_EXPORT } from './prepared-module.ts'
export type { MemoryLimits, MeterOptions, PreparedModule } from './prepared-module.ts'

/**
 * Rewrites a job module into its metered, memory-capped form (see the file
 * comment): reads its layout (layout.ts), then writes it again (sections.ts), every
 * function body metered (body.ts) and the host's helpers added (helpers.ts). Same input
 * bytes, same output bytes. Throws a JobError (`invalid_module`, `not_a_command` or
 * `link_error`) for a module it cannot run; malformed bytes are `invalid_module`.
 */
export function prepareModule(bytes: Uint8Array, options: MeterOptions = {}): PreparedModule {
  try {
    const layout = new ModuleLayout(bytes, options)
    const body = new BodyRewriter(layout)
    const prepared = writeModule(layout, body)
    return {
      bytes: prepared,
      memory: layout.memory,
      start: layout.startFunc !== null,
      metering: options.splitAtBrIf ? 0 : METERING_VERSION,
      charges: body.charges,
      memoryFrom: layout.memoryFrom,
    }
  } catch (err) {
    // V8's own (a typed array past its maximum, say): the bytes asked for something absurd
    if (err instanceof RangeError) throw new JobError(ErrorCode.invalidModule, 'malformed module')
    throw err
  }
}
