/**
 * The bridge's config file: JSON, checked once at the boundary. Every error
 * names the field (`serial[0].framing.length: expected ...`); unknown fields
 * are refused (a typo must not silently mean "default"); every limit has a
 * name and a default (`LIMIT_DEFAULTS`), overridable globally (`limits`) and
 * per serial device.
 */
import { ErrorCode, FogmeshError, ValidationError } from '../protocol/errors.ts'
import { mergeOptions, type Ranges } from '../protocol/options.ts'
import { array, boolean, literal, number, object, optional, publishTopic, record, string, type Parser } from '../protocol/validate.ts'
import type { Allowed } from './actuation/actuator.ts'
import { FIELD_TYPES, frameSize, type BinaryField, type FieldType } from './serial/binary.ts'
import type { FramingSpec } from './serial/framing.ts'
import { SENSOR_NAME, type Value } from './serial/protocol.ts'
import { DataType, type DataTypeName } from './sparkplug/payload.ts'
import { SPARKPLUG_ID } from './sparkplug/topics.ts'

export const LIMIT_DEFAULTS = {
  /** Longest frame (line) accepted from a device, bytes; longer ones are dropped and counted. */
  maxFrameBytes: 1024,
  /** How long a request to a device waits for its reply. */
  requestTimeoutMs: 1000,
  /** Requests waiting for a reply per device; more are refused (`overloaded`). */
  maxPendingRequests: 32,
  /** Reconnect backoff of a serial device that went away: first delay, cap. */
  reconnectMinMs: 250,
  reconnectMaxMs: 5000,
  /** Bytes queued for writing to one device before writes are refused. */
  maxWriteQueueBytes: 64 * 1024,
  /** Largest MQTT command payload taken on an actuator's command topic. */
  maxCommandBytes: 4096,
  /** How often the bridge publishes its counters on `<prefix>/stats` (0: never). */
  statsIntervalMs: 10_000,
  /** Distinct command ids remembered per actuator for duplicate detection. */
  maxSequenceIds: 64,
}
export type Limits = typeof LIMIT_DEFAULTS

const LIMIT_RANGES: Ranges<Limits> = {
  maxFrameBytes: { min: 16, max: 1024 * 1024, integer: true },
  requestTimeoutMs: { min: 1, max: 600_000, integer: true },
  maxPendingRequests: { min: 1, max: 10_000, integer: true },
  reconnectMinMs: { min: 10, max: 600_000, integer: true },
  reconnectMaxMs: { min: 10, max: 3_600_000, integer: true },
  maxWriteQueueBytes: { min: 64, max: 64 * 1024 * 1024, integer: true },
  maxCommandBytes: { min: 16, max: 1024 * 1024, integer: true },
  statsIntervalMs: { min: 0, max: 86_400_000, integer: true },
  maxSequenceIds: { min: 1, max: 100_000, integer: true },
}

/** `object()` that refuses fields it does not know. */
function strict<S extends Record<string, Parser<unknown>>>(shape: S) {
  const parse = object(shape)
  return (v: unknown, path: string) => {
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) {
      for (const k of Object.keys(v)) if (!(k in shape)) throw new ValidationError(path ? `${path}.${k}` : k, `a known field (one of: ${Object.keys(shape).join(', ')})`)
    }
    return parse(v, path)
  }
}

const name = string({ min: 1, max: 64, pattern: SENSOR_NAME, describe: '1..64 characters of [A-Za-z0-9._-]' })
const limitsParser = optional(record(number(), { maxKeys: 16, key: literal(...(Object.keys(LIMIT_DEFAULTS) as (keyof Limits)[])) }))
const scalar: Parser<Value> = (v, path) => {
  if ((typeof v === 'number' && Number.isFinite(v)) || typeof v === 'boolean' || (typeof v === 'string' && v.length <= 256)) return v
  throw new ValidationError(path, 'a number, a boolean or a string')
}

const framing: Parser<FramingSpec> = (v, path) => {
  if (v === undefined || v === 'line') return { type: 'line' }
  if (v === 'cobs') return { type: 'cobs' }
  const o = strict({
    type: literal('line', 'delimiter', 'fixed', 'cobs'),
    delimiter: optional(string({ min: 1, max: 16 })),
    hex: optional(string({ min: 2, max: 32, pattern: /^([0-9a-fA-F]{2})+$/, describe: 'hex bytes, e.g. "0d0a"' })),
    length: optional(number({ min: 1, max: 65_536, integer: true })),
  })(v, path)
  if (o.type === 'delimiter') {
    const d = o.hex ? Buffer.from(o.hex, 'hex') : o.delimiter ? Buffer.from(o.delimiter) : undefined
    if (!d) throw new ValidationError(`${path}.delimiter`, 'a delimiter string or "hex" bytes for delimiter framing')
    return { type: 'delimiter', delimiter: d }
  }
  if (o.type === 'fixed') {
    if (o.length === undefined) throw new ValidationError(`${path}.length`, 'the frame length for fixed framing')
    return { type: 'fixed', length: o.length }
  }
  return { type: o.type }
}

