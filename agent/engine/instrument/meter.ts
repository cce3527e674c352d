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
import { Malformed, Reader, Writer } from './bytes.ts'
import {
  BULK_BYTES_SHIFT,
  FREE_OPCODES,
  GROW_PAGE_FUEL,
  METERING_VERSION,
  TABLE_ELEMENT_FUEL,
} from './costs.ts'

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

// ---- section ids and their order --------------------------------------------

const enum Sec {
  custom = 0,
  type = 1,
  import = 2,
  function = 3,
  table = 4,
  memory = 5,
  global = 6,
  export = 7,
  start = 8,
  element = 9,
  code = 10,
  data = 11,
  dataCount = 12,
  tag = 13,
}

/** Position of each section id in a module, as the spec orders them (tag sits between memory and global). */
const RANK: Record<number, number> = { 1: 1, 2: 2, 3: 3, 4: 4, 5: 5, 13: 6, 6: 7, 7: 8, 8: 9, 9: 10, 12: 11, 10: 12, 11: 13 }

const MAGIC = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]

/** Number types, vector, funcref, externref: the value types the job host accepts. */
function isValType(b: number): boolean {
  return (b >= 0x7b && b <= 0x7f) || b === 0x70 || b === 0x6f
}

function refuse(code: ErrorCode, message: string): never {
  throw new JobError(code, message)
}

const unsupported = (what: string): never =>
  refuse(ErrorCode.invalidModule, `module uses ${what}, which the job host does not support`)

const hex = (op: number) => `0x${op.toString(16).padStart(2, '0')}`

// ---- the pass -----------------------------------------------------------------

interface Section {
  id: number
  start: number
  end: number
}

interface Frame {
  /** 0 function, 1 block, 2 loop, 3 if, 4 try */
  kind: number
  /** Code was unreachable where this frame opened. */
  deadAtOpen: boolean
  /** Some branch targets this frame's label (for a block: its end is a join point). */
  targeted: boolean
}

const F_FUNC = 0
const F_BLOCK = 1
const F_LOOP = 2
const F_IF = 3
const F_TRY = 4

class Prepare {
  private readonly src: Uint8Array
  private readonly sections = new Map<number, Section>()
  private importedFuncs = 0
  private importedGlobals = 0
  private definedFuncs = 0
  private definedGlobals = 0
  private types = 0
  private memoryLimits: Uint8Array | null = null
  private memoryFrom: PreparedModule['memoryFrom'] = 'host'
  private importedMemories = 0
  private memory: MemoryLimits = { initialPages: 0 }
  private startFunc: number | null = null
  private charges = 0
  /** Per type: number of params. Per defined function: its type. */
  private readonly typeParams: number[] = []
  private readonly funcTypes: number[] = []

  // indices in the prepared module
  private fuelGlobal = 0
  private outOfFuel = 0
  private growFailed = 0
  private helperGrow = 0
  private helperBytes = 0
  private helperElems = 0
  private helperOut = 0
  private typeVoid = 0
  private typeI32 = 0
  private typeI64 = 0

  constructor(
    bytes: Uint8Array,
    private readonly options: MeterOptions,
  ) {
    this.src = bytes
  }

  run(): PreparedModule {
    this.readSections()
    this.readTypes()
    this.readImports()
    this.readFunctions()
    this.readTables()
    this.readMemory()
    this.readGlobals()
    this.readStart()

    // the prepared module's index spaces: our two function imports come right
    // after the module's own, so every defined function moves up by two
    this.typeVoid = this.types
    this.typeI32 = this.types + 1
    this.typeI64 = this.types + 2
    this.outOfFuel = this.importedFuncs
    this.growFailed = this.importedFuncs + 1
    const firstHelper = this.importedFuncs + 2 + this.definedFuncs
    this.helperGrow = firstHelper
    this.helperBytes = firstHelper + 1
    this.helperElems = firstHelper + 2
    this.helperOut = firstHelper + 3
    // a component core imports the counter: it comes right after the module's own global imports
    this.fuelGlobal = this.importFuel ? this.importedGlobals : this.importedGlobals + this.definedGlobals

    const out = new Writer(this.src.length + (this.src.length >> 2) + 1024)
    out.bytes(Uint8Array.from(MAGIC))
    this.section(out, Sec.type, this.writeTypes())
    this.section(out, Sec.import, this.writeImports())
    this.section(out, Sec.function, this.writeFunctions())
    this.copySection(out, Sec.table)
    // no memory section: the memory is imported now
    this.copySection(out, Sec.tag)
    if (!this.importFuel || this.definedGlobals > 0) this.section(out, Sec.global, this.writeGlobals())
    this.section(out, Sec.export, this.writeExports())
    // no start section: see the file comment
    if (this.sections.has(Sec.element)) this.section(out, Sec.element, this.writeElements())
    this.copySection(out, Sec.dataCount)
    this.section(out, Sec.code, this.writeCode())
    // a component core's data offsets may name a global, whose index moved
    if (this.importFuel && this.sections.has(Sec.data)) this.section(out, Sec.data, this.writeData())
    else this.copySection(out, Sec.data)

    const prepared: PreparedModule = {
      bytes: out.take(),
      memory: this.memory,
      start: this.startFunc !== null,
      metering: this.options.splitAtBrIf ? 0 : METERING_VERSION,
      charges: this.charges,
      memoryFrom: this.memoryFrom,
    }
    return prepared
  }

