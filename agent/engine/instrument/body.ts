/**
 * The second pass of the meter, one function body at a time: the body copied with a
 * charge at the start of every segment of straight-line code (meter.ts says where
 * segments start and what a charge looks like), its calls and bulk operations wrapped,
 * and its function and global indices moved to the prepared module's index spaces.
 *
 * The fuel count lives in an extra i64 local of the function, synchronised with the
 * global: written before every call, return, throw and `unreachable` (`store`), read back
 * after every call and at every `catch` (`load`), and written through at loop heads.
 */
import { Malformed, Reader, Writer } from './bytes.ts'
import { FREE_OPCODES } from './costs.ts'
import type { ModuleLayout } from './layout.ts'
import { skipPlain } from './opcodes.ts'
import { hex, isValType, lebLength, unsupported, valType } from './refuse.ts'

const F_FUNC = 0
const F_BLOCK = 1
const F_LOOP = 2
const F_IF = 3
const F_TRY = 4

interface Frame {
  /** F_FUNC, F_BLOCK, F_LOOP, F_IF or F_TRY */
  kind: number
  /** Code was unreachable where this frame opened. */
  deadAtOpen: boolean
  /** Some branch targets this frame's label (for a block: its end is a join point). */
  targeted: boolean
}

export class BodyRewriter {
  /** Fuel checks inserted so far: one per segment with a non-zero cost. */
  charges = 0
  private readonly src: Uint8Array
  private readonly splitAtBrIf: boolean
  /** The current segment: its cost is known only at its end. */
  private readonly seg = new Writer(1024)
  // per function
  private r = new Reader(new Uint8Array(0))
  private out = new Writer(0)
  private fuel = 0
  private store: Uint8Array = new Uint8Array(0)
  private load: Uint8Array = new Uint8Array(0)
  private exit: Uint8Array = new Uint8Array(0)
  private frames: Frame[] = []
  private dead = false
  private cost = 0
  /** The current segment starts a loop body. */
  private loopHead = false
  /** The current segment is the function's first. */
  private entry = true
  /** src bytes before this are in `seg` (or `out`). */
  private copied = 0

  constructor(private readonly m: ModuleLayout) {
    this.src = m.src
    this.splitAtBrIf = m.options.splitAtBrIf === true
  }

  /** Copies the function body at src[start, end), with `params` parameters, into `out`, metered. */
  rewrite(start: number, end: number, params: number, out: Writer): void {
    const { src, m } = this
    const r = new Reader(src, start, end)
    // locals: the module's own, then ours
    const groups = r.u32()
    let locals = params
    for (let i = 0; i < groups; i++) {
      locals += r.u32()
      valType(r)
    }
    if (locals >= 0xffff_ffff) throw new Malformed('too many locals')
    const fuel = locals
    out.u32(groups + 1).range(src, start + lebLength(src, start), r.pos).u8(1).u8(0x7e)

    const g = m.fuelGlobal
    this.store = new Writer(8).u8(0x20).u32(fuel).u8(0x24).u32(g).take() // global = local
    this.load = new Writer(8).u8(0x23).u32(g).u8(0x21).u32(fuel).take() // local = global
    // with the new count on the stack: `if (count < 0) { fm_out(count); unreachable }`
    this.exit = new Writer(16).u8(0x42).u8(0x00).u8(0x53).u8(0x04).u8(0x40).u8(0x20).u32(fuel).u8(0x10).u32(m.helperOut).u8(0x00).u8(0x0b).take()
    out.bytes(this.load)

    this.r = r
    this.out = out
    this.fuel = fuel
    this.frames = [{ kind: F_FUNC, deadAtOpen: false, targeted: false }]
    this.dead = false
    this.cost = 0
    this.loopHead = false
    this.entry = true
    this.copied = r.pos
    this.seg.reset()
    while (this.frames.length > 0) {
      const at = r.pos
      const op = r.u8()
      if (!this.dead && !FREE_OPCODES.has(op)) this.cost++
      this.instruction(op, at)
    }
    if (r.pos !== end) throw new Malformed('function body size mismatch')
  }

