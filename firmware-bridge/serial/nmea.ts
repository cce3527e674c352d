/**
 * NMEA-0183 sentences (GPS receivers, depth sounders, wind sensors):
 * `$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47`.
 *
 * The checksum (XOR of every character between `$` and `*`, two hex digits) is
 * checked; a sentence that fails it, or has none while `requireChecksum` is on,
 * is dropped as `checksum`. GGA, RMC and VTG are decoded into named readings;
 * any other sentence becomes one string reading `nmea.<TYPE>` with its fields.
 */
import type { DropReason } from './framing.ts'
import { isText, type DeviceMessage, type Protocol, type Reading } from './protocol.ts'

export interface NmeaSentence {
  talker: string
  type: string
  fields: string[]
}

/** Parses and checks one sentence; returns the reason on failure. */
export function parseNmea(line: string, requireChecksum = true): NmeaSentence | DropReason {
  if (line.length < 6 || (line[0] !== '$' && line[0] !== '!')) return 'invalid'
  const star = line.lastIndexOf('*')
  let body: string
  if (star >= 0) {
    const given = line.slice(star + 1)
    if (!/^[0-9A-Fa-f]{2}$/.test(given)) return 'checksum'
    body = line.slice(1, star)
    if (nmeaChecksum(body) !== parseInt(given, 16)) return 'checksum'
  } else {
    if (requireChecksum) return 'checksum'
    body = line.slice(1)
  }
  const fields = body.split(',')
  const address = fields.shift() ?? ''
  if (!/^[A-Z0-9]{3,6}$/.test(address)) return 'invalid'
  const proprietary = address.startsWith('P')
  return {
    talker: proprietary ? 'P' : address.slice(0, 2),
    type: proprietary ? address.slice(1) : address.slice(2),
    fields,
  }
}

/** XOR of the characters of `body` (what lies between `$` and `*`). */
export function nmeaChecksum(body: string): number {
  let x = 0
  for (let i = 0; i < body.length; i++) x ^= body.charCodeAt(i)
  return x
}

/** `body` with its `$` and `*hh`. */
export function nmeaSentence(body: string): string {
  return `$${body}*${nmeaChecksum(body).toString(16).toUpperCase().padStart(2, '0')}`
}

/** `ddmm.mmmm` + hemisphere → signed decimal degrees; undefined when empty or malformed. */
function degrees(value: string | undefined, hemisphere: string | undefined, degDigits: number): number | undefined {
  if (!value || !hemisphere) return undefined
  const dot = value.indexOf('.')
  const intPart = dot < 0 ? value : value.slice(0, dot)
  if (intPart.length !== degDigits + 2 || !/^\d+(\.\d+)?$/.test(value)) return undefined
  const d = Number(value.slice(0, degDigits)) + Number(value.slice(degDigits)) / 60
  const sign = hemisphere === 'S' || hemisphere === 'W' ? -1 : hemisphere === 'N' || hemisphere === 'E' ? 1 : 0
  if (sign === 0) return undefined
  return Math.round(sign * d * 1e7) / 1e7
}

function num(v: string | undefined): number | undefined {
  if (v === undefined || v === '' || !/^-?\d+(\.\d+)?$/.test(v)) return undefined
  return Number(v)
}

/** Named readings for the sentences we know; one `nmea.<TYPE>` string reading otherwise. */
export function nmeaReadings(s: NmeaSentence): Reading[] {
  const out: Reading[] = []
  const add = (sensor: string, value: number | string | undefined, unit?: string) => {
    if (value === undefined) return
    out.push(unit ? { sensor, value, unit } : { sensor, value })
  }
  const f = s.fields
  switch (s.type) {
    case 'GGA':
      add('lat', degrees(f[1], f[2], 2), 'deg')
      add('lon', degrees(f[3], f[4], 3), 'deg')
      add('fix', num(f[5]))
      add('sats', num(f[6]))
      add('hdop', num(f[7]))
      add('alt', num(f[8]), 'm')
      break
    case 'RMC':
      add('status', f[1] === 'A' ? 'valid' : f[1] === 'V' ? 'void' : undefined)
      add('lat', degrees(f[2], f[3], 2), 'deg')
      add('lon', degrees(f[4], f[5], 3), 'deg')
      add('speedKn', num(f[6]), 'kn')
      add('course', num(f[7]), 'deg')
      break
    case 'VTG':
      add('course', num(f[0]), 'deg')
      add('speedKn', num(f[4]), 'kn')
      add('speedKmh', num(f[6]), 'km/h')
      break
  }
  if (out.length === 0) out.push({ sensor: `nmea.${s.type}`, value: f.join(',') })
  return out
}

export function nmeaProtocol(options: { requireChecksum?: boolean } = {}): Protocol {
  const requireChecksum = options.requireChecksum ?? true
  return {
    name: 'nmea',
    decode(frame): DeviceMessage | DropReason {
      if (!isText(frame)) return 'noise'
      const s = parseNmea(frame.toString('latin1').trim(), requireChecksum)
      if (typeof s === 'string') return s
      return { kind: 'readings', readings: nmeaReadings(s) }
    },
  }
}
