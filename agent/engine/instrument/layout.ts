/**
 * The first pass of the meter: what a module has and where (its sections, counts and
 * index spaces, its memory), checked against what the job host can meter and cap; and
 * where everything lands in the prepared module, whose index spaces gain the host's
 * imports and helpers (sections.ts writes it).
 */
import { ErrorCode } from '../../../protocol/errors.ts'
import { Reader } from './bytes.ts'
import { HOST_MODULE, MAX_PAGES } from './prepared-module.ts'
import type { MemoryLimits, MeterOptions, PreparedModule } from './prepared-module.ts'
import { hex, refuse, unsupported, valType } from './refuse.ts'

/** Section ids. */
export const enum Sec {
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

export const MAGIC = [0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00]

interface Section {
  start: number
  end: number
}

export class ModuleLayout {
  private readonly sections = new Map<number, Section>()
  importedFuncs = 0
  importedGlobals = 0
  definedFuncs = 0
  definedGlobals = 0
  types = 0
  /** The bytes of the defined memory's limits, which the `fogmesh.memory` import takes over. */
  memoryLimits: Uint8Array | null = null
  memoryFrom: PreparedModule['memoryFrom'] = 'host'
  private importedMemories = 0
  memory: MemoryLimits = { initialPages: 0 }
  startFunc: number | null = null
  /** Per type: number of params. Per defined function: its type. */
  readonly typeParams: number[] = []
  readonly funcTypes: number[] = []

  // indices in the prepared module
  /** The fuel counter: defined after the module's globals, or (component core) imported after its global imports. */
  fuelGlobal = 0
  outOfFuel = 0
  growFailed = 0
  helperGrow = 0
  helperBytes = 0
  helperElems = 0
  helperOut = 0
  typeVoid = 0
  typeI32 = 0
  typeI64 = 0

  constructor(
    readonly src: Uint8Array,
    readonly options: MeterOptions,
  ) {
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
  }

  /** The fuel counter is imported (componentCore). */
  get importFuel(): boolean {
    return this.options.componentCore === true
  }

  has(id: Sec): boolean {
    return this.sections.has(id)
  }

  /** A reader over section `id`'s contents, or null when the module has none. */
  reader(id: Sec): Reader | null {
    const s = this.sections.get(id)
    return s ? new Reader(this.src, s.start, s.end) : null
  }

  /** A function's index in the prepared module: defined functions move up by two (our imports). */
  func(f: number): number {
    return f < this.importedFuncs ? f : f + 2
  }

  /** A global's index in the prepared module: with an imported counter, defined globals move up by one. */
  global(g: number): number {
    return this.importFuel && g >= this.importedGlobals ? g + 1 : g
  }

  /** Refuses a section whose contents did not end where its size said. */
  end(r: Reader): void {
    if (r.pos !== r.end) refuse(ErrorCode.invalidModule, 'section size mismatch')
  }

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
      this.sections.set(id, { start, end: r.pos })
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
        for (let j = 0; j < n; j++) valType(r)
      }
    }
    this.end(r)
  }

  /** Table and memory limits. */
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
          valType(r)
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
          valType(r)
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
      valType(r)
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
    // contents are read (and rewritten) by the global section's writer
  }

  private readStart(): void {
    const r = this.reader(Sec.start)
    if (!r) return
    this.startFunc = r.u32()
    this.end(r)
  }
}
