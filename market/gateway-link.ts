/**
 * The gateway inside `fogmesh broker` reaches the broker without a loopback
 * TCP client: its MQTT client in the worker thread speaks over a
 * MessageChannel (protocol/transport/port-stream.ts) whose other end the
 * broker's thread hands to the broker like any accepted socket
 * (`broker.handleLocal`). It is still MQTT 3.1.1 end to end, so everything
 * the broker does for a client holds for the gateway as before: its
 * persistent session (with a journal, submits are queued while it restarts),
 * retained messages, QoS 1 (a PUBACK only for what the broker took), the
 * authentication and access rules, the connection and per-client limits.
 * Only the kernel's loopback TCP is gone (bench/gateway-link.bench.ts).
 *
 * One channel per (re)connect: the worker posts `{ type: 'link', port }` to
 * its parent; a worker that dies closes its ports, which ends its
 * connection in the broker like a reset socket.
 */
import { MessageChannel, type MessagePort, type TransferListItem } from 'node:worker_threads'
import type { Duplex } from 'node:stream'
import type { Connector } from '../protocol/transport.ts'
import { connectStream } from '../protocol/transport/mqtt-connection.ts'
import { PortStream } from '../protocol/transport/port-stream.ts'

/** What a worker posts to its parent for each connection of its link. */
export interface LinkMessage {
  type: 'link'
  port: MessagePort
}

/** Worker side: a connector whose connections reach the parent's broker over fresh MessageChannels. */
export function portLinkConnector(post: (m: LinkMessage, transfer: TransferListItem[]) => void): Connector {
  return {
    connect: (options) =>
      connectStream(() => {
        const { port1, port2 } = new MessageChannel()
        post({ type: 'link', port: port2 }, [port2])
        return new PortStream(port1)
      }, 'in-process link', options),
  }
}

/** Broker side: the link's end as a stream for the broker (`broker.handleLocal`). */
export function acceptLink(m: LinkMessage, handle: (conn: Duplex) => void): void {
  handle(new PortStream(m.port))
}