  private reader(id: number): Reader | null {
    const s = this.sections.get(id)
    return s ? new Reader(this.src, s.start, s.end) : null
  }

  private section(out: Writer, id: number, body: Writer): void {
    out.u8(id).sized(body)
  }

  private copySection(out: Writer, id: number): void {
    const s = this.sections.get(id)
    if (s) out.u8(id).u32(s.end - s.start).range(this.src, s.start, s.end)
  }

  private renumber(f: number): number {
    return f < this.importedFuncs ? f : f + 2
  }

  /** The fuel counter is imported (componentCore). */
  private get importFuel(): boolean {
    return this.options.componentCore === true
  }

  /** A global's index in the prepared module: with an imported counter, defined globals move up by one. */
  private renumberGlobal(g: number): number {
    return this.importFuel && g >= this.importedGlobals ? g + 1 : g
  }

  // ---- reading --------------------------------------------------------------

  private readSections(): void {
    const r = new Reader(this.src)
    for (let i = 0; i < 8; i++) {
      if (r.u8() !== MAGIC[i]) {
        if (i >= 4) refuse(ErrorCode.notACommand, 'not a core WebAssembly module (a component, or another version)')
        refuse(ErrorCode.invalidModule, 'not a WebAssembly module')
      }
    }
    let rank = 0
    while (!r.done) {
      const id = r.u8()
      const size = r.u32()
      const start = r.pos
      r.skip(size)
      if (id === Sec.custom) continue // dropped: the name section's indices would be stale anyway
      const at = RANK[id]
      if (at === undefined) refuse(ErrorCode.invalidModule, `unknown section id ${id}`)
      if (at <= rank) refuse(ErrorCode.invalidModule, `section ${id} out of order or repeated`)
      rank = at
      this.sections.set(id, { id, start, end: r.pos })
    }
  }

  private readTypes(): void {
    const r = this.reader(Sec.type)
    if (!r) return
    this.types = r.u32()
    for (let i = 0; i < this.types; i++) {
      const form = r.u8()
      if (form !== 0x60) unsupported(`type form ${hex(form)} (GC types)`)
      for (let k = 0; k < 2; k++) {
        const n = r.u32()
        if (k === 0) this.typeParams.push(n)
        for (let j = 0; j < n; j++) this.valType(r)
      }
    }
    this.end(r)
  }

  private valType(r: Reader): number {
    const t = r.u8()
    if (!isValType(t)) unsupported(`value type ${hex(t)}`)
    return t
  }

  /** Table and memory limits; returns [flags, min, max?]. */
  private limits(r: Reader): { flags: number; min: number; max: number | undefined } {
    const flags = r.u8()
    const min = r.u32()
    const max = flags & 1 ? r.u32() : undefined
    return { flags, min, max }
  }

