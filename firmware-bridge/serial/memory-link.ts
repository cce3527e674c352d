/**
 * `SerialLink` in memory: `memoryLinkPair()` gives the bridge's end and the
 * device's end of one cable. `unplug()` / `plug()` simulate a USB device going
 * away and coming back.
 */
import { EventEmitter } from 'node:events'
import { ErrorCode, FogmeshError } from '../../protocol/errors.ts'
import type { LinkEvents, SerialLink } from './link.ts'

export class MemoryLink extends EventEmitter<LinkEvents> implements SerialLink {
  peer: MemoryLink | undefined
  private plugged = true
  private started = false
  private stopped = false
  /** Everything written through this end, in order. */
  readonly written: Buffer[] = []

  get isOpen(): boolean {
    return this.started && this.plugged && !this.stopped
  }

  start(): void {
    if (this.started || this.stopped) return
    this.started = true
    if (this.plugged) queueMicrotask(() => this.emit('open'))
  }

  async write(bytes: Buffer): Promise<void> {
    if (!this.isOpen) throw new FogmeshError(ErrorCode.closed, 'memory serial link is not connected')
    this.written.push(Buffer.from(bytes))
    const peer = this.peer
    if (peer?.isOpen) queueMicrotask(() => peer.emit('data', Buffer.from(bytes)))
  }

  unplug(): void {
    if (!this.plugged) return
    const was = this.isOpen
    this.plugged = false
    if (was) this.emit('close', { error: new Error('unplugged') })
  }

  plug(): void {
    if (this.plugged) return
    this.plugged = true
    if (this.isOpen) this.emit('open')
  }

  async close(): Promise<void> {
    const was = this.isOpen
    this.stopped = true
    if (was) this.emit('close', {})
  }
}

export function memoryLinkPair(): { host: MemoryLink; device: MemoryLink } {
  const host = new MemoryLink()
  const device = new MemoryLink()
  host.peer = device
  device.peer = host
  return { host, device }
}
