/**
 * What the meter makes (meter.ts): the prepared module and what the host must know about
 * it, the options it takes, and the names the two sides link by.
 */

/** The namespace of everything the host provides to a prepared module besides WASI. */
export const HOST_MODULE = 'fogmesh'
export const FUEL_EXPORT = 'fogmesh_fuel'
/** `fogmesh.<this>`: the fuel counter a component core imports (MeterOptions.componentCore). */
export const FUEL_IMPORT = 'fuel'
export const START_EXPORT = 'fogmesh_start'
/** Export names a job module may not use. */
export const RESERVED_EXPORT_PREFIX = 'fogmesh_'
/** wasm32 address space, in 64 KiB pages. */
export const MAX_PAGES = 65_536

export interface MemoryLimits {
  /** Pages the module's memory starts with. */
  initialPages: number
  /** Its declared maximum, if it declares one. */
  maxPages?: number
}

export interface PreparedModule {
  /** The rewritten module. */
  bytes: Uint8Array
  memory: MemoryLimits
  /** The original had a wasm start function, now exported as `fogmesh_start`. */
  start: boolean
  /** The cost model the fuel counts follow (costs.ts); 0 for a non-default placement (not for billing). */
  metering: number
  /** Fuel checks inserted: one per segment with a non-zero cost. */
  charges: number
  /**
   * Where the rewritten module's memory comes from: `host`, imported as `fogmesh.memory`
   * (its declared limits in `memory`; always, without `componentCore`); `module`, imported
   * from another module as the original did (`componentCore` only; its declared limits in
   * `memory`); `none`, the module has no memory (`componentCore` only; `memory` is 0 pages).
   */
  memoryFrom: 'host' | 'module' | 'none'
}

export interface MeterOptions {
  /**
   * Also start a segment after every `br_if` (exact basic blocks: a taken
   * `br_if` does not pay for the rest of its segment). Off by default: it is
   * a different cost model (reported as metering 0, not for billing) and costs more checks.
   */
  splitAtBrIf?: boolean
  /**
   * For the core modules of a WebAssembly component (agent/engine/component/), which
   * link to each other and must burn one budget between them:
   * - the fuel counter is imported, `(import "fogmesh" "fuel" (global (mut i64)))`,
   *   instead of defined and exported as `fogmesh_fuel`: every instance given the same
   *   WebAssembly.Global decrements the same count (each function keeps it in a local
   *   and writes it back before every call and return, reads it back after every call,
   *   so a call from one instance into another sees the right value). The module's own
   *   globals move up by one in the index space;
   * - a module that imports its memory (jco's preview1 adapter imports the main module's)
   *   keeps that import as it is: the module that defines the memory is the one capped.
   *   A module with no memory at all (jco's shims) is accepted too. A defined memory
   *   still becomes `fogmesh.memory`, as without this option.
   * The cost model is the same (METERING_VERSION).
   */
  componentCore?: boolean
}