  private readImports(): void {
    const r = this.reader(Sec.import)
    if (!r) return
    const n = r.u32()
    for (let i = 0; i < n; i++) {
      const module = r.name()
      const name = r.name()
      const kind = r.u8()
      const shown = `${module}.${name}`.slice(0, 64)
      if (module === HOST_MODULE) {
        refuse(ErrorCode.linkError, `module imports ${shown}: the "${HOST_MODULE}" namespace is reserved for the job host`)
      }
      switch (kind) {
        case 0x00:
          r.u32()
          this.importedFuncs++
          break
        case 0x01: {
          this.valType(r)
          const { flags } = this.limits(r)
          if (flags > 1) unsupported('a 64-bit or shared table')
          break
        }
        case 0x02: {
          if (!this.options.componentCore) {
            refuse(ErrorCode.linkError, `module imports memory ${shown}; the job host provides the memory itself`)
          }
          // a component core importing another core's memory: left as it is (that one is capped)
          const { flags, min, max } = this.limits(r)
          this.checkMemoryLimits(flags, min, max)
          this.importedMemories++
          this.memory = max === undefined ? { initialPages: min } : { initialPages: min, maxPages: max }
          break
        }
        case 0x03:
          this.valType(r)
          r.u8()
          this.importedGlobals++
          break
        case 0x04:
          r.u8()
          r.u32()
          break
        default:
          refuse(ErrorCode.invalidModule, `unknown import kind ${kind}`)
      }
    }
    this.end(r)
  }

  private readFunctions(): void {
    const r = this.reader(Sec.function)
    if (!r) return
    this.definedFuncs = r.u32()
    for (let i = 0; i < this.definedFuncs; i++) {
      const t = r.u32()
      if (t >= this.types) refuse(ErrorCode.invalidModule, 'function type index out of range')
      this.funcTypes.push(t)
    }
    this.end(r)
  }

  private readTables(): void {
    const r = this.reader(Sec.table)
    if (!r) return
    const n = r.u32()
    for (let i = 0; i < n; i++) {
      if (r.peek() === 0x40) unsupported('a table with an initializer (typed function references)')
      this.valType(r)
      if (this.limits(r).flags > 1) unsupported('a 64-bit or shared table')
    }
    this.end(r)
  }

  private readMemory(): void {
    const r = this.reader(Sec.memory)
    const n = r ? r.u32() : 0
    if (this.importedMemories > 0) {
      // only a component core gets here (readImports refuses the rest): its memory stays imported
      if (this.importedMemories + n > 1) {
        refuse(ErrorCode.invalidModule, `module has ${this.importedMemories + n} memories (multi-memory); a job has at most one per module`)
      }
      this.memoryFrom = 'module'
      if (r) this.end(r)
      return
    }
    if (!r || n === 0) {
      if (!this.options.componentCore) refuse(ErrorCode.notACommand, 'module defines no memory')
      this.memoryFrom = 'none' // a component core without memory (jco's shims)
      if (r) this.end(r)
      return
    }
    if (n > 1) refuse(ErrorCode.invalidModule, `module defines ${n} memories; a job has exactly one`)
    const at = r.pos
    const { flags, min, max } = this.limits(r)
    this.checkMemoryLimits(flags, min, max)
    this.memoryLimits = this.src.slice(at, r.pos)
    this.memory = max === undefined ? { initialPages: min } : { initialPages: min, maxPages: max }
    this.end(r)
  }

  private checkMemoryLimits(flags: number, min: number, max: number | undefined): void {
    if (flags & 0x04) refuse(ErrorCode.invalidModule, 'module uses a 64-bit memory (memory64); jobs are wasm32')
    if (flags & 0x02) refuse(ErrorCode.invalidModule, 'module uses a shared memory (threads); jobs are single-threaded')
    if (flags > 1) refuse(ErrorCode.invalidModule, `unsupported memory flags ${hex(flags)}`)
    if (min > MAX_PAGES || (max !== undefined && (max > MAX_PAGES || max < min))) {
      refuse(ErrorCode.invalidModule, 'memory limits out of range')
    }
  }

  private readGlobals(): void {
    const r = this.reader(Sec.global)
    if (!r) return
    this.definedGlobals = r.u32()
    // contents are read (and rewritten) in writeGlobals
  }

  private readStart(): void {
    const r = this.reader(Sec.start)
    if (!r) return
    this.startFunc = r.u32()
    this.end(r)
  }

  private end(r: Reader): void {
    if (r.pos !== r.end) refuse(ErrorCode.invalidModule, 'section size mismatch')
  }

  // ---- writing --------------------------------------------------------------

  /** In the helpers (fuel in the global): `if (fuel < 0) { out_of_fuel(); unreachable }` */
  private check(): Uint8Array {
    return new Writer(16)
      .u8(0x23)
      .u32(this.fuelGlobal)
      .u8(0x42)
      .u8(0x00)
      .u8(0x53) // i64.lt_s
      .u8(0x04)
      .u8(0x40)
      .u8(0x10)
      .u32(this.outOfFuel)
      .u8(0x00) // unreachable
      .u8(0x0b)
      .take()
  }

