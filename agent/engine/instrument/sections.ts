/**
 * Writes the prepared module, section by section, from the layout (layout.ts): the
 * module's own items — copied as they are, or rewritten one by one where an index moved —
 * followed by what the host adds (three types, the `fogmesh` imports, four helper
 * functions, the fuel global, the fuel and start exports). Every vector section goes
 * through one writer, `vector`; sections nothing changes are copied byte for byte.
 */
import { ErrorCode } from '../../../protocol/errors.ts'
import { Writer } from './bytes.ts'
import type { Reader } from './bytes.ts'
import { BodyRewriter } from './body.ts'
import { HELPERS, helperBodies } from './helpers.ts'
import { MAGIC, Sec } from './layout.ts'
import type { ModuleLayout } from './layout.ts'
import { FUEL_EXPORT, FUEL_IMPORT, HOST_MODULE, RESERVED_EXPORT_PREFIX, START_EXPORT } from './prepared-module.ts'
import { hex, refuse, unsupported, valType } from './refuse.ts'

/** How one vector section of the prepared module is made from the module's. */
interface VectorPlan {
  /** Rewrites one of the module's items from `r` into `w`; absent: the items are copied as they are. */
  item?: (r: Reader, w: Writer, index: number) => void
  /** How many items the host adds after the module's own. */
  added: number
  /** Writes them. */
  append?: (w: Writer) => void
  /** Sees the module's item count before anything is written (to refuse it). */
  count?: (n: number) => void
}

/** The rewritten module's bytes; `body` meters the function bodies (and counts the charges). */
export function writeModule(m: ModuleLayout, body: BodyRewriter): Uint8Array {
  const out = new Writer(m.src.length + (m.src.length >> 2) + 1024)
  const hostMemory = m.memoryFrom === 'host'
  const start = m.startFunc !== null
  out.bytes(Uint8Array.from(MAGIC))
  vector(out, m, Sec.type, {
    added: 3,
    append: (w) => {
      w.u8(0x60).u8(0).u8(0) // typeVoid: [] -> []
      w.u8(0x60).u8(1).u8(0x7f).u8(1).u8(0x7f) // typeI32: [i32] -> [i32]
      w.u8(0x60).u8(1).u8(0x7e).u8(0) // typeI64: [i64] -> []
    },
  })
  vector(out, m, Sec.import, {
    added: 2 + (hostMemory ? 1 : 0) + (m.importFuel ? 1 : 0),
    append: (w) => {
      if (hostMemory) w.name(HOST_MODULE).name('memory').u8(0x02).bytes(m.memoryLimits as Uint8Array)
      w.name(HOST_MODULE).name('out_of_fuel').u8(0x00).u32(m.typeVoid)
      w.name(HOST_MODULE).name('grow_failed').u8(0x00).u32(m.typeVoid)
      if (m.importFuel) w.name(HOST_MODULE).name(FUEL_IMPORT).u8(0x03).u8(0x7e).u8(0x01) // (global (mut i64))
    },
  })
  vector(out, m, Sec.function, {
    added: HELPERS,
    append: (w) => {
      for (let i = 0; i < HELPERS - 1; i++) w.u32(m.typeI32)
      w.u32(m.typeI64)
    },
  })
  copySection(out, m, Sec.table)
  // no memory section: the memory is imported now
  copySection(out, m, Sec.tag)
  if (!m.importFuel || m.definedGlobals > 0) {
    vector(out, m, Sec.global, {
      item: (r, w) => {
        w.u8(valType(r)).u8(r.u8())
        constExpr(m, r, w)
      },
      added: m.importFuel ? 0 : 1,
      append: (w) => {
        if (!m.importFuel) w.u8(0x7e).u8(0x01).u8(0x42).u8(0x00).u8(0x0b) // (mut i64) (i64.const 0): the host sets it
      },
    })
  }
  vector(out, m, Sec.export, {
    item: (r, w) => exportItem(m, r, w),
    added: (m.importFuel ? 0 : 1) + (start ? 1 : 0),
    append: (w) => {
      if (!m.importFuel) w.name(FUEL_EXPORT).u8(0x03).u32(m.fuelGlobal)
      if (start) w.name(START_EXPORT).u8(0x00).u32(m.func(m.startFunc as number))
    },
  })
  // no start section: see meter.ts
  if (m.has(Sec.element)) vector(out, m, Sec.element, { item: (r, w) => elementItem(m, r, w), added: 0 })
  copySection(out, m, Sec.dataCount)
  const fn = new Writer(1024) // one function body at a time
  vector(out, m, Sec.code, {
    count: (n) => {
      if (n !== m.definedFuncs) refuse(ErrorCode.invalidModule, 'function and code section sizes differ')
    },
    item: (r, w, i) => {
      const size = r.u32()
      const at = r.pos
      r.skip(size)
      fn.reset()
      body.rewrite(at, at + size, m.typeParams[m.funcTypes[i] as number] as number, fn)
      w.sized(fn)
    },
    added: HELPERS,
    append: (w) => {
      for (const helper of helperBodies(m)) w.sized(helper)
    },
  })
  // a component core's data offsets may name a global, whose index moved
  if (m.importFuel && m.has(Sec.data)) vector(out, m, Sec.data, { item: (r, w) => dataItem(m, r, w), added: 0 })
  else copySection(out, m, Sec.data)
  return out.take()
}

