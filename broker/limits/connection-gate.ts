/**
 * Connections in total, per IP address, and still before their CONNECT: a
 * connection over any of them is closed before aedes sees a byte of it.
 */
import type { BrokerLimits, LimitEvent } from './broker-limits.ts'

export type GateLimits = Pick<BrokerLimits, 'maxConnections' | 'maxConnectionsPerIp' | 'maxPendingConnections'>

export interface Admission {
  /** The CONNECT was accepted: no longer pending. */
  connected(): void
  /** The connection closed. */
  closed(): void
}

export class ConnectionGate {
  private total = 0
  private pending = 0
  private readonly perIp = new Map<string, number>()

  constructor(private readonly limits: GateLimits) {}

  /** An admission for a new connection from `ip`, or the limit event that refuses it. */
  admit(ip: string, remote: string): Admission | LimitEvent {
    const l = this.limits
    const fromIp = this.perIp.get(ip) ?? 0
    if (this.total >= l.maxConnections) return { limit: 'maxConnections', action: 'refused', remote, value: this.total + 1, cap: l.maxConnections }
    if (fromIp >= l.maxConnectionsPerIp) return { limit: 'maxConnectionsPerIp', action: 'refused', remote, value: fromIp + 1, cap: l.maxConnectionsPerIp }
    if (this.pending >= l.maxPendingConnections) return { limit: 'maxPendingConnections', action: 'refused', remote, value: this.pending + 1, cap: l.maxPendingConnections }
    this.total++
    this.pending++
    this.perIp.set(ip, fromIp + 1)
    let pending = true
    let open = true
    return {
      connected: () => {
        if (pending) this.pending--
        pending = false
      },
      closed: () => {
        if (!open) return
        open = false
        if (pending) this.pending--
        pending = false
        this.total--
        const n = (this.perIp.get(ip) ?? 1) - 1
        if (n <= 0) this.perIp.delete(ip)
        else this.perIp.set(ip, n)
      },
    }
  }

  stats(): { connections: number; pending: number; ips: number } {
    return { connections: this.total, pending: this.pending, ips: this.perIp.size }
  }
}

export const isLimitEvent = (x: Admission | LimitEvent): x is LimitEvent => 'limit' in x