const binaryField = strict({
  name,
  type: literal(...(Object.keys(FIELD_TYPES) as FieldType[])),
  scale: optional(number()),
  offset: optional(number()),
  unit: optional(string({ max: 16 })),
})

export type ProtocolSpec = { type: 'json-lines' } | { type: 'nmea'; requireChecksum: boolean } | { type: 'binary'; fields: BinaryField[] } | { type: 'raw'; sensor: string }

const protocol: Parser<ProtocolSpec> = (v, path) => {
  if (v === undefined || v === 'json-lines') return { type: 'json-lines' }
  if (v === 'nmea') return { type: 'nmea', requireChecksum: true }
  const o = strict({
    type: literal('json-lines', 'nmea', 'binary', 'raw'),
    requireChecksum: optional(boolean),
    fields: optional(array(binaryField, { max: 64 })),
    sensor: optional(name),
  })(v, path)
  if (o.type === 'nmea') return { type: 'nmea', requireChecksum: o.requireChecksum ?? true }
  if (o.type === 'binary') {
    if (!o.fields?.length) throw new ValidationError(`${path}.fields`, 'at least one field for the binary protocol')
    return { type: 'binary', fields: o.fields }
  }
  if (o.type === 'raw') return { type: 'raw', sensor: o.sensor ?? 'raw' }
  return { type: 'json-lines' }
}

const sensorDecl = strict({ type: optional(literal(...(Object.keys(DataType) as DataTypeName[]))), unit: optional(string({ max: 16 })) })

const serialDevice = strict({
  name,
  path: string({ min: 1, max: 512 }),
  baudRate: optional(number({ min: 50, max: 4_000_000, integer: true })),
  framing,
  protocol,
  topic: optional(publishTopic),
  format: optional(literal('json', 'value')),
  sensors: optional(record(sensorDecl, { maxKeys: 256, key: name })),
  limits: limitsParser,
})

const gpioInput = strict({
  name,
  line: number({ min: 0, max: 65_535, integer: true }),
  debounceMs: optional(number({ min: 0, max: 10_000, integer: true })),
  bias: optional(literal('as-is', 'pull-up', 'pull-down', 'disable')),
  activeLow: optional(boolean),
})
const gpioOutput = strict({ name, line: number({ min: 0, max: 65_535, integer: true }), activeLow: optional(boolean) })

const allowed: Parser<Allowed> = (v, path) => {
  if (Array.isArray(v)) return { values: array(scalar, { max: 256 })(v, path) }
  const o = strict({ min: number(), max: number(), integer: optional(boolean) })(v, path)
  if (o.min > o.max) throw new ValidationError(`${path}.min`, `at most max (${o.max})`)
  return o.integer === undefined ? { min: o.min, max: o.max } : { min: o.min, max: o.max, integer: o.integer }
}

const actuator = strict({
  name,
  gpio: optional(name),
  serial: optional(strict({ device: name, name: optional(name), text: optional(string({ min: 1, max: 256 })), expect: optional(string({ min: 1, max: 256 })) })),
  allowed,
  rateLimit: optional(strict({ perSecond: number({ min: 0.001, max: 10_000 }), burst: optional(number({ min: 1, max: 10_000, integer: true })) })),
  watchdogMs: optional(number({ min: 0, max: 86_400_000, integer: true })),
  safe: scalar,
  initial: optional(scalar),
  topic: optional(publishTopic),
})

const sparkplugId = string({ min: 1, max: 64, pattern: SPARKPLUG_ID, describe: '1..64 characters without / + #' })

const configParser = strict({
  name: string({ min: 1, max: 64, pattern: /^[A-Za-z0-9._-]+$/, describe: '1..64 characters of [A-Za-z0-9._-]' }),
  topicPrefix: optional(publishTopic),
  limits: limitsParser,
  serial: optional(array(serialDevice, { max: 64 })),
  gpio: optional(
    strict({
      driver: literal('gpiod', 'sysfs', 'memory'),
      chip: optional(string({ min: 1, max: 128 })),
      device: optional(name),
      inputs: optional(array(gpioInput, { max: 256 })),
      outputs: optional(array(gpioOutput, { max: 256 })),
    }),
  ),
  actuators: optional(array(actuator, { max: 256 })),
  sparkplug: optional(strict({ group: sparkplugId, node: sparkplugId, reconnectMs: optional(number({ min: 10, max: 600_000, integer: true })), clientId: optional(string({ min: 1, max: 64 })) })),
})

