/**
 * The fogmesh line protocol: one JSON object per line, both ways. Small enough
 * for an 8-bit microcontroller to print with `Serial.print` (see
 * `firmware/fogmesh-sensor/fogmesh-sensor.ino`); README.md documents it.
 *
 * Device → bridge:
 *   {"s":"temp","v":21.5}                      one reading (optional "u": unit, "t": device ms)
 *   {"r":{"temp":21.5,"hum":40}}               several readings at once (optional "t")
 *   {"id":7,"ok":1}                            reply to request 7 ("ok": any JSON value)
 *   {"id":7,"err":"unknown actuator"}          request 7 failed
 *   {"hello":"fogmesh-sensor/1.0","sensors":["temp"],"actuators":["fan"]}   after boot or reset
 *
 * Bridge → device:
 *   {"id":7,"cmd":"set","name":"fan","v":1}    set an actuator
 *   {"id":8,"cmd":"get","name":"temp"}         read a sensor now
 *   {"id":9,"cmd":"ping"}                      liveness; the reply carries the device's uptime
 */
import type { DropReason } from './framing.ts'
import { isText, SENSOR_NAME, type DeviceMessage, type Protocol, type Reading, type Value } from './protocol.ts'

const MAX_READINGS_PER_LINE = 64
const MAX_STRING_VALUE = 256

function value(v: unknown): Value | undefined {
  if (typeof v === 'number') return Number.isFinite(v) ? v : undefined
  if (typeof v === 'boolean') return v
  if (typeof v === 'string') return v.length <= MAX_STRING_VALUE ? v : undefined
  return undefined
}

function deviceTime(t: unknown): number | undefined {
  return typeof t === 'number' && Number.isFinite(t) && t >= 0 ? t : undefined
}

function names(v: unknown): string[] {
  if (!Array.isArray(v)) return []
  return v.filter((x): x is string => typeof x === 'string' && SENSOR_NAME.test(x)).slice(0, MAX_READINGS_PER_LINE)
}

export function decodeJsonLine(frame: Buffer): DeviceMessage | DropReason {
  if (!isText(frame)) return 'noise'
  let o: unknown
  try {
    o = JSON.parse(frame.toString('utf8'))
  } catch {
    return 'invalid'
  }
  if (typeof o !== 'object' || o === null || Array.isArray(o)) return 'invalid'
  const m = o as Record<string, unknown>
  if (m.id !== undefined) {
    if (typeof m.id !== 'number' || !Number.isInteger(m.id) || m.id < 1 || m.id > 2 ** 31) return 'invalid'
    if (typeof m.err === 'string') return { kind: 'reply', id: m.id, ok: false, error: m.err.slice(0, MAX_STRING_VALUE) }
    if ('ok' in m) return { kind: 'reply', id: m.id, ok: true, value: m.ok }
    return 'invalid'
  }
  if (typeof m.hello === 'string') {
    return { kind: 'hello', firmware: m.hello.slice(0, MAX_STRING_VALUE), sensors: names(m.sensors), actuators: names(m.actuators) }
  }
  const t = deviceTime(m.t)
  if (typeof m.s === 'string') {
    const v = value(m.v)
    if (!SENSOR_NAME.test(m.s) || v === undefined) return 'invalid'
    const r: Reading = { sensor: m.s, value: v }
    if (typeof m.u === 'string' && m.u.length <= 16) r.unit = m.u
    if (t !== undefined) r.deviceTime = t
    return { kind: 'readings', readings: [r] }
  }
  if (typeof m.r === 'object' && m.r !== null && !Array.isArray(m.r)) {
    const entries = Object.entries(m.r as Record<string, unknown>)
    if (entries.length === 0 || entries.length > MAX_READINGS_PER_LINE) return 'invalid'
    const readings: Reading[] = []
    for (const [sensor, raw] of entries) {
      const v = value(raw)
      if (!SENSOR_NAME.test(sensor) || v === undefined) return 'invalid'
      readings.push(t === undefined ? { sensor, value: v } : { sensor, value: v, deviceTime: t })
    }
    return { kind: 'readings', readings }
  }
  return 'invalid'
}

export function jsonLinesProtocol(): Protocol {
  return {
    name: 'json-lines',
    decode: decodeJsonLine,
    encodeRequest(id, cmd, args) {
      return Buffer.from(JSON.stringify({ ...args, id, cmd }))
    },
  }
}
