/**
 * The firmware bridge: serial devices and GPIO lines to and from MQTT, with
 * guarded actuators and, optionally, a Sparkplug B edge node.
 *
 * Like the broker, it does not log: everything worth knowing is an event
 * (`reading`, `drop`, `device`, `actuator`, `gpio`, `sparkplug`) and a counter
 * (`stats()`, also published on `<prefix>/stats`). Topics: `topics.ts`.
 */
import { EventEmitter } from 'node:events'
import { connect, type ClientCredentials, type Connection } from '../protocol/transport.ts'
import { Actuator, type ActuatorEvents } from './actuation/actuator.ts'
import { parseCommand } from './actuation/command.ts'
import type { BridgeConfig, SerialDeviceConfig } from './config.ts'
import { Debouncer } from './gpio/debounce.ts'
import type { GpioChip, GpioInput, GpioOutput, Level } from './gpio/gpio.ts'
import { GpiodToolsChip } from './gpio/gpiod-tools-chip.ts'
import { MemoryChip } from './gpio/memory-chip.ts'
import { SysfsChip } from './gpio/sysfs-chip.ts'
import { binaryProtocol, rawProtocol } from './serial/binary.ts'
import type { DropReason } from './serial/framing.ts'
import { jsonLinesProtocol } from './serial/json-lines.ts'
import { nmeaProtocol } from './serial/nmea.ts'
import type { Protocol, Reading, Value } from './serial/protocol.ts'
import { SerialDevice, type Hello } from './serial/serial-device.ts'
import { SerialPortLink } from './serial/serialport-link.ts'
import { SparkplugEdgeNode } from './sparkplug/edge-node.ts'
import { DataType } from './sparkplug/payload.ts'
import { gpioTarget, serialTarget } from './targets.ts'
import { bridgeTopics } from './topics.ts'

export interface BridgeOptions {
  broker: string
  config: BridgeConfig
  /** A GPIO chip to use instead of the one `gpio.driver` opens (tests pass a MemoryChip). */
  gpioChip?: GpioChip
  /** On a broker with identities: a sensor named after the bridge (its topics are `fm/v1/bridge/<name>/…`), and a CA for mqtts://. */
  credentials?: ClientCredentials
}

type ActuatorEvent = { [K in keyof ActuatorEvents]: { actuator: string; type: K } & ActuatorEvents[K][0] }[keyof ActuatorEvents]

export interface BridgeEvents {
  reading: [{ device: string; sensor: string; value: Value; topic: string }]
  drop: [{ device: string; reason: DropReason; bytes: number }]
  device: [{ device: string; type: 'open' | 'close' | 'retry' | 'hello'; detail?: string }]
  actuator: [ActuatorEvent]
  gpio: [{ input: string; value: Level; bounces: number } | { error: string }]
  sparkplug: [{ type: 'online' | 'offline' | 'rebirth'; bdSeq: number }]
}

function protocolFor(d: SerialDeviceConfig): Protocol {
  switch (d.protocol.type) {
    case 'json-lines':
      return jsonLinesProtocol()
    case 'nmea':
      return nmeaProtocol({ requireChecksum: d.protocol.requireChecksum })
    case 'binary':
      return binaryProtocol(d.protocol.fields)
    case 'raw':
      return rawProtocol(d.protocol.sensor)
  }
}

function datatypeOf(v: Value): number {
  return typeof v === 'boolean' ? DataType.Boolean : typeof v === 'string' ? DataType.String : DataType.Double
}

export class Bridge extends EventEmitter<BridgeEvents> {
  readonly devices = new Map<string, SerialDevice>()
  readonly actuators = new Map<string, Actuator>()
  readonly topics: ReturnType<typeof bridgeTopics>
  sparkplug: SparkplugEdgeNode | undefined
  private readonly seq = new Map<string, number>()
  private readonly readingCounts = { published: 0, gpioEvents: 0, commandsIn: 0 }
  private chip: GpioChip | undefined
  private readonly inputs: Array<{ input: GpioInput; debouncer: Debouncer }> = []
  private readonly outputs = new Map<string, GpioOutput>()
  private statsTimer: NodeJS.Timeout | undefined

