/**
 * MQTT 3.1.1 packets as bytes, for tests that speak to a broker on a raw
 * socket (hostile clients, the fuzzer, conformance checks): our own small
 * encoder, so a test can also write what no client library would send.
 */
import { connect as netConnect, type Socket } from 'node:net'

/** The remaining-length varint (1..4 bytes). */
export function varint(n: number): Buffer {
  const out: number[] = []
  do {
    let b = n % 128
    n = Math.floor(n / 128)
    if (n > 0) b |= 0x80
    out.push(b)
  } while (n > 0)
  return Buffer.from(out)
}

const str = (s: string | Buffer) => {
  const b = typeof s === 'string' ? Buffer.from(s) : s
  const len = Buffer.alloc(2)
  len.writeUInt16BE(b.length)
  return Buffer.concat([len, b])
}

export const packet = (firstByte: number, body: Buffer) => Buffer.concat([Buffer.from([firstByte]), varint(body.length), body])

export interface ConnectFields {
  clientId: string
  clean?: boolean
  keepalive?: number
  will?: { topic: string; payload: Buffer | string; qos?: 0 | 1; retain?: boolean }
  username?: string
  password?: string
  protocolLevel?: number
}

export function connectPacket(f: ConnectFields): Buffer {
  let flags = f.clean === false ? 0 : 0x02
  const parts = [str('MQTT'), Buffer.from([f.protocolLevel ?? 4, 0]), Buffer.from([0, 0]), str(f.clientId)]
  if (f.will) {
    flags |= 0x04 | ((f.will.qos ?? 0) << 3) | (f.will.retain ? 0x20 : 0)
    parts.push(str(f.will.topic), str(Buffer.from(f.will.payload)))
  }
  if (f.username !== undefined) {
    flags |= 0x80
    parts.push(str(f.username))
  }
  if (f.password !== undefined) {
    flags |= 0x40
    parts.push(str(f.password))
  }
  parts[1] = Buffer.from([f.protocolLevel ?? 4, flags])
  parts[2]!.writeUInt16BE(f.keepalive ?? 60)
  return packet(0x10, Buffer.concat(parts))
}

export function publishPacket(topic: string, payload: Buffer | string, opts: { qos?: 0 | 1; retain?: boolean; id?: number } = {}): Buffer {
  const qos = opts.qos ?? 0
  const id = qos > 0 ? Buffer.from([((opts.id ?? 1) >> 8) & 0xff, (opts.id ?? 1) & 0xff]) : Buffer.alloc(0)
  return packet(0x30 | (qos << 1) | (opts.retain ? 1 : 0), Buffer.concat([str(topic), id, Buffer.from(payload)]))
}

export function subscribePacket(id: number, filters: Array<{ topic: string; qos?: 0 | 1 }>): Buffer {
  const body = [Buffer.from([(id >> 8) & 0xff, id & 0xff])]
  for (const f of filters) body.push(str(f.topic), Buffer.from([f.qos ?? 0]))
  return packet(0x82, Buffer.concat(body))
}

export const pubackPacket = (id: number) => Buffer.from([0x40, 2, (id >> 8) & 0xff, id & 0xff])
export const pingreqPacket = () => Buffer.from([0xc0, 0])
export const disconnectPacket = () => Buffer.from([0xe0, 0])

/** A raw TCP connection to a broker, collecting what it sends back. */
export interface RawClient {
  socket: Socket
  /** Every byte received so far. */
  received(): Buffer
  closed: Promise<void>
  write(b: Buffer): boolean
  /** Resolves with the CONNACK return code (the 4th byte of the first packet). */
  connack(timeoutMs?: number): Promise<number>
  destroy(): void
}

export function rawClient(port: number, host = '127.0.0.1'): Promise<RawClient> {
  return new Promise((resolve, reject) => {
    const socket = netConnect({ port, host, noDelay: true })
    const chunks: Buffer[] = []
    let size = 0
    socket.on('data', (d) => {
      if (size < 1 << 20) chunks.push(d) // keep the first MiB: enough for any check, bounded for floods
      size += d.length
    })
    socket.on('error', () => {})
    const closed = new Promise<void>((r) => socket.once('close', () => r()))
    const received = () => Buffer.concat(chunks)
    socket.once('connect', () =>
      resolve({
        socket,
        received,
        closed,
        write: (b) => socket.write(b),
        destroy: () => socket.destroy(),
        async connack(timeoutMs = 10_000) {
          const until = Date.now() + timeoutMs
          while (Date.now() < until) {
            const r = received()
            if (r.length >= 4 && r[0] === 0x20) return r[3]!
            if (socket.destroyed && r.length < 4) throw new Error('closed before CONNACK')
            await new Promise((t) => setTimeout(t, 5))
          }
          throw new Error(`no CONNACK within ${timeoutMs} ms`)
        },
      }),
    )
    socket.once('error', reject)
  })
}