  private writeTypes(): Writer {
    const w = new Writer()
    const r = this.reader(Sec.type)
    w.u32(this.types + 3)
    if (r) w.range(this.src, r.pos + lebLength(this.src, r.pos), r.end)
    w.u8(0x60).u8(0).u8(0) // typeVoid: [] -> []
    w.u8(0x60).u8(1).u8(0x7f).u8(1).u8(0x7f) // typeI32: [i32] -> [i32]
    w.u8(0x60).u8(1).u8(0x7e).u8(0) // typeI64: [i64] -> []
    return w
  }

  private writeImports(): Writer {
    const w = new Writer()
    const r = this.reader(Sec.import)
    const n = r ? r.u32() : 0
    const hostMemory = this.memoryFrom === 'host'
    w.u32(n + 2 + (hostMemory ? 1 : 0) + (this.importFuel ? 1 : 0))
    if (r) w.range(this.src, r.pos, r.end)
    if (hostMemory) w.name(HOST_MODULE).name('memory').u8(0x02).bytes(this.memoryLimits as Uint8Array)
    w.name(HOST_MODULE).name('out_of_fuel').u8(0x00).u32(this.typeVoid)
    w.name(HOST_MODULE).name('grow_failed').u8(0x00).u32(this.typeVoid)
    if (this.importFuel) w.name(HOST_MODULE).name(FUEL_IMPORT).u8(0x03).u8(0x7e).u8(0x01) // (global (mut i64))
    return w
  }

  private writeFunctions(): Writer {
    const w = new Writer()
    const r = this.reader(Sec.function)
    w.u32(this.definedFuncs + 4)
    if (r) w.range(this.src, r.pos + lebLength(this.src, r.pos), r.end)
    for (let i = 0; i < 3; i++) w.u32(this.typeI32)
    w.u32(this.typeI64)
    return w
  }

  private writeGlobals(): Writer {
    const w = new Writer()
    w.u32(this.definedGlobals + (this.importFuel ? 0 : 1))
    const r = this.reader(Sec.global)
    if (r) {
      r.u32()
      for (let i = 0; i < this.definedGlobals; i++) {
        w.u8(this.valType(r)).u8(r.u8())
        this.constExpr(r, w)
      }
      this.end(r)
    }
    if (!this.importFuel) w.u8(0x7e).u8(0x01).u8(0x42).u8(0x00).u8(0x0b) // (mut i64) (i64.const 0): the host sets it
    return w
  }

  private writeExports(): Writer {
    const w = new Writer()
    const r = this.reader(Sec.export)
    const n = r ? r.u32() : 0
    const start = this.startFunc !== null
    w.u32(n + (this.importFuel ? 0 : 1) + (start ? 1 : 0))
    for (let i = 0; r && i < n; i++) {
      const name = r.name()
      if (name.startsWith(RESERVED_EXPORT_PREFIX)) {
        refuse(ErrorCode.linkError, `module exports ${name.slice(0, 64)}: names starting with ${RESERVED_EXPORT_PREFIX} are reserved`)
      }
      const kind = r.u8()
      const index = r.u32()
      w.name(name).u8(kind).u32(kind === 0x00 ? this.renumber(index) : kind === 0x03 ? this.renumberGlobal(index) : index)
    }
    if (r) this.end(r)
    if (!this.importFuel) w.name(FUEL_EXPORT).u8(0x03).u32(this.fuelGlobal)
    if (start) w.name(START_EXPORT).u8(0x00).u32(this.renumber(this.startFunc as number))
    return w
  }

  private writeElements(): Writer {
    const r = this.reader(Sec.element) as Reader
    const w = new Writer(r.end - r.pos + 16)
    const n = r.u32()
    w.u32(n)
    for (let i = 0; i < n; i++) {
      const flags = r.u32()
      w.u32(flags)
      if (flags > 7) refuse(ErrorCode.invalidModule, `unknown element segment flags ${flags}`)
      if (flags === 2 || flags === 6) w.u32(r.u32()) // table index
      if ((flags & 1) === 0) this.constExpr(r, w) // active: offset
      if (flags & 4) {
        if (flags !== 4) w.u8(this.valType(r)) // reftype
        const count = r.u32()
        w.u32(count)
        for (let k = 0; k < count; k++) this.constExpr(r, w)
      } else {
        if (flags !== 0) {
          const kind = r.u8()
          if (kind !== 0x00) refuse(ErrorCode.invalidModule, `unknown element kind ${kind}`)
          w.u8(kind)
        }
        const count = r.u32()
        w.u32(count)
        for (let k = 0; k < count; k++) w.u32(this.renumber(r.u32()))
      }
    }
    this.end(r)
    return w
  }