  private constructor(readonly conn: Connection, readonly config: BridgeConfig) {
    super()
    this.topics = bridgeTopics(config.topicPrefix)
  }

  static async start(options: BridgeOptions): Promise<Bridge> {
    const { config } = options
    const status = bridgeTopics(config.topicPrefix).status
    const conn = await connect(options.broker, {
      clientId: `fm-bridge-${config.name}`.slice(0, 64),
      ...(options.credentials ? { credentials: options.credentials } : {}),
      will: { topic: status, payload: JSON.stringify({ online: false, bridge: config.name }), retain: true, qos: 1 },
    })
    const bridge = new Bridge(conn, config)
    try {
      await bridge.open(options)
    } catch (err) {
      await bridge.close().catch(() => {})
      throw err
    }
    return bridge
  }

  private async open(options: BridgeOptions): Promise<void> {
    const { config } = this
    if (config.sparkplug) {
      this.sparkplug = new SparkplugEdgeNode({
        broker: options.broker, ...config.sparkplug, reconnectMs: config.sparkplug.reconnectMs ?? 1000, ...(options.credentials ? { credentials: options.credentials } : {}),
      })
      for (const e of ['online', 'offline'] as const) this.sparkplug.on(e, ({ bdSeq }) => this.emit('sparkplug', { type: e, bdSeq }))
      this.sparkplug.on('rebirth', () => this.emit('sparkplug', { type: 'rebirth', bdSeq: this.sparkplug?.bdSeq ?? 0 }))
      this.sparkplug.on('command', (c) => this.onSparkplugCommand(c.device, c.metric, c.value))
    }
    for (const d of config.serial) this.addSerial(d)
    if (config.gpio) await this.openGpio(options.gpioChip)
    for (const a of config.actuators ?? []) await this.addActuator(a)
    this.defineSparkplugDevices()
    if (this.sparkplug) {
      if (config.gpio) this.sparkplug.deviceOnline(config.gpio.device ?? 'gpio')
      await this.sparkplug.start()
    }
    for (const d of this.devices.values()) d.start()
    const commandTopics = [...this.actuators.keys()].map((n) => this.commandTopic(n))
    if (commandTopics.length) await this.conn.subscribe(commandTopics, 1)
    await this.conn.publishAsync(this.topics.status, JSON.stringify({ online: true, bridge: config.name, devices: [...this.devices.keys()], actuators: [...this.actuators.keys()] }), { retain: true })
    if (config.limits.statsIntervalMs > 0) {
      this.statsTimer = setInterval(() => this.conn.publish(this.topics.stats, JSON.stringify(this.stats())), config.limits.statsIntervalMs)
      this.statsTimer.unref()
    }
  }

  private readingBase(d: { name: string; topic?: string }): string {
    return d.topic ?? this.topics.readings(d.name)
  }

  private commandTopic(actuator: string): string {
    return this.config.actuators?.find((a) => a.name === actuator)?.topic ?? this.topics.command(actuator)
  }

  private addSerial(d: SerialDeviceConfig): void {
    const l = d.limits
    const link = new SerialPortLink({ path: d.path, baudRate: d.baudRate, reconnectMinMs: l.reconnectMinMs, reconnectMaxMs: l.reconnectMaxMs, maxWriteQueueBytes: l.maxWriteQueueBytes })
    const dev = new SerialDevice(link, { name: d.name, framing: d.framing, protocol: protocolFor(d), maxFrameBytes: l.maxFrameBytes, requestTimeoutMs: l.requestTimeoutMs, maxPendingRequests: l.maxPendingRequests })
    this.devices.set(d.name, dev)
    const base = this.readingBase(d)
    dev.on('readings', (rs) => this.publishReadings(d.name, base, rs, d.format ?? 'json', d.sensors))
    dev.on('drop', (x) => this.emit('drop', { device: d.name, ...x }))
    dev.on('open', () => {
      this.event({ type: 'device', device: d.name, state: 'open' })
      this.emit('device', { device: d.name, type: 'open' })
      this.sparkplug?.deviceOnline(d.name)
      for (const a of this.config.actuators ?? []) if (a.serial?.device === d.name) void this.actuators.get(a.name)?.reapply()
    })
    dev.on('close', (e) => {
      this.event({ type: 'device', device: d.name, state: 'closed', error: e.error?.message })
      this.emit('device', { device: d.name, type: 'close', ...(e.error ? { detail: e.error.message } : {}) })
      this.sparkplug?.deviceOffline(d.name)
    })
    dev.on('retry', (r) => this.emit('device', { device: d.name, type: 'retry', detail: `attempt ${r.attempt}, next in ${r.delayMs} ms: ${r.error.message}` }))
    dev.on('hello', (h: Hello) => this.emit('device', { device: d.name, type: 'hello', detail: h.firmware }))
  }

