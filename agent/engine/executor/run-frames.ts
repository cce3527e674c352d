/**
 * The hot messages between the agent and its executor process — a job's run and its answer —
 * as compact binary frames, many to one buffer: one IPC message per batch carries a single
 * Uint8Array instead of an array of objects (the structured-clone serializer then copies one
 * run of bytes instead of walking every object, writing each key name and internalizing every
 * string again on the other side).
 *
 * Frame (little-endian), `run`:   u8 1, u32 n, f64 timeoutMs, f64 outputBytes, f64 stderrBytes,
 *   u8 flags (1: fuel, 2: memoryMiB, 4: deterministic given, 8: its value), f64 fuel, f64 memoryMiB,
 *   str jobId, str module, bytes input
 * Frame `done`: u8 2, u32 n, u8 status (0 ok, 1 error), f64 fuel, f64 durationMs, then
 *   ok: bytes output; error: str code, str message, str stderr
 * where str / bytes are a u32 byte length and the bytes (strings as UTF-8).
 *
 * Numbers travel as f64, so every value the agent sends arrives as it was (NaN, -1 and 1.5
 * included): the executor's refusals (request-refusal.ts) still see what was sent. A frame the
 * reader cannot parse throws a RangeError: the channel is between two processes of ours, so that
 * is a bug, not input.
 */
import type { RunLimits, RunOutcome, RunRequest } from '../executor.ts'

const RUN = 1
const DONE = 2
const FUEL = 1
const MEMORY = 2
const DET_GIVEN = 4
const DET_TRUE = 8

/** Writes frames into one growing buffer, reused from batch to batch. */
export class FrameWriter {
  private buf = new Uint8Array(4096)
  private dv = new DataView(this.buf.buffer)
  private at = 0

  get length(): number {
    return this.at
  }

  /** The frames written so far, as a view of the writer's buffer (valid until the next write); empties the writer. */
  take(): Uint8Array {
    const out = this.buf.subarray(0, this.at)
    this.at = 0
    return out
  }

  run(n: number, r: RunRequest): void {
    const { limits } = r
    const jobId = utf8Length(r.jobId)
    const mod = utf8Length(r.module)
    this.room(1 + 4 + 24 + 1 + 16 + 12 + jobId + mod + r.input.byteLength)
    this.u8(RUN)
    this.u32(n)
    this.f64(limits.timeoutMs)
    this.f64(limits.outputBytes)
    this.f64(limits.stderrBytes)
    this.u8(flagsOf(limits))
    this.f64(limits.fuel ?? 0)
    this.f64(limits.memoryMiB ?? 0)
    this.str(r.jobId, jobId)
    this.str(r.module, mod)
    this.bytes(r.input)
  }

  done(n: number, o: RunOutcome): void {
    if (o.status === 'ok') {
      this.room(1 + 4 + 1 + 16 + 4 + o.output.byteLength)
      this.head(n, 0, o.fuel, o.durationMs)
      this.bytes(o.output)
      return
    }
    const code = utf8Length(o.code)
    const message = utf8Length(o.message)
    const stderr = utf8Length(o.stderr)
    this.room(1 + 4 + 1 + 16 + 12 + code + message + stderr)
    this.head(n, 1, o.fuel, o.durationMs)
    this.str(o.code, code)
    this.str(o.message, message)
    this.str(o.stderr, stderr)
  }

  private head(n: number, status: number, fuel: number, durationMs: number): void {
    this.u8(DONE)
    this.u32(n)
    this.u8(status)
    this.f64(fuel)
    this.f64(durationMs)
  }

  private room(extra: number): void {
    const need = this.at + extra
    if (need <= this.buf.length) return
    const next = new Uint8Array(Math.max(need, this.buf.length * 2))
    next.set(this.buf.subarray(0, this.at))
    this.buf = next
    this.dv = new DataView(next.buffer)
  }

  private u8(v: number): void {
    this.buf[this.at++] = v
  }

  private u32(v: number): void {
    this.dv.setUint32(this.at, v, true)
    this.at += 4
  }

  private f64(v: number): void {
    this.dv.setFloat64(this.at, v, true)
    this.at += 8
  }

