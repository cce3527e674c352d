/**
 * A Sparkplug B edge node (Sparkplug 3.0): the bridge as SCADA sees it.
 *
 * - one MQTT session per birth: CONNECT carries NDEATH as its last will (QoS 1,
 *   with this session's `bdSeq`); a lost session is reconnected with
 *   `bdSeq + 1` (0–255, wrapping), so the host can tell a stale death from a
 *   fresh birth;
 * - NBIRTH (seq 0: `bdSeq`, `Node Control/Rebirth`), then one DBIRTH per
 *   online device with every metric's current value; DDATA per change; DDEATH
 *   when a device goes away (a serial device unplugged); `seq` counts every
 *   message after NBIRTH, 0–255 wrapping;
 * - NCMD `Node Control/Rebirth` = true → NBIRTH and all DBIRTHs again;
 *   DCMD → a `command` event (the bridge routes it through the actuator guards);
 * - `close()` publishes NDEATH itself before disconnecting.
 *
 * Metrics must be declared (`defineDevice`) before they can be born; values of
 * undeclared metrics are counted (`stats.undeclared`), not sent.
 */
import { EventEmitter } from 'node:events'
import { connect, type ClientCredentials, type Connection, type MqttConnection } from '../../protocol/transport.ts'
import { decodePayload, encodePayload, DataType, type Metric, type MetricValue } from './payload.ts'
import { REBIRTH_METRIC, sparkplugTopics as t } from './topics.ts'

export interface SparkplugNodeOptions {
  broker: string
  group: string
  node: string
  clientId?: string
  reconnectMs: number
  /** The first session's bdSeq (0–255). */
  bdSeq?: number
  /** On a broker with identities (the bridge's own: its node id is then its user name, broker/auth/rules.ts). */
  credentials?: ClientCredentials
}

export interface DeviceMetricDef {
  name: string
  datatype: number
  value?: MetricValue
}

export interface SparkplugEvents {
  online: [{ bdSeq: number }]
  offline: [{ bdSeq: number }]
  command: [{ device: string; metric: string; value: MetricValue }]
  rebirth: []
  /** A command payload that did not decode. */
  badCommand: [{ topic: string; error: Error }]
}

interface DeviceState {
  metrics: Map<string, { datatype: number; value: MetricValue; timestamp: number }>
  online: boolean
}

export class SparkplugEdgeNode extends EventEmitter<SparkplugEvents> {
  readonly stats = { births: 0, deaths: 0, data: 0, rebirths: 0, commands: 0, undeclared: 0, sessions: 0 }
  private conn: Connection | undefined
  private readonly devices = new Map<string, DeviceState>()
  private seqNext = 0
  private bdSeqNow: number
  private stopping = false
  private timer: NodeJS.Timeout | undefined

  constructor(private readonly options: SparkplugNodeOptions) {
    super()
    this.bdSeqNow = (options.bdSeq ?? 0) & 0xff
  }

  get bdSeq(): number {
    return this.bdSeqNow
  }

  get connected(): boolean {
    return this.conn !== undefined
  }

  defineDevice(device: string, metrics: DeviceMetricDef[]): void {
    const now = Date.now()
    this.devices.set(device, {
      online: false,
      metrics: new Map(metrics.map((m) => [m.name, { datatype: m.datatype, value: m.value ?? null, timestamp: now }])),
    })
  }

  async start(): Promise<void> {
    await this.session()
  }

  private async session(): Promise<void> {
    this.timer = undefined
    if (this.stopping) return
    const { group, node } = this.options
    const bdSeq = this.bdSeqNow
    // the concrete mqtt.js connection: a session ends with its socket ('close'), which the port does not model
    let conn: MqttConnection
    try {
      conn = await connect(this.options.broker, {
        clientId: this.options.clientId ?? `spb-${group}-${node}`.slice(0, 64),
        reconnect: false,
        ...(this.options.credentials ? { credentials: this.options.credentials } : {}),
        will: { topic: t.node(group, 'NDEATH', node), payload: Buffer.from(this.deathPayload(bdSeq)), qos: 1, retain: false },
      })
    } catch {
      this.timer = setTimeout(() => void this.session(), this.options.reconnectMs)
      return
    }
    if (this.stopping) return void conn.close(true)
    this.stats.sessions++
    conn.route(t.node(group, 'NCMD', node), (topic, p) => this.onNodeCommand(p, topic))
    conn.route(t.device(group, 'DCMD', node, '+'), (topic, p) => this.onDeviceCommand(topic, p))
    let live = false
    conn.client.once('close', () => {
      if (this.conn === conn) this.conn = undefined
      if (live) this.emit('offline', { bdSeq })
      conn.client.end(true)
      if (this.stopping) return
      this.bdSeqNow = (bdSeq + 1) & 0xff
      this.timer = setTimeout(() => void this.session(), this.options.reconnectMs)
    })
    try {
      await conn.subscribe([t.node(group, 'NCMD', node), t.device(group, 'DCMD', node, '+')], 1)
    } catch {
      conn.client.stream?.destroy() // the close handler reconnects
      return
    }
    if (!conn.client.connected) return
    live = true
    this.conn = conn
    this.birth()
    this.emit('online', { bdSeq })
  }