  private publishReadings(device: string, base: string, readings: Reading[], format: 'json' | 'value', decl?: Record<string, { unit?: string }>): void {
    const ts = Date.now()
    for (const r of readings) {
      const topic = this.topics.reading(base, r.sensor)
      const seq = (this.seq.get(device) ?? 0) + 1
      this.seq.set(device, seq)
      const unit = r.unit ?? decl?.[r.sensor]?.unit
      const payload =
        format === 'value'
          ? String(r.value)
          : JSON.stringify({ device, sensor: r.sensor, value: r.value, ...(unit ? { unit } : {}), ts, seq, ...(r.deviceTime === undefined ? {} : { deviceTime: r.deviceTime }) })
      this.conn.publish(topic, payload)
      this.readingCounts.published++
      this.emit('reading', { device, sensor: r.sensor, value: r.value, topic })
    }
    this.sparkplug?.update(device, readings.map((r) => ({ name: r.sensor, value: r.value, timestamp: ts })))
  }

  private async openGpio(injected: GpioChip | undefined): Promise<void> {
    const g = this.config.gpio
    if (!g) return
    this.chip = injected ?? (g.driver === 'gpiod' ? await GpiodToolsChip.open({ chip: g.chip ?? 'gpiochip0' }) : g.driver === 'sysfs' ? await SysfsChip.open(g.chip) : new MemoryChip())
    const device = g.device ?? 'gpio'
    const base = this.topics.readings(device)
    for (const spec of g.inputs ?? []) {
      let debouncer: Debouncer | undefined
      const input = await this.chip.input(
        { line: spec.line, ...(spec.bias ? { bias: spec.bias } : {}), ...(spec.activeLow ? { activeLow: true } : {}) },
        (e) => debouncer?.edge(e.value, e.timeMs),
        (err) => this.emit('gpio', { error: err.message }),
      )
      debouncer = new Debouncer(spec.debounceMs ?? 20, (s) => {
        this.readingCounts.gpioEvents++
        this.publishReadings(device, base, [{ sensor: spec.name, value: s.value }], 'json')
        this.emit('gpio', { input: spec.name, value: s.value, bounces: s.bounces })
      }, input.value)
      this.inputs.push({ input, debouncer })
    }
    for (const spec of g.outputs ?? []) {
      const act = this.config.actuators?.find((a) => a.gpio === spec.name)
      const initial = act ? (act.initial ?? act.safe) : 0
      const level: Level = initial === true || initial === 1 ? 1 : 0
      this.outputs.set(spec.name, await this.chip.output({ line: spec.line, initial: level, ...(spec.activeLow ? { activeLow: true } : {}) }))
    }
  }

