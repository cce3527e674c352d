/**
 * Protocols for devices that do not speak JSON:
 *
 * - `binary`: every frame is a fixed struct (`fields`, in order, no padding),
 *   e.g. a COBS or fixed-length frame `int16le temp ×0.01, uint16le hum ×0.1`;
 *   a frame of any other length is dropped as `invalid`;
 * - `raw`: every frame is one reading of sensor `sensor`: its text when it is
 *   text, its bytes in hex otherwise.
 */
import type { DropReason } from './framing.ts'
import { isText, type DeviceMessage, type Protocol, type Reading } from './protocol.ts'

export const FIELD_TYPES = {
  u8: 1,
  i8: 1,
  u16le: 2,
  u16be: 2,
  i16le: 2,
  i16be: 2,
  u32le: 4,
  u32be: 4,
  i32le: 4,
  i32be: 4,
  f32le: 4,
  f32be: 4,
} as const

export type FieldType = keyof typeof FIELD_TYPES

export interface BinaryField {
  name: string
  type: FieldType
  /** value = raw × scale + offset (defaults 1 and 0). */
  scale?: number
  offset?: number
  unit?: string
}

function readField(frame: Buffer, at: number, type: FieldType): number {
  switch (type) {
    case 'u8':
      return frame.readUInt8(at)
    case 'i8':
      return frame.readInt8(at)
    case 'u16le':
      return frame.readUInt16LE(at)
    case 'u16be':
      return frame.readUInt16BE(at)
    case 'i16le':
      return frame.readInt16LE(at)
    case 'i16be':
      return frame.readInt16BE(at)
    case 'u32le':
      return frame.readUInt32LE(at)
    case 'u32be':
      return frame.readUInt32BE(at)
    case 'i32le':
      return frame.readInt32LE(at)
    case 'i32be':
      return frame.readInt32BE(at)
    case 'f32le':
      return frame.readFloatLE(at)
    case 'f32be':
      return frame.readFloatBE(at)
  }
}

export function frameSize(fields: readonly BinaryField[]): number {
  return fields.reduce((n, f) => n + FIELD_TYPES[f.type], 0)
}

export function binaryProtocol(fields: readonly BinaryField[]): Protocol {
  const size = frameSize(fields)
  return {
    name: 'binary',
    decode(frame): DeviceMessage | DropReason {
      if (frame.length !== size) return 'invalid'
      const readings: Reading[] = []
      let at = 0
      for (const f of fields) {
        const raw = readField(frame, at, f.type)
        at += FIELD_TYPES[f.type]
        const v = raw * (f.scale ?? 1) + (f.offset ?? 0)
        if (!Number.isFinite(v)) return 'invalid'
        // scaled values: round off binary-fraction noise (0.01 × 2150 = 21.500000000000004)
        const value = f.scale === undefined ? v : Number(v.toPrecision(12))
        readings.push(f.unit ? { sensor: f.name, value, unit: f.unit } : { sensor: f.name, value })
      }
      return { kind: 'readings', readings }
    },
  }
}

export function rawProtocol(sensor: string): Protocol {
  return {
    name: 'raw',
    decode(frame): DeviceMessage | DropReason {
      if (frame.length === 0) return 'invalid'
      const value = isText(frame) ? frame.toString('utf8') : frame.toString('hex')
      return { kind: 'readings', readings: [{ sensor, value }] }
    },
  }
}
