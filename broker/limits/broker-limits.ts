/**
 * Every limit of the broker, Mosquitto-style: a name, a default, a
 * `fogmesh broker` flag and a config-file line (`max_connections 10000`).
 * One table (`BROKER_LIMITS`) is the source of the options, their ranges, the
 * CLI flags, the config keys and the README's Limits section.
 *
 * When a limit bites the broker emits a `limit` event (`LimitEvent`) naming it.
 */
import { mergeOptions, type NumberRule } from '../../protocol/options.ts'

export interface BrokerLimits {
  /** Connections at once, in total. */
  maxConnections: number
  /** Connections at once from one IP address. */
  maxConnectionsPerIp: number
  /** Connections that have not finished CONNECT yet, in total. */
  maxPendingConnections: number
  /** Time a new connection has to send its CONNECT (ms). */
  connectTimeoutMs: number
  /** Cap on any packet before the CONNECT is accepted (bytes). */
  preConnectMaxBytes: number
  /** Cap on any MQTT packet (bytes of remaining length). */
  maxPacketBytes: number
  /** Cap on a PUBLISH to `fm/v1/modules/#` (bytes). */
  maxModuleBytes: number
  /** Subscriptions one client may hold. */
  maxSubscriptionsPerClient: number
  /** Subscriptions held by all clients together. */
  maxSubscriptions: number
  /** Retained messages one client id may have set. */
  maxRetainedPerClient: number
  /** Retained bytes (topic + payload) one client id may have set. */
  maxRetainedBytesPerClient: number
  /** Retained messages in the broker. */
  maxRetained: number
  /** Retained bytes in the broker. */
  maxRetainedBytes: number
  /** QoS 1/2 messages queued for one persistent session (clean session 0). */
  maxQueuedPerSession: number
  /** Bytes queued for one persistent session. */
  maxQueuedBytesPerSession: number
  /** Bytes queued for all persistent sessions together. */
  maxQueuedBytes: number
  /** A disconnected persistent session is dropped after this long (ms). */
  sessionExpiryMs: number
  /** Bytes waiting in a subscriber's socket above which QoS 0 to it is dropped (and counted). */
  slowSubscriberBytes: number
  /** Bytes waiting in a subscriber's socket at which it is disconnected (QoS 1 is bounded by this). */
  maxBufferedBytesPerClient: number
  /** A subscriber above `slowSubscriberBytes` for this long without draining is disconnected (ms). */
  frozenSubscriberMs: number
  /** PUBLISH packets a second one client may send (token bucket; over it, the client is slowed down). */
  publishRatePerClient: number
  /** PUBLISH bytes a second one client may send. */
  publishBytesPerClient: number
}

export interface LimitSpec {
  key: keyof BrokerLimits
  /** `--max-connections` */
  flag: string
  /** `max_connections` in a config file. */
  config: string
  default: number
  rule: NumberRule
  /** One line for --help and the README. */
  what: string
}

const KiB = 1024
const MiB = 1024 * 1024
const int = (min: number, max = Number.MAX_SAFE_INTEGER): NumberRule => ({ min, max, integer: true })

