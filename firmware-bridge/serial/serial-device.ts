/**
 * One serial device: a link, its framing, its protocol, and requests to it.
 *
 * Readings and hellos come out as events; bad frames are counted per reason
 * (`stats.drops`) and reported as `drop` events, never thrown. Requests wait
 * for their reply under a timeout, at most `maxPendingRequests` at a time:
 *
 * - protocols with request ids (json-lines): `request(cmd, args)` matches the
 *   reply by id; a reply after its timeout is dropped as `unsolicited`;
 * - any other protocol: `requestText(text, expect)` sends a line and takes the
 *   next frame that matches `expect` as the reply (first in, first out).
 */
import { EventEmitter } from 'node:events'
import { ErrorCode, FogmeshError } from '../../protocol/errors.ts'
import { createFramer, encodeFrame, type DropReason, type Framer, type FramingSpec } from './framing.ts'
import type { SerialLink } from './link.ts'
import { isText, type Protocol, type Reading } from './protocol.ts'

export interface SerialDeviceOptions {
  name: string
  framing: FramingSpec
  protocol: Protocol
  maxFrameBytes: number
  requestTimeoutMs: number
  maxPendingRequests: number
}

export interface Hello {
  firmware: string
  sensors: string[]
  actuators: string[]
}

export interface SerialDeviceEvents {
  readings: [Reading[]]
  hello: [Hello]
  drop: [{ reason: DropReason; bytes: number }]
  open: []
  close: [{ error?: Error }]
  retry: [{ attempt: number; delayMs: number; error: Error }]
}

export interface SerialDeviceStats {
  bytesIn: number
  frames: number
  readings: number
  drops: Record<DropReason, number>
  opens: number
  closes: number
  requests: { ok: number; failed: number; timedOut: number; refused: number }
}

interface Pending {
  resolve(v: unknown): void
  reject(e: Error): void
  timer: NodeJS.Timeout
}

const MAX_REQUEST_ID = 2 ** 31

export class SerialDevice extends EventEmitter<SerialDeviceEvents> {
  readonly stats: SerialDeviceStats = {
    bytesIn: 0,
    frames: 0,
    readings: 0,
    drops: { overlong: 0, noise: 0, checksum: 0, cobs: 0, invalid: 0, unsolicited: 0 },
    opens: 0,
    closes: 0,
    requests: { ok: 0, failed: 0, timedOut: 0, refused: 0 },
  }
  private readonly framer: Framer
  private readonly byId = new Map<number, Pending>()
  private readonly fifo: Array<Pending & { expect: RegExp }> = []
  private nextId = 1

  constructor(readonly link: SerialLink, readonly options: SerialDeviceOptions) {
    super()
    this.framer = createFramer(options.framing, options.maxFrameBytes, {
      frame: (f) => this.onFrame(f),
      drop: (reason, bytes) => this.onDrop(reason, bytes),
    })
    link.on('data', (d) => {
      this.stats.bytesIn += d.length
      this.framer.push(d)
    })
    link.on('open', () => {
      this.stats.opens++
      this.framer.reset()
      this.emit('open')
    })
    link.on('close', (e) => {
      this.stats.closes++
      this.framer.reset()
      this.failAll(new FogmeshError(ErrorCode.closed, `serial device ${options.name} disconnected`))
      this.emit('close', e)
    })
    link.on('retry', (r) => this.emit('retry', r))
  }

  get name(): string {
    return this.options.name
  }

  get isOpen(): boolean {
    return this.link.isOpen
  }

  start(): void {
    this.link.start()
  }

  /** Sends one payload, framed (a newline, a delimiter, COBS). */
  send(payload: Buffer | string): Promise<void> {
    return this.link.write(encodeFrame(this.options.framing, Buffer.from(payload)))
  }

