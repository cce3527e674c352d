/**
 * Reading and writing the WebAssembly binary format: bytes, LEB128 integers,
 * names. The reader throws `Malformed` (a JobError, `invalid_module`) on
 * anything out of bounds or over-long.
 */
import { ErrorCode, JobError } from '../../../protocol/errors.ts'

/** The bytes are not a well-formed module: `invalid_module`, "malformed module: <what>". */
export class Malformed extends JobError {
  override name = 'Malformed'
  constructor(what: string) {
    super(ErrorCode.invalidModule, `malformed module: ${what}`)
  }
}

const UTF8 = new TextDecoder('utf-8', { fatal: true })

export class Reader {
  pos: number

  constructor(
    readonly bytes: Uint8Array,
    start = 0,
    /** One past the last byte this reader may read. */
    readonly end = bytes.length,
  ) {
    this.pos = start
  }

  get done(): boolean {
    return this.pos >= this.end
  }

  u8(): number {
    if (this.pos >= this.end) throw new Malformed('unexpected end of module')
    return this.bytes[this.pos++] as number
  }

  /** The next byte, not consumed. */
  peek(): number {
    if (this.pos >= this.end) throw new Malformed('unexpected end of module')
    return this.bytes[this.pos] as number
  }

  skip(n: number): void {
    if (n < 0 || this.pos + n > this.end) throw new Malformed('unexpected end of module')
    this.pos += n
  }

  /** Unsigned LEB128, at most 32 bits (5 bytes). */
  u32(): number {
    let result = 0
    let shift = 0
    for (let i = 0; i < 5; i++) {
      const b = this.u8()
      if (i === 4 && b > 0x0f) throw new Malformed('u32 out of range')
      result += (b & 0x7f) * 2 ** shift
      if ((b & 0x80) === 0) return result
      shift += 7
    }
    throw new Malformed('u32 too long')
  }

  /** Skips a signed LEB128 of at most `bits` bits; returns its byte length. */
  skipSigned(bits: 32 | 33 | 64): number {
    const max = Math.ceil(bits / 7)
    for (let i = 0; i < max; i++) {
      if ((this.u8() & 0x80) === 0) return i + 1
    }
    throw new Malformed('signed integer too long')
  }

  /** Signed LEB128 of at most 33 bits (block types), as a number. */
  s33(): number {
    let result = 0
    let shift = 0
    for (let i = 0; i < 5; i++) {
      const b = this.u8()
      result += (b & 0x7f) * 2 ** shift
      shift += 7
      if ((b & 0x80) === 0) {
        if (b & 0x40) result -= 2 ** shift
        return result
      }
    }
    throw new Malformed('s33 too long')
  }

  /** A length-prefixed byte string (names). */
  name(): string {
    const n = this.u32()
    const start = this.pos
    this.skip(n)
    try {
      return UTF8.decode(this.bytes.subarray(start, start + n))
    } catch {
      throw new Malformed('name is not UTF-8')
    }
  }
}

export class Writer {
  private buf: Uint8Array
  length = 0

  constructor(capacity = 256) {
    this.buf = new Uint8Array(capacity)
  }

  private room(n: number): void {
    if (this.length + n <= this.buf.length) return
    let size = this.buf.length * 2
    while (size < this.length + n) size *= 2
    const next = new Uint8Array(size)
    next.set(this.buf.subarray(0, this.length))
    this.buf = next
  }

  u8(b: number): this {
    this.room(1)
    this.buf[this.length++] = b
    return this
  }

  bytes(b: Uint8Array): this {
    this.room(b.length)
    this.buf.set(b, this.length)
    this.length += b.length
    return this
  }

  /** Copies `src[start, end)`. */
  range(src: Uint8Array, start: number, end: number): this {
    if (end > start) this.bytes(src.subarray(start, end))
    return this
  }

  u32(v: number): this {
    if (!(Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff)) throw new Malformed(`u32 out of range: ${v}`)
    do {
      let b = v % 128
      v = Math.floor(v / 128)
      if (v !== 0) b |= 0x80
      this.u8(b)
    } while (v !== 0)
    return this
  }

  /** Signed LEB128 of a 64-bit integer. */
  s64(v: bigint): this {
    for (;;) {
      const b = Number(v & 0x7fn)
      v >>= 7n
      if ((v === 0n && (b & 0x40) === 0) || (v === -1n && (b & 0x40) !== 0)) {
        this.u8(b)
        return this
      }
      this.u8(b | 0x80)
    }
  }

  /** Signed LEB128 of a non-negative safe integer (no BigInt on the hot path). */
  sPositive(v: number): this {
    while (v >= 64) {
      this.u8((v % 128) | 0x80)
      v = Math.floor(v / 128)
    }
    return this.u8(v)
  }

  name(s: string): this {
    const b = new TextEncoder().encode(s)
    return this.u32(b.length).bytes(b)
  }

  /** Appends another writer's bytes prefixed by their length (a section or a function body). */
  sized(w: Writer): this {
    return this.u32(w.length).bytes(w.view())
  }

  /** The bytes written so far (a view, valid until the next write). */
  view(): Uint8Array {
    return this.buf.subarray(0, this.length)
  }

  /** The bytes written so far, in a buffer of their own. */
  take(): Uint8Array {
    return this.buf.slice(0, this.length)
  }

  reset(): void {
    this.length = 0
  }
}