/** Writes section `id` as `plan` says (see VectorPlan); a section the module lacks starts from no items. */
function vector(out: Writer, m: ModuleLayout, id: Sec, plan: VectorPlan): void {
  const r = m.reader(id)
  const n = r ? r.u32() : 0
  plan.count?.(n)
  const w = new Writer(r ? r.end - r.pos + (r.end - r.pos) / 4 + 256 : 256)
  w.u32(n + plan.added)
  if (r && plan.item) {
    for (let i = 0; i < n; i++) plan.item(r, w, i)
    m.end(r)
  } else if (r) {
    w.range(m.src, r.pos, r.end)
  }
  plan.append?.(w)
  out.u8(id).sized(w)
}

/** Copies section `id` byte for byte, if the module has it. */
function copySection(out: Writer, m: ModuleLayout, id: Sec): void {
  const r = m.reader(id)
  if (r) out.u8(id).u32(r.end - r.pos).range(m.src, r.pos, r.end)
}

function exportItem(m: ModuleLayout, r: Reader, w: Writer): void {
  const name = r.name()
  if (name.startsWith(RESERVED_EXPORT_PREFIX)) {
    refuse(ErrorCode.linkError, `module exports ${name.slice(0, 64)}: names starting with ${RESERVED_EXPORT_PREFIX} are reserved`)
  }
  const kind = r.u8()
  const index = r.u32()
  w.name(name).u8(kind).u32(kind === 0x00 ? m.func(index) : kind === 0x03 ? m.global(index) : index)
}

function elementItem(m: ModuleLayout, r: Reader, w: Writer): void {
  const flags = r.u32()
  w.u32(flags)
  if (flags > 7) refuse(ErrorCode.invalidModule, `unknown element segment flags ${flags}`)
  if (flags === 2 || flags === 6) w.u32(r.u32()) // table index
  if ((flags & 1) === 0) constExpr(m, r, w) // active: offset
  if (flags & 4) {
    if (flags !== 4) w.u8(valType(r)) // reftype
    const count = r.u32()
    w.u32(count)
    for (let k = 0; k < count; k++) constExpr(m, r, w)
  } else {
    if (flags !== 0) {
      const kind = r.u8()
      if (kind !== 0x00) refuse(ErrorCode.invalidModule, `unknown element kind ${kind}`)
      w.u8(kind)
    }
    const count = r.u32()
    w.u32(count)
    for (let k = 0; k < count; k++) w.u32(m.func(r.u32()))
  }
}

/** A data segment, its active offset renumbered (componentCore: globals moved). */
function dataItem(m: ModuleLayout, r: Reader, w: Writer): void {
  const flags = r.u32()
  w.u32(flags)
  if (flags > 2) refuse(ErrorCode.invalidModule, `unknown data segment flags ${flags}`)
  if (flags === 2) w.u32(r.u32()) // memory index
  if (flags !== 1) constExpr(m, r, w) // active: offset
  const size = r.u32()
  const at = r.pos
  r.skip(size)
  w.u32(size).range(m.src, at, r.pos)
}

/** Copies a constant expression up to its `end`, renumbering `ref.func` (and, for a component core, `global.get`). */
function constExpr(m: ModuleLayout, r: Reader, w: Writer): void {
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
        if (m.importFuel) {
          w.u8(op).u32(m.global(r.u32()))
          continue
        }
        r.u32()
        break
      case 0xd0:
        valType(r)
        break
      case 0xd2:
        w.u8(op).u32(m.func(r.u32()))
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
    w.range(m.src, at, r.pos)
  }
}
