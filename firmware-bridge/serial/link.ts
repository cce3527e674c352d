/**
 * A serial link: bytes in, bytes out, and the device coming and going. One
 * interface, two implementations: `SerialPortLink` (the `serialport` package,
 * a real tty or a pty) and `MemoryLink` (an in-memory pair for unit tests).
 *
 * A link reconnects by itself: when the device goes away (USB unplugged, pty
 * closed) it emits `close` and keeps trying to reopen with a capped
 * exponential backoff, emitting `open` when the device is back.
 */
import type { EventEmitter } from 'node:events'

export interface LinkEvents {
  open: []
  close: [{ error?: Error }]
  data: [Buffer]
  /** An open attempt failed; the next one is in `delayMs`. */
  retry: [{ attempt: number; delayMs: number; error: Error }]
}

export interface SerialLink extends EventEmitter<LinkEvents> {
  readonly isOpen: boolean
  /** Opens the device, retrying until it is there (or `close()` is called). */
  start(): void
  /** Writes bytes; rejects with a FogmeshError (`closed`) when the device is not there, (`overloaded`) when the write queue is full. */
  write(bytes: Buffer): Promise<void>
  /** Stops for good: closes the port and cancels any reconnect. */
  close(): Promise<void>
}