  private deathPayload(bdSeq: number): Uint8Array {
    return encodePayload({ timestamp: Date.now(), metrics: [{ name: 'bdSeq', datatype: DataType.Int64, value: bdSeq }] })
  }

  private nextSeq(): number {
    const s = this.seqNext
    this.seqNext = (this.seqNext + 1) & 0xff
    return s
  }

  private publish(topic: string, metrics: Metric[], qos: 0 | 1 = 0): void {
    this.conn?.publish(topic, Buffer.from(encodePayload({ timestamp: Date.now(), seq: this.nextSeq(), metrics })), { qos })
  }

  /** NBIRTH (seq 0) and a DBIRTH for every online device. */
  private birth(): void {
    const { group, node } = this.options
    this.seqNext = 0
    this.publish(t.node(group, 'NBIRTH', node), [
      { name: 'bdSeq', datatype: DataType.Int64, value: this.bdSeqNow },
      { name: REBIRTH_METRIC, datatype: DataType.Boolean, value: false },
    ])
    this.stats.births++
    for (const [name, d] of this.devices) if (d.online) this.deviceBirth(name, d)
  }

  private deviceBirth(name: string, d: DeviceState): void {
    const metrics: Metric[] = [...d.metrics].map(([metric, m]) => ({ name: metric, datatype: m.datatype, value: m.value, timestamp: m.timestamp }))
    this.publish(t.device(this.options.group, 'DBIRTH', this.options.node, name), metrics)
    this.stats.births++
  }

  /** The device is there: DBIRTH with its metrics' current values. */
  deviceOnline(device: string): void {
    const d = this.devices.get(device)
    if (!d || d.online) return
    d.online = true
    if (this.conn) this.deviceBirth(device, d)
  }

  /** The device went away: DDEATH. */
  deviceOffline(device: string): void {
    const d = this.devices.get(device)
    if (!d?.online) return
    d.online = false
    if (!this.conn) return
    this.publish(t.device(this.options.group, 'DDEATH', this.options.node, device), [])
    this.stats.deaths++
  }

  /** New values: stored for the next birth, sent now as one DDATA when the device is online. */
  update(device: string, values: Array<{ name: string; value: MetricValue; timestamp?: number }>): void {
    const d = this.devices.get(device)
    if (!d) {
      this.stats.undeclared += values.length
      return
    }
    const out: Metric[] = []
    for (const v of values) {
      const m = d.metrics.get(v.name)
      if (!m) {
        this.stats.undeclared++
        continue
      }
      m.value = v.value
      m.timestamp = v.timestamp ?? Date.now()
      out.push({ name: v.name, datatype: m.datatype, value: v.value, timestamp: m.timestamp })
    }
    if (out.length === 0 || !d.online || !this.conn) return
    this.publish(t.device(this.options.group, 'DDATA', this.options.node, device), out)
    this.stats.data++
  }

  private onNodeCommand(payload: Buffer, topic: string): void {
    let metrics: Metric[]
    try {
      metrics = decodePayload(payload).metrics
    } catch (err) {
      this.emit('badCommand', { topic, error: err as Error })
      return
    }
    this.stats.commands++
    if (metrics.some((m) => m.name === REBIRTH_METRIC && m.value === true)) {
      this.stats.rebirths++
      this.birth()
      this.emit('rebirth')
    }
  }

  private onDeviceCommand(topic: string, payload: Buffer): void {
    const device = topic.split('/')[4] ?? ''
    let metrics: Metric[]
    try {
      metrics = decodePayload(payload).metrics
    } catch (err) {
      this.emit('badCommand', { topic, error: err as Error })
      return
    }
    this.stats.commands++
    for (const m of metrics) this.emit('command', { device, metric: m.name, value: m.value })
  }

  async close(): Promise<void> {
    this.stopping = true
    clearTimeout(this.timer)
    const conn = this.conn
    this.conn = undefined
    if (!conn) return
    for (const [, d] of this.devices) d.online = false
    // an orderly death: the host learns at once, not after the keepalive
    await conn.publishAsync(t.node(this.options.group, 'NDEATH', this.options.node), Buffer.from(this.deathPayload(this.bdSeqNow)), { qos: 1 }).catch(() => {})
    this.stats.deaths++
    await conn.close()
  }
}
