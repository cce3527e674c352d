/**
 * A TCP proxy on loopback that a test controls, to cut the network between a
 * client and a server for real: `cut()` destroys every connection through it
 * and refuses new ones (the client sees a dead link, as when a router drops);
 * `restore()` lets connections through again. TCP_NODELAY on both legs.
 */
import { createConnection, createServer, type Socket } from 'node:net'

export interface TcpProxy {
  port: number
  /** `mqtt://127.0.0.1:PORT` */
  url: string
  cut(): void
  restore(): void
  stats(): { connections: number; cuts: number; refused: number }
  close(): Promise<void>
}

export async function startTcpProxy(targetPort: number, targetHost = '127.0.0.1'): Promise<TcpProxy> {
  const open = new Set<Socket>()
  let down = false
  const stats = { connections: 0, cuts: 0, refused: 0 }
  const server = createServer({ noDelay: true }, (client) => {
    if (down) {
      stats.refused++
      client.destroy()
      return
    }
    stats.connections++
    const upstream = createConnection({ port: targetPort, host: targetHost, noDelay: true })
    open.add(client)
    open.add(upstream)
    const drop = () => {
      client.destroy()
      upstream.destroy()
      open.delete(client)
      open.delete(upstream)
    }
    client.on('error', drop).on('close', drop)
    upstream.on('error', drop).on('close', drop)
    client.pipe(upstream)
    upstream.pipe(client)
  })
  await new Promise<void>((resolve, reject) => server.once('error', reject).listen(0, '127.0.0.1', () => resolve()))
  const port = (server.address() as { port: number }).port
  return {
    port,
    url: `mqtt://127.0.0.1:${port}`,
    cut() {
      down = true
      stats.cuts++
      for (const s of [...open]) s.destroy()
      open.clear()
    },
    restore() {
      down = false
    },
    stats: () => ({ ...stats }),
    async close() {
      for (const s of [...open]) s.destroy()
      await new Promise<void>((r) => server.close(() => r()))
    },
  }
}
