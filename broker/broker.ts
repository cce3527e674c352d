/**
 * The embedded broker: aedes on TCP and on WebSocket, TCP_NODELAY on every
 * socket, every limit of broker/limits/ (packet caps enforced before the
 * bytes pile up, connections, subscriptions, retained, queues, slow
 * subscribers, publish rates), and a module publish checked against the
 * sha256 in its topic before it is retained.
 *
 * Like aedes itself it does not log: it emits events (`violation`, `limit`,
 * `clientError`, `moduleRejected`) for whoever embeds it.
 */
import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import { createServer as createHttpServer, type Server as HttpServer, type ServerResponse } from 'node:http'
import { createServer as createHttpsServer } from 'node:https'
import { createServer as createTlsServer } from 'node:tls'
import { createServer as createNetServer, type AddressInfo, type Server as NetServer, type Socket } from 'node:net'
import type { Duplex } from 'node:stream'
import { Aedes, type AedesOptions, type Client, type PublishPacket } from 'aedes'
import { WebSocketServer, createWebSocketStream } from 'ws'
import { PortInUseError, ValidationError } from '../protocol/errors.ts'
import { checkNumber, mergeOptions, type NumberRule } from '../protocol/options.ts'
import { PREFIX, parseModuleTopic } from '../protocol/topics.ts'
import { BrokerGuard, type GuardStats } from './limits/broker-guard.ts'
import { resolveBrokerLimits, type BrokerLimits, type LimitEvent } from './limits/broker-limits.ts'
import type { PacketViolation } from './limits/packet-caps.ts'
import { isLoopback, type BrokerAuth } from './auth/broker-auth.ts'
import { ROUTED_SINK } from './stream-emitter.ts'
import { writeOncePerTurn } from '../protocol/transport/turn-writes.ts'
import { openBrokerState, type BrokerState, type BrokerStateOptions } from './persistence/broker-state.ts'
import type { RetainedRefusal } from './persistence/retained-quota.ts'

/** Every option may be left out or passed as `undefined`: its default stands (see protocol/options.ts). */
export interface BrokerOptions extends BrokerStateOptions {
  /** TCP port for MQTT; 0 picks a free one. Default 1883. */
  port?: number | undefined
  /** WebSocket port; 0 picks a free one; `false` for none. Default 0 (any free port). */
  wsPort?: number | false | undefined
  /** Interface to bind. Default `127.0.0.1`; `0.0.0.0` to serve a LAN. */
  host?: string | undefined
  /** Cap on any MQTT packet, bytes. Default 2 MiB. */
  maxPacketBytes?: number | undefined
  /** Cap on a PUBLISH to `fm/v1/modules/#`, bytes. Default 16 MiB. */
  maxModuleBytes?: number | undefined
  /** Every other limit (broker/limits/broker-limits.ts); the two above win over theirs. */
  limits?: Partial<BrokerLimits> | undefined
  /** Policy hooks and tuning passed to aedes (authenticate, authorizePublish, ...). */
  aedes?: AedesOptions | undefined
  /**
   * Identities and access rules (broker/auth/broker-auth.ts). Without it every client is
   * anonymous with full access, so only a loopback `host` is accepted unless `allowAnonymous`.
   */
  auth?: BrokerAuth | undefined
  /** Without `auth`: accept anonymous clients with full access on a non-loopback `host`. Default false. */
  allowAnonymous?: boolean | undefined
  /** TLS on both listeners (MQTT over TLS, WebSocket over HTTPS): PEM certificate (chain) and key. */
  tls?: { cert: string | Buffer; key: string | Buffer } | undefined
}

/** The topics of modules, checked against their sha256 before they are retained. */
const MODULES = `${PREFIX}/modules/`
/** The peer address of an in-process connection: a loopback client's, which it replaces (per-IP limits, auth rules by address). */
const LOCAL_PEER = '127.0.0.1'

const DEFAULTS = {
  port: 1883,
  wsPort: 0 as number | false,
  host: '127.0.0.1',
}