  /** A request with an id (json-lines): resolves with the reply's `ok` value, rejects with its `err`. */
  request(cmd: string, args: Record<string, unknown> = {}, timeoutMs = this.options.requestTimeoutMs): Promise<unknown> {
    const encode = this.options.protocol.encodeRequest
    if (!encode) return Promise.reject(new FogmeshError(ErrorCode.usage, `protocol ${this.options.protocol.name} has no request ids; use requestText`))
    const full = this.refuseIfFull()
    if (full) return full
    const id = this.nextId
    this.nextId = this.nextId >= MAX_REQUEST_ID ? 1 : this.nextId + 1
    return new Promise((resolve, reject) => {
      const timer = setTimeout(() => {
        this.byId.delete(id)
        this.stats.requests.timedOut++
        reject(new FogmeshError(ErrorCode.deadline, `${this.name}: no reply to "${cmd}" within ${timeoutMs} ms`))
      }, timeoutMs)
      this.byId.set(id, { resolve, reject, timer })
      this.send(encode(id, cmd, args)).catch((err: Error) => this.settle(this.byId, id, err))
    })
  }

  /** A request by text: sends `text` and resolves with the next frame (as text) that matches `expect`. */
  requestText(text: string, expect: RegExp, timeoutMs = this.options.requestTimeoutMs): Promise<string> {
    const full = this.refuseIfFull()
    if (full) return full as Promise<string>
    return new Promise((resolve, reject) => {
      const entry = {
        expect,
        resolve: resolve as (v: unknown) => void,
        reject,
        timer: setTimeout(() => {
          const i = this.fifo.indexOf(entry)
          if (i >= 0) this.fifo.splice(i, 1)
          this.stats.requests.timedOut++
          reject(new FogmeshError(ErrorCode.deadline, `${this.name}: no reply matching ${expect} within ${timeoutMs} ms`))
        }, timeoutMs),
      }
      this.fifo.push(entry)
      this.send(text).catch((err: Error) => {
        const i = this.fifo.indexOf(entry)
        if (i >= 0) this.fifo.splice(i, 1)
        clearTimeout(entry.timer)
        this.stats.requests.failed++
        reject(err)
      })
    })
  }

  async close(): Promise<void> {
    this.failAll(new FogmeshError(ErrorCode.closed, `serial device ${this.name} closed`))
    await this.link.close()
  }

  private refuseIfFull(): Promise<never> | undefined {
    if (this.byId.size + this.fifo.length < this.options.maxPendingRequests) return undefined
    this.stats.requests.refused++
    return Promise.reject(new FogmeshError(ErrorCode.overloaded, `${this.name}: ${this.options.maxPendingRequests} requests already waiting (limit maxPendingRequests)`))
  }

  private onFrame(frame: Buffer): void {
    this.stats.frames++
    const head = this.fifo[0]
    if (head && isText(frame)) {
      const text = frame.toString('utf8')
      if (head.expect.test(text)) {
        this.fifo.shift()
        clearTimeout(head.timer)
        this.stats.requests.ok++
        head.resolve(text)
        return
      }
    }
    const msg = this.options.protocol.decode(frame)
    if (typeof msg === 'string') return this.onDrop(msg, frame.length)
    switch (msg.kind) {
      case 'readings':
        this.stats.readings += msg.readings.length
        this.emit('readings', msg.readings)
        return
      case 'hello':
        this.emit('hello', { firmware: msg.firmware, sensors: msg.sensors, actuators: msg.actuators })
        return
      case 'reply': {
        if (!this.byId.has(msg.id)) return this.onDrop('unsolicited', frame.length)
        this.settle(this.byId, msg.id, msg.ok ? undefined : new FogmeshError(ErrorCode.rejected, `${this.name}: ${msg.error}`), msg.ok ? msg.value : undefined)
        return
      }
    }
  }

  private settle(map: Map<number, Pending>, id: number, err: Error | undefined, value?: unknown): void {
    const p = map.get(id)
    if (!p) return
    map.delete(id)
    clearTimeout(p.timer)
    if (err) {
      this.stats.requests.failed++
      p.reject(err)
    } else {
      this.stats.requests.ok++
      p.resolve(value)
    }
  }

  private onDrop(reason: DropReason, bytes: number): void {
    this.stats.drops[reason]++
    this.emit('drop', { reason, bytes })
  }

  private failAll(err: Error): void {
    for (const id of [...this.byId.keys()]) this.settle(this.byId, id, err)
    for (const p of this.fifo.splice(0)) {
      clearTimeout(p.timer)
      this.stats.requests.failed++
      p.reject(err)
    }
  }
}
