/**
 * `SerialLink` over the `serialport` package: real UARTs (`/dev/ttyUSB0`,
 * `/dev/ttyAMA0`, `/dev/serial/by-id/...`) and pseudo-terminals alike.
 */
import { EventEmitter } from 'node:events'
import { SerialPort } from 'serialport'
import { ErrorCode, FogmeshError } from '../../protocol/errors.ts'
import type { LinkEvents, SerialLink } from './link.ts'

export interface SerialPortLinkOptions {
  path: string
  baudRate: number
  /** First reconnect delay; doubles per failed attempt up to `reconnectMaxMs`. */
  reconnectMinMs: number
  reconnectMaxMs: number
  /** Bytes waiting in the port's write queue before a write is refused. */
  maxWriteQueueBytes: number
}

export class SerialPortLink extends EventEmitter<LinkEvents> implements SerialLink {
  private port: SerialPort | undefined
  private timer: NodeJS.Timeout | undefined
  private attempt = 0
  private stopped = false

  constructor(private readonly options: SerialPortLinkOptions) {
    super()
  }

  get isOpen(): boolean {
    return this.port?.isOpen === true
  }

  start(): void {
    if (this.stopped || this.port || this.timer) return
    this.open()
  }

  private open(): void {
    this.timer = undefined
    if (this.stopped) return
    const port = new SerialPort({ path: this.options.path, baudRate: this.options.baudRate, autoOpen: false })
    port.open((err) => {
      if (this.stopped) {
        if (!err) port.close()
        return
      }
      if (err) {
        this.attempt++
        const delayMs = Math.min(this.options.reconnectMaxMs, this.options.reconnectMinMs * 2 ** Math.min(this.attempt - 1, 20))
        this.emit('retry', { attempt: this.attempt, delayMs, error: err })
        this.timer = setTimeout(() => this.open(), delayMs)
        return
      }
      this.attempt = 0
      this.port = port
      port.on('data', (d: Buffer) => this.emit('data', d))
      port.on('error', () => {}) // the close that follows tells the story
      port.once('close', (e?: Error | null) => {
        this.port = undefined
        this.emit('close', e ? { error: e } : {})
        if (!this.stopped) this.timer = setTimeout(() => this.open(), this.options.reconnectMinMs)
      })
      this.emit('open')
    })
  }

  write(bytes: Buffer): Promise<void> {
    const port = this.port
    if (!port?.isOpen) return Promise.reject(new FogmeshError(ErrorCode.closed, `serial device ${this.options.path} is not connected`))
    if (port.writableLength + bytes.length > this.options.maxWriteQueueBytes) {
      return Promise.reject(new FogmeshError(ErrorCode.overloaded, `serial write queue of ${this.options.path} is full (${this.options.maxWriteQueueBytes} bytes)`))
    }
    return new Promise((resolve, reject) => {
      port.write(bytes, (err) => (err ? reject(new FogmeshError(ErrorCode.closed, `write to ${this.options.path} failed: ${err.message}`, { cause: err })) : resolve()))
    })
  }

  async close(): Promise<void> {
    this.stopped = true
    clearTimeout(this.timer)
    this.timer = undefined
    const port = this.port
    this.port = undefined
    if (port?.isOpen) await new Promise<void>((r) => port.close(() => r()))
  }
}