const PORT: NumberRule = { min: 0, max: 65535, integer: true }
/** MQTT's own limit on a packet: a remaining length of at most 268,435,455 bytes. */
const PACKET_BYTES: NumberRule = { min: 1024, max: 268_435_455, integer: true }

export interface BrokerEvents {
  violation: [PacketViolation & { remote: string }]
  /** A limit bit (broker/limits/broker-limits.ts): who, which, what was done. */
  limit: [LimitEvent]
  moduleRejected: [{ topic: string; clientId: string; reason: string }]
  clientError: [{ clientId: string; error: Error }]
  /** A retained publish was refused: it would break a retained cap (broker/persistence/retained-quota.ts). */
  retainedRejected: [RetainedRefusal & { topic: string; clientId: string }]
  /** A connection was accepted (its socket counts bytes both ways: `bytesRead`, `bytesWritten`). */
  connection: [{ socket: Socket; transport: 'tcp' | 'ws'; remote: string }]
}

export interface Broker extends EventEmitter<BrokerEvents> {
  readonly aedes: Aedes
  /** The identities and rules in force, if any. */
  readonly auth: BrokerAuth | undefined
  /** Where retained messages, sessions and in-flight messages live (memory, disk, Redis), and the retained caps. */
  readonly state: BrokerState
  /** What a restart found acknowledged but not yet stored, and published again. */
  readonly recovered: number
  readonly port: number
  readonly wsPort: number | undefined
  /** `mqtt://host:port` for clients on this machine. */
  readonly url: string
  readonly wsUrl: string | undefined
  /**
   * Serves MQTT on a connection accepted elsewhere (e.g. a WebSocket on the
   * console's HTTP port): through the same packet guard as the broker's own listeners.
   */
  handleConnection(conn: Duplex, socket: Socket, transport: 'tcp' | 'ws'): void
  /**
   * A connection from inside this process (the contained gateway's link, market/gateway-link.ts):
   * an MQTT client like any other — authentication, access rules, limits — counted as a loopback peer.
   */
  handleLocal(conn: Duplex): void
  /** The limits in force. */
  readonly limits: BrokerLimits
  /** What the limits hold and did: connections, subscriptions, retained, queued, dropped. */
  limitStats(): GuardStats
  close(): Promise<void>
}