  /** Ends the current segment at `upTo`: its charge, then its code. */
  private flush(upTo: number): void {
    const { out, seg, fuel } = this
    seg.range(this.src, this.copied, upTo)
    this.copied = upTo
    if (this.cost > 0) {
      // fuel -= cost; at a loop head, write it through; at a loop head or the entry, if (fuel < 0) exit
      const checked = this.loopHead || this.entry
      out.u8(0x20).u32(fuel).u8(0x42).sPositive(this.cost).u8(0x7d).u8(checked ? 0x22 : 0x21).u32(fuel)
      if (this.loopHead) out.u8(0x24).u32(this.m.fuelGlobal).u8(0x20).u32(fuel)
      if (checked) out.bytes(this.exit)
      this.charges++
    } else if (this.loopHead) {
      out.bytes(this.store)
    }
    out.bytes(seg.view())
    seg.reset()
    this.cost = 0
    this.loopHead = false
    this.entry = false
  }

  /** Inserts `bytes` before the instruction at `at` (not yet copied). */
  private before(at: number, bytes: Uint8Array): void {
    this.seg.range(this.src, this.copied, at)
    this.seg.bytes(bytes)
    this.copied = at
  }

  /** Inserts `bytes` after the instruction just read. */
  private after(bytes: Uint8Array): void {
    this.seg.range(this.src, this.copied, this.r.pos)
    this.seg.bytes(bytes)
    this.copied = this.r.pos
  }

  /** Replaces the instruction at `at` (just read) with `op` and a renumbered index. */
  private reindexed(at: number, op: number, index: number): void {
    this.seg.range(this.src, this.copied, at)
    this.seg.u8(op).u32(index)
    this.copied = this.r.pos
  }

  /** Writes a call to helper `f` in place of (or before) the instruction at `at`, the global in sync around it. */
  private callHelper(at: number, f: number, replace: boolean): void {
    this.seg.range(this.src, this.copied, at)
    this.seg.bytes(this.store).u8(0x10).u32(f).bytes(this.load)
    this.copied = replace ? this.r.pos : at
  }

  /** Marks a branch target; true if the branch leaves the function (a return). */
  private target(depth: number): boolean {
    const f = this.frames[this.frames.length - 1 - depth]
    if (f === undefined) throw new Malformed('branch depth out of range')
    f.targeted = true
    return depth === this.frames.length - 1
  }

  /** Opens a block, loop, if or try after reading its block type. */
  private open(kind: number): void {
    const r = this.r
    const b = r.peek()
    if (b === 0x40 || isValType(b)) r.pos++
    else if (r.s33() < 0) unsupported(`block type ${hex(b)}`)
    this.frames.push({ kind, deadAtOpen: this.dead, targeted: false })
  }

  /** The segment ends with an unconditional transfer: what follows, to the end of the block, is unreachable. */
  private leave(upTo: number): void {
    this.flush(upTo)
    this.dead = true
  }