  private str(s: string, length: number): void {
    this.u32(length)
    if (length === s.length && length < 64) {
      // short ASCII (job ids, hashes, codes): a plain loop beats the encoder's call
      for (let i = 0; i < length; i++) this.buf[this.at + i] = s.charCodeAt(i)
    } else encoder.encodeInto(s, this.buf.subarray(this.at, this.at + length))
    this.at += length
  }

  private bytes(b: Uint8Array): void {
    this.u32(b.byteLength)
    this.buf.set(b, this.at)
    this.at += b.byteLength
  }
}

export interface FrameHandlers {
  run(n: number, request: RunRequest): void
  done(n: number, outcome: RunOutcome): void
}

/**
 * Reads every frame of `data` in order. Inputs and outputs are views into `data` (a buffer
 * the IPC channel made for this message alone), not copies.
 */
export function readFrames(data: Uint8Array, on: FrameHandlers): void {
  const r = new Reader(data)
  while (r.at < data.byteLength) {
    const tag = r.u8()
    const n = r.u32()
    if (tag === RUN) {
      const timeoutMs = r.f64()
      const outputBytes = r.f64()
      const stderrBytes = r.f64()
      const flags = r.u8()
      const fuel = r.f64()
      const memoryMiB = r.f64()
      const limits: RunLimits = { timeoutMs, outputBytes, stderrBytes }
      if (flags & FUEL) limits.fuel = fuel
      if (flags & MEMORY) limits.memoryMiB = memoryMiB
      if (flags & DET_GIVEN) limits.deterministic = (flags & DET_TRUE) !== 0
      const jobId = r.str()
      const module = r.str()
      on.run(n, { jobId, module, input: r.bytes(), limits })
    } else if (tag === DONE) {
      const status = r.u8()
      const fuel = r.f64()
      const durationMs = r.f64()
      if (status === 0) on.done(n, { status: 'ok', output: r.bytes(), fuel, durationMs })
      else {
        const code = r.str() as Extract<RunOutcome, { status: 'error' }>['code']
        const message = r.str()
        on.done(n, { status: 'error', code, message, stderr: r.str(), fuel, durationMs })
      }
    } else throw new RangeError(`executor frame: unknown tag ${tag}`)
  }
}

class Reader {
  at = 0
  private readonly dv: DataView

  constructor(private readonly data: Uint8Array) {
    this.dv = new DataView(data.buffer, data.byteOffset, data.byteLength)
  }

  u8(): number {
    return this.dv.getUint8(this.at++)
  }

  u32(): number {
    const v = this.dv.getUint32(this.at, true)
    this.at += 4
    return v
  }

  f64(): number {
    const v = this.dv.getFloat64(this.at, true)
    this.at += 8
    return v
  }

  bytes(): Uint8Array {
    const length = this.u32()
    if (this.at + length > this.data.byteLength) throw new RangeError('executor frame: truncated')
    const out = this.data.subarray(this.at, this.at + length)
    this.at += length
    return out
  }

  str(): string {
    const b = this.bytes()
    if (b.byteLength < 64) {
      let ascii = true
      for (let i = 0; i < b.byteLength; i++) if (b[i]! > 0x7f) ascii = false
      if (ascii) return String.fromCharCode.apply(null, b as unknown as number[])
    }
    return decoder.decode(b)
  }
}

const encoder = new TextEncoder()
const decoder = new TextDecoder()

/** UTF-8 byte length of `s` without encoding it. */
function utf8Length(s: string): number {
  let n = s.length
  for (let i = 0; i < s.length; i++) {
    const c = s.charCodeAt(i)
    if (c < 0x80) continue
    if (c < 0x800) n += 1
    else if (c >= 0xd800 && c < 0xdc00 && i + 1 < s.length && (s.charCodeAt(i + 1) & 0xfc00) === 0xdc00) {
      n += 2 // a surrogate pair: 4 bytes for 2 UTF-16 units
      i++
    } else n += 2 // 3 bytes (a lone surrogate becomes U+FFFD, also 3)
  }
  return n
}

function flagsOf(l: RunLimits): number {
  let f = 0
  if (l.fuel !== undefined) f |= FUEL
  if (l.memoryMiB !== undefined) f |= MEMORY
  if (l.deterministic !== undefined) f |= DET_GIVEN | (l.deterministic ? DET_TRUE : 0)
  return f
}
