/**
 * Framing: the byte stream from a serial port cut into frames. Four kinds:
 *
 * - `line`       frames end at `\n`; a `\r` before it is dropped (CRLF devices);
 * - `delimiter`  frames end at any byte sequence (e.g. `0x03`, `"\r"`, `"END"`);
 * - `fixed`      every frame is exactly `length` bytes;
 * - `cobs`       frames are COBS-encoded and end at `0x00` (binary data, self-resynchronising).
 *
 * Every buffer is bounded: a frame that grows past `maxFrameBytes` without its
 * delimiter is dropped whole (the rest of it, up to the next delimiter, too)
 * and reported through `sink.drop`, never accumulated. Nothing here throws on
 * bad input.
 */
import { cobsDecode, cobsEncode } from './cobs.ts'

export type DropReason =
  /** A frame longer than `maxFrameBytes`. */
  | 'overlong'
  /** Bytes that are not text where text is expected (binary noise on a line protocol). */
  | 'noise'
  /** An NMEA sentence whose checksum does not match. */
  | 'checksum'
  /** A COBS frame that does not decode. */
  | 'cobs'
  /** A frame that the protocol cannot parse (not JSON, wrong length, unknown shape). */
  | 'invalid'
  /** A reply to a request nobody is waiting for (timed out already, or never sent). */
  | 'unsolicited'

export interface FrameSink {
  frame(frame: Buffer): void
  drop(reason: DropReason, bytes: number): void
}

export interface Framer {
  /** Feeds bytes as they arrive; calls the sink for each complete frame. */
  push(chunk: Buffer): void
  /** Forgets any partial frame (after a reconnect the stream restarts mid-frame). Returns the bytes discarded. */
  reset(): number
}

export type FramingSpec =
  | { type: 'line' }
  | { type: 'delimiter'; delimiter: Buffer }
  | { type: 'fixed'; length: number }
  | { type: 'cobs' }

export function createFramer(spec: FramingSpec, maxFrameBytes: number, sink: FrameSink): Framer {
  switch (spec.type) {
    case 'line':
      return new DelimiterFramer(Buffer.from('\n'), maxFrameBytes, sink, true)
    case 'delimiter':
      return new DelimiterFramer(spec.delimiter, maxFrameBytes, sink, false)
    case 'fixed':
      return new FixedLengthFramer(spec.length, sink)
    case 'cobs':
      return new DelimiterFramer(Buffer.from([0]), maxFrameBytes, cobsSink(sink), false)
  }
}

/** Decodes each zero-delimited frame; undecodable ones are dropped as `cobs`. Empty frames (back-to-back zeros) are skipped. */
function cobsSink(sink: FrameSink): FrameSink {
  return {
    frame(encoded) {
      if (encoded.length === 0) return
      let decoded: Buffer
      try {
        decoded = cobsDecode(encoded)
      } catch {
        sink.drop('cobs', encoded.length + 1)
        return
      }
      sink.frame(decoded)
    },
    drop: (reason, bytes) => sink.drop(reason, bytes),
  }
}

export class DelimiterFramer implements Framer {
  private parts: Buffer[] = []
  private pending = 0
  /** Bytes of an overlong frame being skipped until its delimiter. */
  private skipping = 0

  constructor(
    private readonly delimiter: Buffer,
    private readonly maxFrameBytes: number,
    private readonly sink: FrameSink,
    private readonly stripCR: boolean,
  ) {
    if (delimiter.length === 0) throw new RangeError('delimiter must not be empty')
  }

  push(chunk: Buffer): void {
    // join with the tail of the previous chunk so that a delimiter split across chunks is found
    let buf = chunk
    if (this.pending > 0) {
      this.parts.push(chunk)
      buf = Buffer.concat(this.parts, this.pending + chunk.length)
      this.parts = []
      this.pending = 0
    }
    let start = 0
    for (;;) {
      const at = buf.indexOf(this.delimiter, start)
      if (at < 0) break
      this.emit(buf.subarray(start, at), this.delimiter.length)
      start = at + this.delimiter.length
    }
    const rest = buf.length - start
    if (rest === 0) return
    if (this.skipping > 0 || rest > this.maxFrameBytes) {
      // keep only what could still be the start of a delimiter
      const keep = Math.min(rest, this.delimiter.length - 1)
      this.skipping += rest - keep
      if (keep > 0) {
        this.parts = [Buffer.from(buf.subarray(buf.length - keep))]
        this.pending = keep
      }
      return
    }
    // copy: the caller's chunk may be reused
    this.parts = [Buffer.from(buf.subarray(start))]
    this.pending = rest
  }

  private emit(frame: Buffer, delimiterBytes: number): void {
    if (this.skipping > 0) {
      this.sink.drop('overlong', this.skipping + frame.length + delimiterBytes)
      this.skipping = 0
      return
    }
    if (frame.length > this.maxFrameBytes) {
      this.sink.drop('overlong', frame.length + delimiterBytes)
      return
    }
    if (this.stripCR && frame.length > 0 && frame[frame.length - 1] === 0x0d) frame = frame.subarray(0, frame.length - 1)
    this.sink.frame(frame)
  }

  reset(): number {
    const lost = this.pending + this.skipping
    this.parts = []
    this.pending = 0
    this.skipping = 0
    return lost
  }
}

export class FixedLengthFramer implements Framer {
  private buf: Buffer
  private have = 0

  constructor(private readonly length: number, private readonly sink: FrameSink) {
    if (!Number.isInteger(length) || length < 1) throw new RangeError('length must be a positive integer')
    this.buf = Buffer.alloc(length)
  }

  push(chunk: Buffer): void {
    let i = 0
    while (i < chunk.length) {
      const n = Math.min(this.length - this.have, chunk.length - i)
      chunk.copy(this.buf, this.have, i, i + n)
      this.have += n
      i += n
      if (this.have === this.length) {
        this.sink.frame(Buffer.from(this.buf))
        this.have = 0
      }
    }
  }

  reset(): number {
    const lost = this.have
    this.have = 0
    return lost
  }
}

/** Wraps one outgoing payload in the framing's delimiter (or COBS-encodes it). A `fixed` frame must be exactly `length` bytes. */
export function encodeFrame(spec: FramingSpec, payload: Buffer): Buffer {
  switch (spec.type) {
    case 'line':
      return Buffer.concat([payload, Buffer.from('\n')])
    case 'delimiter':
      return Buffer.concat([payload, spec.delimiter])
    case 'fixed':
      if (payload.length !== spec.length) throw new RangeError(`a fixed-length frame is ${spec.length} bytes (got ${payload.length})`)
      return payload
    case 'cobs':
      return Buffer.concat([cobsEncode(payload), Buffer.from([0])])
  }
}