  /** The data section, active segments' offsets renumbered (componentCore: globals moved). */
  private writeData(): Writer {
    const r = this.reader(Sec.data) as Reader
    const w = new Writer(r.end - r.pos + 16)
    const n = r.u32()
    w.u32(n)
    for (let i = 0; i < n; i++) {
      const flags = r.u32()
      w.u32(flags)
      if (flags > 2) refuse(ErrorCode.invalidModule, `unknown data segment flags ${flags}`)
      if (flags === 2) w.u32(r.u32()) // memory index
      if (flags !== 1) this.constExpr(r, w) // active: offset
      const size = r.u32()
      const at = r.pos
      r.skip(size)
      w.u32(size).range(this.src, at, r.pos)
    }
    this.end(r)
    return w
  }

  /** Copies a constant expression up to its `end`, renumbering `ref.func` (and, for a component core, `global.get`). */
  private constExpr(r: Reader, w: Writer): void {
    for (;;) {
      const at = r.pos
      const op = r.u8()
      switch (op) {
        case 0x0b:
          w.u8(op)
          return
        case 0x41:
          r.skipSigned(32)
          break
        case 0x42:
          r.skipSigned(64)
          break
        case 0x43:
          r.skip(4)
          break
        case 0x44:
          r.skip(8)
          break
        case 0x23:
          if (this.importFuel) {
            w.u8(op).u32(this.renumberGlobal(r.u32()))
            continue
          }
          r.u32()
          break
        case 0xd0:
          this.valType(r)
          break
        case 0xd2:
          w.u8(op).u32(this.renumber(r.u32()))
          continue
        case 0x6a: // extended constant expressions: i32.add/sub/mul, i64.add/sub/mul
        case 0x6b:
        case 0x6c:
        case 0x7c:
        case 0x7d:
        case 0x7e:
          break
        case 0xfd:
          if (r.u32() !== 12) unsupported('a vector instruction in a constant expression')
          r.skip(16)
          break
        default:
          unsupported(`instruction ${hex(op)} in a constant expression`)
      }
      w.range(this.src, at, r.pos)
    }
  }

  private writeCode(): Writer {
    const r = this.reader(Sec.code)
    const n = r ? r.u32() : 0
    if (n !== this.definedFuncs) refuse(ErrorCode.invalidModule, 'function and code section sizes differ')
    const w = new Writer(r ? r.end - r.pos + (r.end - r.pos) / 4 + 256 : 256)
    w.u32(n + 4)
    const body = new Writer(1024)
    const seg = new Writer(1024)
    for (let i = 0; i < n; i++) {
      const size = (r as Reader).u32()
      const start = (r as Reader).pos
      ;(r as Reader).skip(size)
      body.reset()
      this.instrument(start, start + size, this.typeParams[this.funcTypes[i] as number] as number, body, seg)
      w.sized(body)
    }
    if (r) this.end(r)
    for (const helper of this.helpers()) w.sized(helper)
    return w
  }

  /** The helper functions: three [i32] -> [i32] that charge bulk work, and the out-of-fuel exit. */
  private helpers(): Writer[] {
    const g = this.fuelGlobal
    const check = this.check()
    // memory.grow: grow, then charge per page added, or tell the host it failed (no memory: never called)
    const noMemory = new Writer(8).u8(0).u8(0x00).u8(0x0b) // no locals; unreachable
    const grow = this.memoryFrom === 'none' ? noMemory : new Writer(64)
      .u8(1).u8(1).u8(0x7f) // one i32 local: the result
      .u8(0x20).u8(0) // local.get 0
      .u8(0x40).u8(0) // memory.grow 0
      .u8(0x22).u8(1) // local.tee 1
      .u8(0x41).u8(0x7f) // i32.const -1
      .u8(0x46) // i32.eq
      .u8(0x04).u8(0x40)
      .u8(0x10).u32(this.growFailed)
      .u8(0x05)
      .u8(0x23).u32(g)
      .u8(0x20).u8(0).u8(0xad) // i64.extend_i32_u
      .u8(0x42).sPositive(GROW_PAGE_FUEL).u8(0x7e) // i64.mul
      .u8(0x7d).u8(0x24).u32(g) // i64.sub, global.set
      .bytes(check)
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
      .bytes(check)
      .u8(0x20).u8(0)
      .u8(0x0b)
    // elements of a table operation: n, passed through
    const elems = new Writer(48).u8(0).u8(0x23).u32(g).u8(0x20).u8(0).u8(0xad)
    if (TABLE_ELEMENT_FUEL !== 1) elems.u8(0x42).sPositive(TABLE_ELEMENT_FUEL).u8(0x7e)
    elems.u8(0x7d).u8(0x24).u32(g).bytes(check).u8(0x20).u8(0).u8(0x0b)
    // out of fuel in a function body: store the (negative) count for the host, tell it, trap
    const out = new Writer(16).u8(0).u8(0x20).u8(0).u8(0x24).u32(g).u8(0x10).u32(this.outOfFuel).u8(0x00).u8(0x0b)
    return [grow, bytes, elems, out]
  }