type Raw = ReturnType<typeof configParser>
export type SerialDeviceConfig = Omit<NonNullable<Raw['serial']>[number], 'limits'> & { limits: Limits; baudRate: number }
export type BridgeConfig = Omit<Raw, 'limits' | 'serial'> & { limits: Limits; topicPrefix: string; serial: SerialDeviceConfig[] }

function limits(given: Record<string, number> | undefined, base: Limits, scope: string): Limits {
  const l = mergeOptions(given as Partial<Limits> | undefined, base, LIMIT_RANGES, scope)
  if (l.reconnectMaxMs < l.reconnectMinMs) throw new ValidationError(`${scope}.reconnectMaxMs`, `at least reconnectMinMs (${l.reconnectMinMs})`)
  return l
}

function unique(names: string[], path: string): void {
  const seen = new Set<string>()
  names.forEach((n, i) => {
    if (seen.has(n)) throw new ValidationError(`${path}[${i}].name`, `a name not used before ("${n}" is)`)
    seen.add(n)
  })
}

/** Validates a parsed config; throws a ValidationError naming the field. */
export function parseConfig(raw: unknown): BridgeConfig {
  const c = configParser(raw, '')
  const base = limits(c.limits, LIMIT_DEFAULTS, 'limits')
  const serial = (c.serial ?? []).map((d, i) => {
    if (d.protocol.type === 'binary' && d.framing.type === 'fixed' && frameSize(d.protocol.fields) !== d.framing.length) {
      throw new ValidationError(`serial[${i}].framing.length`, `the binary fields' size (${frameSize(d.protocol.fields)} bytes)`)
    }
    return { ...d, baudRate: d.baudRate ?? 115_200, limits: limits(d.limits, base, `serial[${i}].limits`) }
  })
  unique(serial.map((d) => d.name), 'serial')
  const outputs = new Set((c.gpio?.outputs ?? []).map((o) => o.name))
  unique([...(c.gpio?.inputs ?? []), ...(c.gpio?.outputs ?? [])].map((x) => x.name), 'gpio.inputs/outputs')
  unique((c.actuators ?? []).map((a) => a.name), 'actuators')
  ;(c.actuators ?? []).forEach((a, i) => {
    const p = `actuators[${i}]`
    if ((a.gpio === undefined) === (a.serial === undefined)) throw new ValidationError(p, 'exactly one target: "gpio" (an output name) or "serial"')
    if (a.gpio !== undefined && !outputs.has(a.gpio)) throw new ValidationError(`${p}.gpio`, `the name of a gpio output (${[...outputs].join(', ') || 'none declared'})`)
    if (a.gpio !== undefined) {
      const bad = 'values' in a.allowed ? a.allowed.values.find((v) => v !== 0 && v !== 1 && typeof v !== 'boolean') : a.allowed.min < 0 || a.allowed.max > 1 ? a.allowed.max : undefined
      if (bad !== undefined) throw new ValidationError(`${p}.allowed`, `GPIO levels 0/1 or true/false only (got ${JSON.stringify(bad)})`)
    }
    if (a.serial && !serial.some((d) => d.name === a.serial?.device)) throw new ValidationError(`${p}.serial.device`, `the name of a serial device (${serial.map((d) => d.name).join(', ') || 'none declared'})`)
    if (a.serial?.expect !== undefined) {
      try {
        new RegExp(a.serial.expect)
      } catch {
        throw new ValidationError(`${p}.serial.expect`, 'a valid regular expression')
      }
    }
    const check = (v: Value, field: string) => {
      const ok = 'values' in a.allowed ? a.allowed.values.includes(v) : typeof v === 'number' && v >= a.allowed.min && v <= a.allowed.max
      if (!ok) throw new ValidationError(`${p}.${field}`, `one of the allowed values (got ${JSON.stringify(v)})`)
    }
    check(a.safe, 'safe')
    if (a.initial !== undefined) check(a.initial, 'initial')
  })
  if (c.gpio?.driver === 'sysfs' && c.gpio.inputs?.some((x) => x.bias && x.bias !== 'as-is')) {
    throw new ValidationError('gpio.inputs.bias', 'no bias with the sysfs driver (it cannot set one); use "gpiod"')
  }
  return { ...c, limits: base, serial, topicPrefix: c.topicPrefix ?? `fm/v1/bridge/${c.name}` }
}

/** Parses config file text; a FogmeshError (`invalid_json`) when it is not JSON. */
export function parseConfigText(text: string): BridgeConfig {
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch (err) {
    throw new FogmeshError(ErrorCode.invalidJson, `config is not valid JSON: ${(err as Error).message}`)
  }
  return parseConfig(raw)
}
