/**
 * One socket write per connection per event-loop turn, not one per packet.
 *
 * mqtt-packet corks a stream for each packet it writes and uncorks it on the
 * next tick, so packets written in one synchronous run share a write — but
 * aedes hands packets on through callbacks and `setImmediate`, so under load
 * the packets bound for one client in one turn (PUBACKs, forwarded publishes)
 * each paid a `writev` syscall of their own: ~30% of the broker process's CPU
 * at 32 jobs in flight (issue 15). Here the first write of a turn also holds
 * the stream corked until `setImmediate`, the end of the same loop turn: the
 * turn's packets leave in one `writev`, and a lone packet is not delayed by a
 * timer (the check phase follows the poll phase that produced it).
 *
 * Bounds are unchanged: corked bytes count in `writableLength`, which the
 * broker's slow-subscriber bound reads (broker/limits/slow-subscribers.ts), and
 * a turn's bytes are bounded by what the turn read. The broker does this for
 * every connection; a client asks for it with `ConnectOptions.writesPerTurn`
 * (the requester and the gateway, many packets a turn). Idempotent per stream.
 */
import type { Duplex } from 'node:stream'

const wrapped = new WeakSet<Duplex>()

/** Makes `conn` flush its packets once per event-loop turn. */
export function writeOncePerTurn(conn: Duplex): void {
  if (wrapped.has(conn)) return
  wrapped.add(conn)
  let held = false
  const release = () => {
    held = false
    if (!conn.destroyed) conn.uncork()
  }
  const cork = conn.cork
  conn.cork = function corkForTurn(this: Duplex): void {
    if (!held && !this.destroyed) {
      held = true
      cork.call(this)
      setImmediate(release)
    }
    cork.call(this)
  }
}