/** The limits, in the order --help and the README show them. */
export const BROKER_LIMITS: readonly LimitSpec[] = [
  { key: 'maxConnections', flag: 'max-connections', config: 'max_connections', default: 10_000, rule: int(1), what: 'connections at once, in total' },
  { key: 'maxConnectionsPerIp', flag: 'max-connections-per-ip', config: 'max_connections_per_ip', default: 1000, rule: int(1), what: 'connections at once from one IP address' },
  { key: 'maxPendingConnections', flag: 'max-pending-connections', config: 'max_pending_connections', default: 256, rule: int(1), what: 'connections still before their CONNECT, in total' },
  { key: 'connectTimeoutMs', flag: 'connect-timeout-ms', config: 'connect_timeout_ms', default: 10_000, rule: int(100, 600_000), what: 'time a new connection has to send CONNECT (ms)' },
  { key: 'preConnectMaxBytes', flag: 'pre-connect-max-bytes', config: 'pre_connect_max_bytes', default: 64 * KiB, rule: int(256, 256 * MiB), what: 'cap on any packet before CONNECT is accepted (bytes)' },
  { key: 'maxPacketBytes', flag: 'max-packet-bytes', config: 'max_packet_bytes', default: 2 * MiB, rule: int(1024, 268_435_455), what: 'cap on any MQTT packet (bytes)' },
  { key: 'maxModuleBytes', flag: 'max-module-bytes', config: 'max_module_bytes', default: 16 * MiB, rule: int(1024, 268_435_455), what: 'cap on a module published to fm/v1/modules/# (bytes)' },
  { key: 'maxSubscriptionsPerClient', flag: 'max-subscriptions-per-client', config: 'max_subscriptions_per_client', default: 1000, rule: int(1), what: 'subscriptions one client may hold (more: SUBACK 0x80)' },
  { key: 'maxSubscriptions', flag: 'max-subscriptions', config: 'max_subscriptions', default: 200_000, rule: int(1), what: 'subscriptions of all clients together' },
  { key: 'maxRetainedPerClient', flag: 'max-retained-per-client', config: 'max_retained_per_client', default: 10_000, rule: int(0), what: 'retained messages one client id may set' },
  { key: 'maxRetainedBytesPerClient', flag: 'max-retained-bytes-per-client', config: 'max_retained_bytes_per_client', default: 128 * MiB, rule: int(0), what: 'retained bytes one client id may set' },
  { key: 'maxRetained', flag: 'max-retained', config: 'max_retained', default: 100_000, rule: int(0), what: 'retained messages in the broker' },
  { key: 'maxRetainedBytes', flag: 'max-retained-bytes', config: 'max_retained_bytes', default: 512 * MiB, rule: int(0), what: 'retained bytes in the broker' },
  { key: 'maxQueuedPerSession', flag: 'max-queued-per-session', config: 'max_queued_per_session', default: 1000, rule: int(0), what: 'QoS 1 messages queued for one persistent session' },
  { key: 'maxQueuedBytesPerSession', flag: 'max-queued-bytes-per-session', config: 'max_queued_bytes_per_session', default: 8 * MiB, rule: int(0), what: 'bytes queued for one persistent session' },
  { key: 'maxQueuedBytes', flag: 'max-queued-bytes', config: 'max_queued_bytes', default: 256 * MiB, rule: int(0), what: 'bytes queued for all persistent sessions' },
  { key: 'sessionExpiryMs', flag: 'session-expiry-ms', config: 'session_expiry_ms', default: 3_600_000, rule: int(100), what: 'a disconnected persistent session is dropped after (ms)' },
  { key: 'slowSubscriberBytes', flag: 'slow-subscriber-bytes', config: 'slow_subscriber_bytes', default: 8 * MiB, rule: int(1024), what: 'unsent bytes above which QoS 0 to a subscriber is dropped' },
  { key: 'maxBufferedBytesPerClient', flag: 'max-buffered-bytes-per-client', config: 'max_buffered_bytes_per_client', default: 64 * MiB, rule: int(1024), what: 'unsent bytes at which a subscriber is disconnected' },
  { key: 'frozenSubscriberMs', flag: 'frozen-subscriber-ms', config: 'frozen_subscriber_ms', default: 15_000, rule: int(100), what: 'a subscriber slow for this long is disconnected (ms)' },
  { key: 'publishRatePerClient', flag: 'publish-rate-per-client', config: 'publish_rate_per_client', default: 20_000, rule: int(1), what: 'PUBLISH packets/s one client may send (then it is slowed)' },
  { key: 'publishBytesPerClient', flag: 'publish-bytes-per-client', config: 'publish_bytes_per_client', default: 32 * MiB, rule: int(1024), what: 'PUBLISH bytes/s one client may send (then it is slowed)' },
]

export const BROKER_LIMIT_DEFAULTS: BrokerLimits = Object.fromEntries(BROKER_LIMITS.map((l) => [l.key, l.default])) as unknown as BrokerLimits

const RANGES = Object.fromEntries(BROKER_LIMITS.map((l) => [l.key, l.rule]))

/** The limits with their defaults; an out-of-range value is refused with a ValidationError naming `broker.<limit>`. */
export function resolveBrokerLimits(given: Partial<BrokerLimits> = {}): BrokerLimits {
  return mergeOptions(given, BROKER_LIMIT_DEFAULTS, RANGES, 'broker')
}

/** What a limit did when it bit. */
export type LimitAction = 'refused' | 'closed' | 'dropped' | 'denied' | 'throttled' | 'expired'

/** The broker's `limit` event: which limit bit whom, and what was done. */
export interface LimitEvent {
  limit: keyof BrokerLimits
  action: LimitAction
  /** The client id, when the client got that far. */
  clientId?: string
  /** `ip:port` of the connection, when known. */
  remote?: string
  /** The value that hit the cap (bytes, count, rate), and the cap. */
  value: number
  cap: number
}
