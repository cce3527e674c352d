/**
 * A byte stream over a MessagePort: one end of a MessageChannel as a Duplex,
 * for an MQTT client in a worker thread and the broker in the thread that
 * started it (the gateway inside `fogmesh broker`, market/gateway-link.ts) —
 * MQTT as on a socket, without the kernel's loopback TCP in between.
 *
 * Bounded like a socket: a writer has at most `windowBytes` on the way that
 * the other end has not read; past that its write callbacks wait (its
 * Writable buffers, `write()` returns false, an aedes client waits for
 * `drain`), so a reader that stops reading holds the writer back instead of
 * a queue growing in the port. The other end closing (its thread ended,
 * terminated, or out of heap) ends this one like a reset socket.
 *
 * On the port: a chunk is a Uint8Array, a number acknowledges that many
 * bytes read, `null` ends the stream.
 */
import { Duplex } from 'node:stream'
import type { MessagePort } from 'node:worker_threads'

/** Bytes a writer may have unread at the other end before it waits (default 1 MiB). */
export const PORT_WINDOW_BYTES = 1024 * 1024

export class PortStream extends Duplex {
  /** Written and not yet acknowledged read by the other end. */
  private unacked = 0
  /** Read here and not yet acknowledged to the other end. */
  private unreported = 0
  /** Pushed while this Readable's buffer was full: acknowledged once it is read. */
  private held = 0
  private waiting: ((error?: Error | null) => void) | undefined

  constructor(private readonly port: MessagePort, private readonly windowBytes = PORT_WINDOW_BYTES) {
    super({ allowHalfOpen: false })
    port.on('message', (m: Uint8Array | number | null) => this.onMessage(m))
    // the other end is gone (its thread ended): like a reset connection
    port.once('close', () => this.destroy())
  }

  private onMessage(m: Uint8Array | number | null): void {
    if (typeof m === 'number') {
      this.unacked -= m
      if (this.waiting && this.unacked <= this.windowBytes) {
        const cb = this.waiting
        this.waiting = undefined
        cb()
      }
      return
    }
    if (m === null) {
      this.push(null)
      return
    }
    const chunk = Buffer.from(m.buffer, m.byteOffset, m.byteLength)
    if (this.push(chunk)) this.report(chunk.length)
    else this.held += chunk.length
  }

  /** Acknowledges read bytes in batches (a quarter window), not one message per chunk. */
  private report(n: number): void {
    this.unreported += n
    if (this.unreported < this.windowBytes / 4) {
      // what is read in this turn is acknowledged at its end at the latest: a writer waiting on a small window moves on
      if (this.unreported === n) queueMicrotask(() => this.flushReport())
      return
    }
    this.flushReport()
  }

  private flushReport(): void {
    if (this.unreported === 0 || this.destroyed) return
    this.port.postMessage(this.unreported)
    this.unreported = 0
  }

  override _read(): void {
    if (this.held === 0) return
    const n = this.held
    this.held = 0
    this.report(n)
  }

  override _write(chunk: Buffer, _encoding: BufferEncoding, callback: (error?: Error | null) => void): void {
    this.send([chunk], chunk.length, callback)
  }

  /** Corked writes (mqtt.js, aedes) leave as one message. */
  override _writev(chunks: Array<{ chunk: Buffer }>, callback: (error?: Error | null) => void): void {
    let n = 0
    for (const c of chunks) n += c.chunk.length
    this.send(chunks.map((c) => c.chunk), n, callback)
  }

  private send(chunks: Buffer[], n: number, callback: (error?: Error | null) => void): void {
    // a copy of its own, moved (not cloned) to the other thread: a chunk may be a view into a shared pool
    const copy = new Uint8Array(n)
    let at = 0
    for (const c of chunks) {
      copy.set(c, at)
      at += c.length
    }
    this.port.postMessage(copy, [copy.buffer])
    this.unacked += n
    if (this.unacked > this.windowBytes) this.waiting = callback
    else callback()
  }

  override _final(callback: (error?: Error | null) => void): void {
    this.port.postMessage(null)
    callback()
  }

  override _destroy(error: Error | null, callback: (error?: Error | null) => void): void {
    const cb = this.waiting
    this.waiting = undefined
    cb?.(error ?? new Error('port stream closed'))
    this.port.close()
    callback(error)
  }
}