  // ---- the code of one function ------------------------------------------------

  /**
   * Copies the function body at src[start, end) into `out` with a charge at
   * the start of every segment. `seg` buffers the current segment (its cost
   * is known only at its end). The fuel count lives in an extra i64 local,
   * synchronised with the global as the file comment says.
   */
  private instrument(start: number, end: number, params: number, out: Writer, seg: Writer): void {
    const src = this.src
    const r = new Reader(src, start, end)
    // locals: the module's own, then ours
    const groups = r.u32()
    let locals = params
    for (let i = 0; i < groups; i++) {
      locals += r.u32()
      this.valType(r)
    }
    if (locals >= 0xffff_ffff) throw new Malformed('too many locals')
    const fuel = locals
    out.u32(groups + 1).range(src, start + lebLength(src, start), r.pos).u8(1).u8(0x7e)

    const g = this.fuelGlobal
    const store = new Writer(8).u8(0x20).u32(fuel).u8(0x24).u32(g).take() // global = local
    const load = new Writer(8).u8(0x23).u32(g).u8(0x21).u32(fuel).take() // local = global
    // with the new count on the stack: `if (count < 0) { fm_out(count); unreachable }`
    const exit = new Writer(16).u8(0x42).u8(0x00).u8(0x53).u8(0x04).u8(0x40).u8(0x20).u32(fuel).u8(0x10).u32(this.helperOut).u8(0x00).u8(0x0b).take()
    out.bytes(load)

    const splitAtBrIf = this.options.splitAtBrIf === true
    const frames: Frame[] = [{ kind: F_FUNC, deadAtOpen: false, targeted: false }]
    let dead = false
    let cost = 0
    let loopHead = false // the current segment starts a loop body
    let entry = true // the current segment is the function's first
    let copied = r.pos // src bytes before this are in `seg` (or `out`)
    seg.reset()

    const flush = (upTo: number) => {
      seg.range(src, copied, upTo)
      copied = upTo
      if (cost > 0) {
        // fuel -= cost; at a loop head, write it through; at a loop head or the entry, if (fuel < 0) exit
        const checked = loopHead || entry
        out.u8(0x20).u32(fuel).u8(0x42).sPositive(cost).u8(0x7d).u8(checked ? 0x22 : 0x21).u32(fuel)
        if (loopHead) out.u8(0x24).u32(g).u8(0x20).u32(fuel)
        if (checked) out.bytes(exit)
        this.charges++
      } else if (loopHead) {
        out.bytes(store)
      }
      out.bytes(seg.view())
      seg.reset()
      cost = 0
      loopHead = false
      entry = false
    }
    /** Inserts `bytes` before the instruction at `at` (not yet copied). */
    const before = (at: number, bytes: Uint8Array) => {
      seg.range(src, copied, at)
      seg.bytes(bytes)
      copied = at
    }
    /** Inserts `bytes` after the instruction just read. */
    const after = (bytes: Uint8Array) => {
      seg.range(src, copied, r.pos)
      seg.bytes(bytes)
      copied = r.pos
    }
    /** Marks a branch target; true if the branch leaves the function (a return). */
    const target = (depth: number): boolean => {
      const f = frames[frames.length - 1 - depth]
      if (f === undefined) throw new Malformed('branch depth out of range')
      f.targeted = true
      return depth === frames.length - 1
    }
    const blockType = () => {
      const b = r.peek()
      if (b === 0x40 || isValType(b)) r.pos++
      else if (r.s33() < 0) unsupported(`block type ${hex(b)}`)
    }
    const memarg = () => {
      const align = r.u32()
      if (align & 0x40) r.u32() // memory index (multi-memory encoding)
      r.u32()
    }
    /** Writes a call to helper `f` in place of (or before) the instruction at `at`, the global in sync around it. */
    const callHelper = (at: number, f: number, replace: boolean) => {
      seg.range(src, copied, at)
      seg.bytes(store).u8(0x10).u32(f).bytes(load)
      copied = replace ? r.pos : at
    }

    while (frames.length > 0) {
      const at = r.pos
      const op = r.u8()
      if (!dead && !FREE_OPCODES.has(op)) cost++
      switch (op) {
        case 0x00: // unreachable
        case 0x0f: // return
          before(at, store)
          flush(r.pos)
          dead = true
          break
        case 0x01: // nop
          break
        case 0x02: // block
          blockType()
          frames.push({ kind: F_BLOCK, deadAtOpen: dead, targeted: false })
          break
        case 0x03: // loop
          blockType()
          frames.push({ kind: F_LOOP, deadAtOpen: dead, targeted: false })
          flush(r.pos)
          loopHead = true
          break
        case 0x04: // if
          blockType()
          frames.push({ kind: F_IF, deadAtOpen: dead, targeted: false })
          flush(r.pos)
          break
        case 0x05: // else
        case 0x07: // catch
        case 0x19: {
          // catch_all
          if (op === 0x07) r.u32()
          const f = frames[frames.length - 1] as Frame
          if (f.kind !== (op === 0x05 ? F_IF : F_TRY)) throw new Malformed(`misplaced ${hex(op)}`)
          if (op !== 0x05) after(load) // what the callee that threw had burned
          flush(r.pos)
          dead = f.deadAtOpen
          break
        }
        case 0x06: // try
          blockType()
          frames.push({ kind: F_TRY, deadAtOpen: dead, targeted: false })
          break
        case 0x08: // throw
        case 0x09: // rethrow
          r.u32()
          before(at, store)
          flush(r.pos)
          dead = true
          break
        case 0x0b: {
          // end
          if (frames.length === 1) before(at, store) // the function returns
          const f = frames.pop() as Frame
          if (frames.length === 0 || f.kind !== F_BLOCK || f.targeted) flush(r.pos)
          dead = f.deadAtOpen
          break
        }
        case 0x0c: // br
          if (target(r.u32())) before(at, store)
          flush(r.pos)
          dead = true
          break
        case 0x0d: // br_if
          if (target(r.u32())) before(at, store)
          if (splitAtBrIf) flush(r.pos)
          break
        case 0x0e: {
          // br_table
          const n = r.u32()
          let returns = false
          for (let i = 0; i <= n; i++) if (target(r.u32())) returns = true
          if (returns) before(at, store)
          flush(r.pos)
          dead = true
          break
        }
        case 0x10: // call
        case 0x12: {
          // return_call
          const f = r.u32()
          seg.range(src, copied, at)
          seg.bytes(store).u8(op).u32(this.renumber(f))
          copied = r.pos
          if (op === 0x10) {
            seg.bytes(load)
          } else {
            flush(r.pos)
            dead = true
          }
          break
        }
        case 0x11: // call_indirect
        case 0x13: // return_call_indirect
          r.u32()
          r.u32()
          before(at, store)
          if (op === 0x11) {
            after(load)
          } else {
            flush(r.pos)
            dead = true
          }
          break
        case 0x18: {
          // delegate: ends a try
          r.u32()
          const f = frames.pop() as Frame
          if (f.kind !== F_TRY) throw new Malformed('misplaced delegate')
          flush(r.pos)
          dead = f.deadAtOpen
          break
        }
        case 0x1a: // drop
        case 0x1b: // select
          break
        case 0x1c: {
          // select t*
          const n = r.u32()
          for (let i = 0; i < n; i++) this.valType(r)
          break
        }
        case 0x23: // global.get
        case 0x24: {
          // global.set
          const g = r.u32()
          if (this.importFuel) {
            seg.range(src, copied, at)
            seg.u8(op).u32(this.renumberGlobal(g))
            copied = r.pos
          }
          break
        }
        case 0x20:
        case 0x21:
        case 0x22:
        case 0x25:
        case 0x26:
          r.u32()
          break
        case 0x3f: // memory.size
          r.u32()
          break
        case 0x40: // memory.grow
          if (r.u32() !== 0) throw new Malformed('memory index out of range')
          callHelper(at, this.helperGrow, true)
          break
        case 0x41:
          r.skipSigned(32)
          break
        case 0x42:
          r.skipSigned(64)
          break
        case 0x43:
          r.skip(4)
          break
        case 0x44:
          r.skip(8)
          break
        case 0xd0: // ref.null
          this.valType(r)
          break
        case 0xd1: // ref.is_null
          break
        case 0xd2: {
          // ref.func
          const f = r.u32()
          seg.range(src, copied, at)
          seg.u8(op).u32(this.renumber(f))
          copied = r.pos
          break
        }
        case 0xfc:
          this.prefixFC(r, at, callHelper)
          break
        case 0xfd:
          this.prefixFD(r, memarg)
          break
        case 0xfe:
          this.prefixFE(r, memarg)
          break
        default:
          if (op >= 0x28 && op <= 0x3e) memarg()
          else if (op >= 0x45 && op <= 0xc4) {
            // numeric, conversions, sign extension: no immediates
          } else if (op === 0x0a || op === 0x1f) unsupported('exception handling with exnref (try_table)')
          else if (op === 0x14 || op === 0x15 || (op >= 0xd3 && op <= 0xd6)) unsupported('typed function references')
          else if (op === 0xfb) unsupported('GC instructions')
          else unsupported(`instruction ${hex(op)}`)
      }
    }
    if (r.pos !== end) throw new Malformed('function body size mismatch')
  }