export async function startBroker(options: BrokerOptions = {}): Promise<Broker> {
  const opts = mergeOptions(options, DEFAULTS, { port: PORT, maxPacketBytes: PACKET_BYTES, maxModuleBytes: PACKET_BYTES }, 'broker')
  if (opts.wsPort !== false) checkNumber('broker.wsPort', opts.wsPort, PORT)
  if (!opts.auth && !opts.allowAnonymous && !isLoopbackHost(opts.host)) {
    throw new ValidationError('broker.host', `a loopback address without auth (on ${opts.host} anyone who reaches it would have full access); give auth, or allowAnonymous`)
  }
  const events = new EventEmitter<BrokerEvents>()
  const limits = resolveBrokerLimits({ ...opts.limits, maxPacketBytes: opts.maxPacketBytes ?? opts.limits?.maxPacketBytes, maxModuleBytes: opts.maxModuleBytes ?? opts.limits?.maxModuleBytes })
  const guard = new BrokerGuard(limits, { limit: (e) => events.emit('limit', e), violation: (v) => events.emit('violation', v) })
  /** The peer address of each connection aedes handles (client.conn), for rules that depend on it. */
  const remotes = new WeakMap<object, string>()
  const authHooks = opts.auth?.hooks((client) => remotes.get(client.conn))
  const userAuthorizePublish = authHooks?.authorizePublish ?? opts.aedes?.authorizePublish
  const userPublished = opts.aedes?.published
  const state = await openBrokerState(opts)
  // after every other check said yes: the retained caps, then (with --data) the publish on disk before its PUBACK.
  // Per message and allocation-free unless there is something to wait for: no promise, no closure (issue 15)
  const refuseRetained = (client: Client | null, packet: PublishPacket, refused: RetainedRefusal, callback: (error?: Error | null) => void) => {
    events.emit('retainedRejected', { ...refused, topic: packet.topic, clientId: client?.id ?? '' })
    callback(new Error(refused.reason))
  }
  const admit = (client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void) => {
    let verdict: ReturnType<BrokerState['admitPublish']>
    try {
      verdict = state.admitPublish(client, packet)
    } catch (err) {
      return callback(err as Error)
    }
    if (verdict === undefined) return callback(null)
    if (!(verdict instanceof Promise)) return refuseRetained(client, packet, verdict, callback)
    verdict.then((refused) => (refused ? refuseRetained(client, packet, refused, callback) : callback(null)), (err: Error) => callback(err))
  }
  /** The module check, then `admit`: what follows the embedder's own authorizePublish. */
  const checkThenAdmit = (client: Client | null, packet: PublishPacket, callback: (error?: Error | null) => void) => {
    // aedes' own default hook, which this one replaces, keeps $SYS/ to the broker
    if (client && packet.topic.startsWith('$SYS/')) return callback(new Error('$SYS/ topic is reserved'))
    const reason = packet.topic.startsWith(MODULES) ? checkModulePublish(packet) : undefined
    if (!reason) return admit(client, packet, callback)
    events.emit('moduleRejected', { topic: packet.topic, clientId: client?.id ?? '', reason })
    callback(new Error(reason))
  }
  const statePublished = state.published
  // only when there is something to do: without it the guard completes a publish without a closure
  const published: AedesOptions['published'] | undefined = statePublished || userPublished
    ? (packet, client, callback) => {
        if (packet.topic === ROUTED_SINK) return callback(null) // a cluster broker's emptied copy (broker-state.ts)
        statePublished?.(packet)
        if (userPublished) return userPublished(packet, client, callback)
        callback(null)
      }
    : undefined

  const aedes = await Aedes.createBroker(guard.aedesOptions({
    ...opts.aedes,
    ...(authHooks ? { authenticate: authHooks.authenticate, authorizeSubscribe: authHooks.authorizeSubscribe } : {}),
    ...state.aedes,
    // who may publish first: nobody gets 16 MiB hashed without the right to deploy
    authorizePublish: userAuthorizePublish
      ? (client, packet, callback) => userAuthorizePublish(client, packet, (err) => (err ? callback(err) : checkThenAdmit(client, packet, callback)))
      : checkThenAdmit,
    ...(published ? { published } : {}),
  }))
  guard.attach(aedes)
  const recovered = await state.recover(aedes)
  aedes.on('clientError', (client: Client, error: Error) => {
    events.emit('clientError', { clientId: client?.id ?? '', error })
  })

  const sockets = new Set<Duplex>()
  const accept = (conn: Duplex, remote: string, socket: Socket, transport: 'tcp' | 'ws') => {
    remotes.set(conn, socket.remoteAddress ?? '')
    writeOncePerTurn(conn)
    if (!guard.accept(conn, socket.remoteAddress ?? '', remote, (c) => aedes.handle(c))) return
    events.emit('connection', { socket, transport, remote })
    sockets.add(conn)
    conn.once('close', () => sockets.delete(conn))
  }

  const onSocket = (socket: Socket) => {
    socket.setNoDelay(true)
    accept(socket, `${socket.remoteAddress}:${socket.remotePort}`, socket, 'tcp')
  }
  const tcp: NetServer = opts.tls
    ? createTlsServer({ cert: opts.tls.cert, key: opts.tls.key, noDelay: true }, onSocket)
    : createNetServer({ noDelay: true }, onSocket)
  let http: HttpServer | undefined
  let wss: WebSocketServer | undefined
  try {
    await listen(tcp, opts.port, opts.host, 'port')
    if (opts.wsPort !== false) {
      const upgradeOnly = (_req: unknown, res: ServerResponse) => {
        res.writeHead(426, { 'content-type': 'text/plain' }).end('fogmesh broker: MQTT over WebSocket only\n')
      }
      http = opts.tls ? createHttpsServer({ cert: opts.tls.cert, key: opts.tls.key, noDelay: true }, upgradeOnly) : createHttpServer(upgradeOnly)
      http.on('connection', (socket: Socket) => socket.setNoDelay(true))
      await listen(http, opts.wsPort, opts.host, 'wsPort')
      // attached once listening: ws re-emits the server's 'error' (a taken port) on itself
      wss = new WebSocketServer({ server: http, maxPayload: limits.maxModuleBytes + 1024 })
      wss.on('connection', (ws, req) => {
        accept(createWebSocketStream(ws), `${req.socket.remoteAddress}:${req.socket.remotePort}`, req.socket, 'ws')
      })
    }
  } catch (err) {
    // nothing may keep the process alive after a failed start
    if (tcp.listening) await closeServer(tcp)
    await new Promise<void>((resolve) => aedes.close(() => resolve()))
    guard.close()
    await state.close()
    throw err
  }

  const port = (tcp.address() as AddressInfo).port
  const wsPort = http ? (http.address() as AddressInfo).port : undefined
  const shownHost = opts.host === '0.0.0.0' || opts.host === '::' ? '127.0.0.1' : opts.host
  let closing: Promise<void> | undefined

  return Object.assign(events, {
    aedes,
    auth: opts.auth,
    state,
    recovered,
    port,
    wsPort,
    url: `${opts.tls ? 'mqtts' : 'mqtt'}://${shownHost}:${port}`,
    wsUrl: wsPort === undefined ? undefined : `${opts.tls ? 'wss' : 'ws'}://${shownHost}:${wsPort}`,
    handleConnection(conn: Duplex, socket: Socket, transport: 'tcp' | 'ws') {
      accept(conn, `${socket.remoteAddress}:${socket.remotePort}`, socket, transport)
    },
    handleLocal(conn: Duplex) {
      if (closing) return void conn.destroy()
      remotes.set(conn, LOCAL_PEER)
      writeOncePerTurn(conn)
      if (!guard.accept(conn, LOCAL_PEER, 'in-process', (c) => aedes.handle(c))) return
      sockets.add(conn)
      conn.once('close', () => sockets.delete(conn))
    },
    limits,
    limitStats: () => guard.stats(),
    close() {
      closing ??= (async () => {
        const closed = [closeServer(tcp), http ? closeServer(http) : Promise.resolve()]
        wss?.close()
        await new Promise<void>((resolve) => aedes.close(() => resolve()))
        for (const s of sockets) s.destroy()
        guard.close()
        await Promise.all(closed)
        await state.close()
      })()
      return closing
    },
  })
}

