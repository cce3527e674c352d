/**
 * An append-only byte buffer with a hard limit, for a job's stdout and stderr.
 *
 * Storage is allocated on the first write, sized to what that write needs, and
 * grows by doubling up to the limit. A job that writes its output in one call
 * (the common case for small jobs) therefore ends with a buffer of exactly the
 * output's size, which `take()` hands over without another copy.
 */
export class ByteSink {
  private bytes: Uint8Array | null = null
  private used = 0
  private max = 0

  /** Empties the sink for a new run; `limit` is the most it will hold. */
  reset(limit: number): void {
    this.bytes = null
    this.used = 0
    this.max = limit
  }

  get length(): number {
    return this.used
  }

  /** Bytes that still fit under the limit. */
  get room(): number {
    return this.max - this.used
  }

  /** Makes room for `extra` more bytes at once. The caller keeps within `room`. */
  reserve(extra: number): void {
    const need = this.used + extra
    const bytes = this.bytes
    if (bytes !== null && need <= bytes.length) return
    const grown = bytes === null ? need : Math.max(need, Math.min(this.max, bytes.length * 2))
    const next = new Uint8Array(grown)
    if (bytes !== null) next.set(bytes.subarray(0, this.used))
    this.bytes = next
  }

  /** Appends `src`; `reserve(src.length)` must have been called. */
  append(src: Uint8Array): void {
    ;(this.bytes as Uint8Array).set(src, this.used)
    this.used += src.length
  }

  /**
   * The bytes written, as a Uint8Array that owns its whole ArrayBuffer (so it
   * can be transferred to another thread). Empties the sink.
   */
  take(): Uint8Array {
    const bytes = this.bytes
    const used = this.used
    this.bytes = null
    this.used = 0
    if (bytes === null) return new Uint8Array(0)
    return used === bytes.length ? bytes : bytes.slice(0, used)
  }
}