  private async addActuator(a: NonNullable<BridgeConfig['actuators']>[number]): Promise<void> {
    const l = this.config.limits
    const serialDev = a.serial ? this.devices.get(a.serial.device) : undefined
    const target = a.gpio !== undefined ? gpioTarget(() => this.outputs.get(a.gpio as string)) : serialTarget(serialDev as SerialDevice, { name: a.serial?.name ?? a.name, ...(a.serial?.text ? { text: a.serial.text } : {}), ...(a.serial?.expect ? { expect: a.serial.expect } : {}) })
    const act = new Actuator(a.name, {
      allowed: a.allowed,
      ratePerSecond: a.rateLimit?.perSecond ?? 10,
      burst: a.rateLimit?.burst ?? Math.max(1, Math.ceil(a.rateLimit?.perSecond ?? 10)),
      watchdogMs: a.watchdogMs ?? 0,
      safe: a.safe,
      initial: a.initial ?? a.safe,
      maxSequenceIds: l.maxSequenceIds,
    }, target)
    this.actuators.set(a.name, act)
    const device = a.gpio !== undefined ? (this.config.gpio?.device ?? 'gpio') : (a.serial?.device as string)
    for (const type of ['applied', 'refused', 'coalesced', 'failed', 'watchdog'] as const) {
      act.on(type, (e: object) => {
        this.emit('actuator', { actuator: a.name, type, ...e } as ActuatorEvent)
        if (type === 'applied') {
          const { value, source } = e as { value: Value; source: string }
          this.conn.publish(this.topics.state(a.name), JSON.stringify({ actuator: a.name, value, source, ts: Date.now() }), { retain: true, qos: 1 })
          this.sparkplug?.update(device, [{ name: a.name, value }])
        } else if (type !== 'coalesced') {
          this.event({ type, actuator: a.name, ...e, ...('error' in e ? { error: (e.error as Error).message } : {}) })
        }
      })
    }
    this.conn.route(this.commandTopic(a.name), (_t, payload) => {
      this.readingCounts.commandsIn++
      act.command(parseCommand(payload, l.maxCommandBytes))
    })
    await act.start(a.gpio !== undefined)
  }

  private defineSparkplugDevices(): void {
    const sp = this.sparkplug
    if (!sp) return
    const acts = this.config.actuators ?? []
    const actMetrics = (device: string) => acts.filter((a) => (a.gpio !== undefined ? (this.config.gpio?.device ?? 'gpio') : a.serial?.device) === device).map((a) => ({ name: a.name, datatype: datatypeOf(a.safe), value: this.actuators.get(a.name)?.value ?? null }))
    for (const d of this.config.serial) {
      const sensors = Object.entries(d.sensors ?? {}).map(([name, s]) => ({ name, datatype: DataType[s.type ?? 'Double'] }))
      sp.defineDevice(d.name, [...sensors, ...actMetrics(d.name)])
    }
    const g = this.config.gpio
    if (g) {
      const device = g.device ?? 'gpio'
      const inputs = (g.inputs ?? []).map((i, k) => ({ name: i.name, datatype: DataType.Double, value: this.inputs[k]?.debouncer.value ?? null }))
      sp.defineDevice(device, [...inputs, ...actMetrics(device)])
    }
  }

  private onSparkplugCommand(device: string, metric: string, value: Value | null): void {
    const a = this.config.actuators?.find((x) => x.name === metric && (x.gpio !== undefined ? (this.config.gpio?.device ?? 'gpio') : x.serial?.device) === device)
    const act = a && this.actuators.get(a.name)
    if (!act) return
    act.command(value === null ? 'invalid' : { value })
  }

  private event(e: Record<string, unknown>): void {
    this.conn.publish(this.topics.events, JSON.stringify({ ...e, ts: Date.now() }))
  }

  stats() {
    const devices: Record<string, SerialDevice['stats']> = {}
    for (const [n, d] of this.devices) devices[n] = d.stats
    const actuators: Record<string, Actuator['stats'] & { value: Value | undefined }> = {}
    for (const [n, a] of this.actuators) actuators[n] = { ...a.stats, value: a.value }
    const bounces = this.inputs.reduce((n, i) => n + i.debouncer.bounces, 0)
    return { bridge: this.config.name, ...this.readingCounts, gpioBounces: bounces, devices, actuators, ...(this.sparkplug ? { sparkplug: { ...this.sparkplug.stats, bdSeq: this.sparkplug.bdSeq } } : {}) }
  }

  /** Actuators to their safe values, devices closed, NDEATH, status offline. */
  async close(): Promise<void> {
    clearInterval(this.statsTimer)
    await Promise.all([...this.actuators.values()].map((a) => a.close()))
    for (const { input, debouncer } of this.inputs) {
      debouncer.stop()
      await input.close()
    }
    for (const o of this.outputs.values()) await o.close()
    await this.chip?.close()
    await Promise.all([...this.devices.values()].map((d) => d.close()))
    await this.sparkplug?.close()
    await this.conn.publishAsync(this.topics.status, JSON.stringify({ online: false, bridge: this.config.name }), { retain: true }).catch(() => {})
    await this.conn.close()
  }
}