  private prefixFC(r: Reader, at: number, callHelper: (at: number, f: number, replace: boolean) => void): void {
    const sub = r.u32()
    switch (sub) {
      case 0: case 1: case 2: case 3: case 4: case 5: case 6: case 7: // trunc_sat
        return
      case 8: // memory.init data mem
        r.u32()
        r.u32()
        callHelper(at, this.helperBytes, false)
        return
      case 9: // data.drop
      case 13: // elem.drop
      case 16: // table.size
        r.u32()
        return
      case 10: // memory.copy mem mem
        r.u32()
        r.u32()
        callHelper(at, this.helperBytes, false)
        return
      case 11: // memory.fill mem
        r.u32()
        callHelper(at, this.helperBytes, false)
        return
      case 12: // table.init elem table
      case 14: // table.copy table table
        r.u32()
        r.u32()
        callHelper(at, this.helperElems, false)
        return
      case 15: // table.grow
      case 17: // table.fill
        r.u32()
        callHelper(at, this.helperElems, false)
        return
      default:
        unsupported(`instruction 0xfc ${sub}`)
    }
  }

  private prefixFD(r: Reader, memarg: () => void): void {
    const sub = r.u32()
    if (sub <= 11 || sub === 92 || sub === 93) memarg() // loads, stores, load_zero
    else if (sub === 12 || sub === 13) r.skip(16) // v128.const, i8x16.shuffle
    else if (sub >= 21 && sub <= 34) r.skip(1) // extract_lane, replace_lane
    else if (sub >= 84 && sub <= 91) {
      memarg() // load_lane, store_lane
      r.skip(1)
    } else if (sub >= 0x100) {
      // relaxed SIMD: results are implementation-defined, so they differ between CPUs
      refuse(ErrorCode.invalidModule, `module uses relaxed SIMD (0xfd ${sub}), whose results differ between machines: jobs must be deterministic`)
    }
    // everything else has no immediates
  }

  private prefixFE(r: Reader, memarg: () => void): void {
    const sub = r.u32()
    if (sub === 0x03) r.skip(1) // atomic.fence
    else if (sub <= 0x02 || (sub >= 0x10 && sub <= 0x4e)) memarg()
    else unsupported(`atomic instruction 0xfe ${sub}`)
  }
}

/** Length of the u32 LEB128 at src[at]. */
function lebLength(src: Uint8Array, at: number): number {
  let n = 1
  while (((src[at + n - 1] as number) & 0x80) !== 0) n++
  return n
}

/**
 * Rewrites a job module into its metered, memory-capped form (see the file
 * comment). Same input bytes, same output bytes. Throws a JobError
 * (`invalid_module`, `not_a_command` or `link_error`) for a module it cannot
 * run; malformed bytes are `invalid_module`.
 */
export function prepareModule(bytes: Uint8Array, options: MeterOptions = {}): PreparedModule {
  try {
    return new Prepare(bytes, options).run()
  } catch (err) {
    if (err instanceof Malformed) throw new JobError(ErrorCode.invalidModule, `malformed module: ${err.message}`)
    if (err instanceof RangeError) throw new JobError(ErrorCode.invalidModule, 'malformed module')
    throw err
  }
}
