/**
 * The broker's own Prometheus metrics: connections, messages and bytes in and
 * out, packet-cap violations, refused modules, limits that bit (by limit and action). Fed from the events the broker
 * and aedes already emit, from aedes' `authorizeForward` hook (called once
 * per delivery: the messages sent), and from the sockets' own byte counters
 * (read when Prometheus scrapes, not per packet). The per-message counts are
 * plain numbers on the hot path, handed to their counters when Prometheus
 * scrapes (no prom-client call per message).
 */
import type { Socket } from 'node:net'
import { Counter, Gauge, type Registry } from 'prom-client'
import type { Broker } from './broker.ts'
import type { LimitEvent } from './limits/broker-limits.ts'

export interface BrokerMetrics {
  /** Stops counting (the metrics stay registered). */
  detach(): void
}

export function registerBrokerMetrics(broker: Broker, registry: Registry): BrokerMetrics {
  const live = new Set<Socket>()
  const closed = { read: 0, written: 0 }
  const reported = { read: 0, written: 0 }
  const registers = [registry]

  new Gauge({
    name: 'fogmesh_broker_connections',
    help: 'MQTT clients connected now',
    registers,
    collect() {
      this.set(broker.aedes.connectedClients)
    },
  })
  const accepted = new Counter({ name: 'fogmesh_broker_connections_total', help: 'Connections accepted, by transport', labelNames: ['transport'] as const, registers })
  /** Counted per message since the last scrape. */
  const tally = { received: 0, sent: 0, receivedPayload: 0 }
  const tallied = (name: string, help: string, key: keyof typeof tally) =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        if (tally[key] > 0) this.inc(tally[key])
        tally[key] = 0
      },
    })
  tallied('fogmesh_broker_messages_received_total', 'PUBLISH packets received from clients', 'received')
  tallied('fogmesh_broker_messages_sent_total', 'PUBLISH packets delivered to subscribers', 'sent')
  tallied('fogmesh_broker_received_payload_bytes_total', 'Payload bytes of PUBLISH packets received from clients', 'receivedPayload')
  const bytes = (name: string, help: string, key: 'read' | 'written') =>
    new Counter({
      name,
      help,
      registers,
      collect() {
        let total = closed[key]
        for (const s of live) total += key === 'read' ? s.bytesRead : s.bytesWritten
        if (total > reported[key]) this.inc(total - reported[key])
        reported[key] = Math.max(reported[key], total)
      },
    })
  bytes('fogmesh_broker_received_bytes_total', 'Bytes read from client sockets (TCP and WebSocket, framing included)', 'read')
  bytes('fogmesh_broker_sent_bytes_total', 'Bytes written to client sockets (TCP and WebSocket, framing included)', 'written')
  const violations = new Counter({ name: 'fogmesh_broker_packet_cap_violations_total', help: 'Connections closed for declaring a packet over its cap', registers })
  const rejectedModules = new Counter({ name: 'fogmesh_broker_modules_rejected_total', help: 'Module publishes refused (bytes not hashing to the topic)', registers })
  const limitsBit = new Counter({
    name: 'fogmesh_broker_limit_events_total',
    help: 'Times a broker limit bit (broker/limits/broker-limits.ts), by limit and what was done',
    labelNames: ['limit', 'action'] as const,
    registers,
  })
  const clientErrors = new Counter({ name: 'fogmesh_broker_client_errors_total', help: 'Client protocol or socket errors', registers })

  const onConnection = (c: { socket: Socket; transport: 'tcp' | 'ws' }) => {
    accepted.inc({ transport: c.transport })
    live.add(c.socket)
    c.socket.once('close', () => {
      live.delete(c.socket)
      closed.read += c.socket.bytesRead
      closed.written += c.socket.bytesWritten
    })
  }
  const onPublish = (packet: { payload: Buffer | string }, client: unknown) => {
    if (!client) return // the broker's own $SYS messages
    tally.received++
    tally.receivedPayload += packet.payload.length
  }
  const onViolation = () => violations.inc()
  const onModuleRejected = () => rejectedModules.inc()
  const onClientError = () => clientErrors.inc()
  const onLimit = (e: LimitEvent) => limitsBit.inc({ limit: e.limit, action: e.action })

  broker.on('connection', onConnection)
  broker.on('violation', onViolation)
  broker.on('moduleRejected', onModuleRejected)
  broker.on('clientError', onClientError)
  broker.on('limit', onLimit)
  broker.aedes.on('publish', onPublish)
  // aedes calls this hook once per delivery; the policy already there (if any) still decides
  const aedes = broker.aedes
  const forward = aedes.authorizeForward
  aedes.authorizeForward = function countedForward(client, packet) {
    const out = forward.call(aedes, client, packet)
    if (out) tally.sent++
    return out
  }

  return {
    detach() {
      broker.off('connection', onConnection)
      broker.off('violation', onViolation)
      broker.off('moduleRejected', onModuleRejected)
      broker.off('clientError', onClientError)
      broker.off('limit', onLimit)
      broker.aedes.off('publish', onPublish as never)
      aedes.authorizeForward = forward
    },
  }
}