function isLoopbackHost(host: string): boolean {
  return host === 'localhost' || isLoopback(host)
}

/** A module must hash to the sha256 its topic names; an empty payload (clearing it) is allowed. */
function checkModulePublish(packet: PublishPacket): string | undefined {
  if (!packet.topic.startsWith(MODULES)) return undefined
  const sha = parseModuleTopic(packet.topic)
  if (!sha) return 'module topic must be fm/v1/modules/<sha256 as 64 lowercase hex>'
  const payload = packet.payload as Buffer | string
  if (payload.length === 0) return undefined
  const actual = createHash('sha256').update(payload).digest('hex')
  return actual === sha ? undefined : `module bytes hash to ${actual}, not ${sha}`
}

/** Listens on host:port; a taken port is a PortInUseError naming `option`. */
function listen(server: NetServer | HttpServer, port: number, host: string, option: 'port' | 'wsPort'): Promise<void> {
  return new Promise((resolve, reject) => {
    const onError = (err: NodeJS.ErrnoException) => reject(err.code === 'EADDRINUSE' ? new PortInUseError(option, port, host, { cause: err }) : err)
    server.once('error', onError)
    server.listen(port, host, () => {
      server.off('error', onError)
      resolve()
    })
  })
}

function closeServer(server: NetServer | HttpServer): Promise<void> {
  return new Promise((resolve) => server.close(() => resolve()))
}