  private instruction(op: number, at: number): void {
    const r = this.r
    switch (op) {
      case 0x00: // unreachable
      case 0x0f: // return
        this.before(at, this.store)
        this.leave(r.pos)
        return
      case 0x02: // block
        this.open(F_BLOCK)
        return
      case 0x03: // loop
        this.open(F_LOOP)
        this.flush(r.pos)
        this.loopHead = true
        return
      case 0x04: // if
        this.open(F_IF)
        this.flush(r.pos)
        return
      case 0x05: // else
      case 0x07: // catch
      case 0x19: {
        // catch_all
        if (op === 0x07) r.u32()
        const f = this.frames[this.frames.length - 1] as Frame
        if (f.kind !== (op === 0x05 ? F_IF : F_TRY)) throw new Malformed(`misplaced ${hex(op)}`)
        if (op !== 0x05) this.after(this.load) // what the callee that threw had burned
        this.flush(r.pos)
        this.dead = f.deadAtOpen
        return
      }
      case 0x06: // try
        this.open(F_TRY)
        return
      case 0x08: // throw
      case 0x09: // rethrow
        r.u32()
        this.before(at, this.store)
        this.leave(r.pos)
        return
      case 0x0b: {
        // end
        if (this.frames.length === 1) this.before(at, this.store) // the function returns
        const f = this.frames.pop() as Frame
        if (this.frames.length === 0 || f.kind !== F_BLOCK || f.targeted) this.flush(r.pos)
        this.dead = f.deadAtOpen
        return
      }
      case 0x0c: // br
        if (this.target(r.u32())) this.before(at, this.store)
        this.leave(r.pos)
        return
      case 0x0d: // br_if
        if (this.target(r.u32())) this.before(at, this.store)
        if (this.splitAtBrIf) this.flush(r.pos)
        return
      case 0x0e: {
        // br_table
        const n = r.u32()
        let returns = false
        for (let i = 0; i <= n; i++) if (this.target(r.u32())) returns = true
        if (returns) this.before(at, this.store)
        this.leave(r.pos)
        return
      }
      case 0x10: // call
      case 0x12: {
        // return_call
        const f = r.u32()
        this.seg.range(this.src, this.copied, at)
        this.seg.bytes(this.store).u8(op).u32(this.m.func(f))
        this.copied = r.pos
        if (op === 0x10) this.seg.bytes(this.load)
        else this.leave(r.pos)
        return
      }
      case 0x11: // call_indirect
      case 0x13: // return_call_indirect
        r.u32()
        r.u32()
        this.before(at, this.store)
        if (op === 0x11) this.after(this.load)
        else this.leave(r.pos)
        return
      case 0x18: {
        // delegate: ends a try
        r.u32()
        const f = this.frames.pop() as Frame
        if (f.kind !== F_TRY) throw new Malformed('misplaced delegate')
        this.flush(r.pos)
        this.dead = f.deadAtOpen
        return
      }
      case 0x23: // global.get
      case 0x24: {
        // global.set
        const g = r.u32()
        if (this.m.importFuel) this.reindexed(at, op, this.m.global(g))
        return
      }
      case 0x40: // memory.grow
        if (r.u32() !== 0) throw new Malformed('memory index out of range')
        this.callHelper(at, this.m.helperGrow, true)
        return
      case 0xd2: // ref.func
        this.reindexed(at, op, this.m.func(r.u32()))
        return
      case 0xfc:
        this.prefixFC(at)
        return
      default:
        skipPlain(r, op)
    }
  }

  /** Saturating truncation, bulk memory and table operations: the bulk ones pay for their length first. */
  private prefixFC(at: number): void {
    const r = this.r
    const sub = r.u32()
    switch (sub) {
      case 0: case 1: case 2: case 3: case 4: case 5: case 6: case 7: // trunc_sat
        return
      case 8: // memory.init data mem
        r.u32()
        r.u32()
        this.callHelper(at, this.m.helperBytes, false)
        return
      case 9: // data.drop
      case 13: // elem.drop
      case 16: // table.size
        r.u32()
        return
      case 10: // memory.copy mem mem
        r.u32()
        r.u32()
        this.callHelper(at, this.m.helperBytes, false)
        return
      case 11: // memory.fill mem
        r.u32()
        this.callHelper(at, this.m.helperBytes, false)
        return
      case 12: // table.init elem table
      case 14: // table.copy table table
        r.u32()
        r.u32()
        this.callHelper(at, this.m.helperElems, false)
        return
      case 15: // table.grow
      case 17: // table.fill
        r.u32()
        this.callHelper(at, this.m.helperElems, false)
        return
      default:
        unsupported(`instruction 0xfc ${sub}`)
    }
  }
}
