/**
 * Bounds-checked access to a job's linear memory from host functions.
 *
 * Host functions get guest pointers as i32 values, which JavaScript sees as
 * signed numbers: every pointer and length goes through `>>> 0` before use.
 * Callers check `fits(ptr, len)` before touching memory, so a bad pointer
 * becomes EFAULT for the guest instead of a RangeError in the host.
 */
export class GuestMemory {
  /** Views over the current buffer. Empty until `refresh()` finds a memory. */
  u8: Uint8Array = new Uint8Array(0)
  dv: DataView = new DataView(this.u8.buffer)
  private buffer: ArrayBufferLike | undefined

  constructor(private readonly getMemory: () => WebAssembly.Memory | undefined) {}

  /**
   * Picks up the memory's current buffer; `memory.grow` replaces (detaches) the
   * old one, so this runs at the start of every host call that touches memory.
   * Returns false when no memory is bound yet (e.g. a start function calling WASI).
   */
  refresh(): boolean {
    const memory = this.getMemory()
    if (memory === undefined) return false
    const buffer = memory.buffer
    if (buffer !== this.buffer) {
      this.buffer = buffer
      this.u8 = new Uint8Array(buffer)
      this.dv = new DataView(buffer)
    }
    return true
  }

  /** Whether `[ptr, ptr + len)` lies inside memory. Both are already unsigned. */
  fits(ptr: number, len: number): boolean {
    return ptr + len <= this.u8.length
  }

  /** Drops the views so a finished instance's memory can be collected. */
  release(): void {
    this.buffer = undefined
    this.u8 = new Uint8Array(0)
    this.dv = new DataView(this.u8.buffer)
  }
}
