/**
 * The console server, inside `fogmesh broker` and `fogmesh up`: one HTTP port
 * that serves
 *
 *   /            the console page (built by esbuild at install into console/dist/)
 *   /mqtt        MQTT over WebSocket into the embedded broker, for the page
 *                (the same packet guard as the broker's own listeners)
 *   /metrics     Prometheus: the broker's own metrics and the mesh's, from telemetry
 *   /config.json what the page needs to know (its MQTT path, the version)
 *   /healthz     200 while the server runs
 *
 * It also runs the alert engine, which publishes the active alerts retained
 * on `fm/v1/telemetry/alerts`.
 */
import { existsSync, readdirSync, readFileSync } from 'node:fs'
import { createServer, type IncomingMessage, type Server, type ServerResponse } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { extname, join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { gzipSync } from 'node:zlib'
import { collectDefaultMetrics, Registry } from 'prom-client'
import { WebSocketServer, createWebSocketStream } from 'ws'
import type { Broker } from '../broker/broker.ts'
import { registerBrokerMetrics, type BrokerMetrics } from '../broker/metrics.ts'
import { mergeOptions } from '../protocol/options.ts'
import { telemetryTopics } from '../protocol/telemetry.ts'
import { connect, type ClientCredentials, type Connection } from '../protocol/transport.ts'
import { VERSION } from '../protocol/version.ts'
import { AlertEngine, type AlertOptions } from './alerts.ts'
import { registerMeshMetrics } from './mesh-metrics.ts'
import { MeshWatch, type MeshWatchOptions } from './mesh-watch.ts'

export interface ConsoleOptions {
  /** The embedded broker the page connects into, and whose metrics are served. */
  broker: Broker
  /** HTTP port; 0 picks a free one. Default 8080. */
  port?: number
  /** Interface to bind. Default `127.0.0.1`. */
  host?: string
  /** Where the built page is. Default `console/dist/`. */
  assetsDir?: string
  /** Open HTTP/WebSocket connections at once; more are refused. Default 1024. */
  maxConnections?: number
  alerts?: AlertOptions
  watch?: MeshWatchOptions
  /** Who the server's own MQTT client is on a broker with auth: an operator (it reads telemetry, publishes alerts). */
  credentials?: ClientCredentials
}

const DEFAULTS = { port: 8080, host: '127.0.0.1', assetsDir: fileURLToPath(new URL('./dist/', import.meta.url)), maxConnections: 1024 }

export interface ConsoleServer {
  readonly port: number
  /** `http://host:port/` */
  readonly url: string
  readonly registry: Registry
  readonly watch: MeshWatch
  readonly alerts: AlertEngine
  /** False when the page has not been built (`npm run build:console`). */
  readonly built: boolean
  close(): Promise<void>
}

const TYPES: Record<string, string> = {
  '.html': 'text/html; charset=utf-8',
  '.js': 'text/javascript; charset=utf-8',
  '.css': 'text/css; charset=utf-8',
  '.json': 'application/json',
  '.svg': 'image/svg+xml',
  '.png': 'image/png',
}

interface Asset {
  type: string
  body: Buffer
  gz: Buffer
}

/** The built page, read once: only these files are ever served. */
function loadAssets(dir: string): Map<string, Asset> {
  const out = new Map<string, Asset>()
  if (!existsSync(dir)) return out
  for (const name of readdirSync(dir)) {
    const type = TYPES[extname(name)]
    if (!type) continue
    const body = readFileSync(join(dir, name))
    out.set(`/${name}`, { type, body, gz: gzipSync(body, { level: 9 }) })
  }
  return out
}

export async function startConsole(options: ConsoleOptions): Promise<ConsoleServer> {
  const opts = mergeOptions(options, DEFAULTS, { port: { min: 0, max: 65535, integer: true }, maxConnections: { min: 1, integer: true } }, 'console')
  const assets = loadAssets(opts.assetsDir)
  const built = assets.has('/index.html')

  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  // prom-client names these gauges `_total`, which Prometheus keeps for counters (promtool refuses them)
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name)
  const brokerMetrics: BrokerMetrics = registerBrokerMetrics(opts.broker, registry)

  let conn: Connection | undefined
  let watch: MeshWatch | undefined
  let alerts: AlertEngine | undefined
  try {
    conn = await connect(opts.broker.url, {
      clientId: `${opts.credentials?.username ?? 'fm-console'}:${process.pid}-${Date.now().toString(36)}`,
      ...(opts.credentials ? { credentials: opts.credentials } : {}),
    })
    watch = new MeshWatch(conn, opts.watch)
    registerMeshMetrics(watch, registry)
    await watch.start()
    alerts = new AlertEngine(watch, conn, opts.alerts).start()
  } catch (err) {
    brokerMetrics.detach()
    await conn?.close().catch(() => {})
    throw err
  }

  const config = Buffer.from(JSON.stringify({ mqttPath: '/mqtt', version: VERSION }))
  const handle = async (req: IncomingMessage, res: ServerResponse): Promise<unknown> => {
    const path = (req.url ?? '/').split('?')[0] ?? '/'
    if (req.method !== 'GET' && req.method !== 'HEAD') return res.writeHead(405, { allow: 'GET, HEAD' }).end()
    if (path === '/metrics') {
      const body = await registry.metrics()
      return res.writeHead(200, { 'content-type': registry.contentType, 'cache-control': 'no-store' }).end(body)
    }
    if (path === '/healthz') return res.writeHead(200, { 'content-type': 'text/plain' }).end('ok\n')
    if (path === '/config.json') return res.writeHead(200, { 'content-type': 'application/json', 'cache-control': 'no-store' }).end(config)
    const asset = assets.get(path === '/' ? '/index.html' : path)
    if (!asset) {
      if (!built && (path === '/' || path === '/index.html')) {
        return res.writeHead(503, { 'content-type': 'text/plain; charset=utf-8' }).end('fogmesh console: the page is not built; run `npm run build:console`\n')
      }
      return res.writeHead(404, { 'content-type': 'text/plain' }).end('not found\n')
    }
    const gzip = /\bgzip\b/.test(String(req.headers['accept-encoding'] ?? ''))
    res.writeHead(200, {
      'content-type': asset.type,
      'cache-control': 'no-cache',
      'x-content-type-options': 'nosniff',
      ...(asset.type.startsWith('text/html') ? { 'content-security-policy': "default-src 'self'; connect-src 'self' ws: wss:; img-src 'self' data:; style-src 'self' 'unsafe-inline'; worker-src blob:" } : {}),
      ...(gzip ? { 'content-encoding': 'gzip', vary: 'accept-encoding' } : {}),
    })
    return res.end(req.method === 'HEAD' ? undefined : gzip ? asset.gz : asset.body)
  }
  const server: Server = createServer((req, res) => {
    handle(req, res).catch(() => {
      if (!res.headersSent) res.writeHead(500).end()
      else res.destroy()
    })
  })
  server.maxConnections = opts.maxConnections
  server.on('connection', (socket: Socket) => socket.setNoDelay(true))
  const wss = new WebSocketServer({ noServer: true, maxPayload: 4 * 1024 * 1024 })
  server.on('upgrade', (req, socket: Socket, head) => {
    if ((req.url ?? '').split('?')[0] !== '/mqtt') {
      socket.end('HTTP/1.1 404 Not Found\r\n\r\n')
      return
    }
    wss.handleUpgrade(req, socket, head, (ws) => opts.broker.handleConnection(createWebSocketStream(ws), socket, 'ws'))
  })
  try {
    await new Promise<void>((resolve, reject) => {
      server.once('error', reject)
      server.listen(opts.port, opts.host, () => {
        server.off('error', reject)
        resolve()
      })
    })
  } catch (err) {
    // a busy port: nothing started here may outlive the refusal
    alerts.stop()
    watch.stop()
    brokerMetrics.detach()
    wss.close()
    await conn.close().catch(() => {})
    throw err
  }
  const port = (server.address() as AddressInfo).port
  const shownHost = opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host
  let closing: Promise<void> | undefined
  const w = watch
  const a = alerts
  const c = conn
  return {
    port,
    url: `http://${shownHost}:${port}/`,
    registry,
    watch: w,
    alerts: a,
    built,
    close() {
      closing ??= (async () => {
        a.stop()
        w.stop()
        brokerMetrics.detach()
        for (const client of wss.clients) client.terminate()
        wss.close()
        server.closeAllConnections()
        await new Promise<void>((resolve) => server.close(() => resolve()))
        // no alerts left behind by a console that is gone
        await c.publishAsync(telemetryTopics.alerts, '', { qos: 1, retain: true }).catch(() => {})
        await c.close().catch(() => {})
      })()
      return closing
    },
  }
}
