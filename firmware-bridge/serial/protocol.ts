/**
 * What a device says, once a frame is decoded: readings, a reply to a request,
 * or a hello (the firmware booted or was reset). Each built-in protocol turns a
 * frame into one of these or names why it dropped the frame.
 */
import type { DropReason } from './framing.ts'

export type Value = number | string | boolean

export interface Reading {
  sensor: string
  value: Value
  unit?: string
  /** The device's own clock (e.g. `millis()`), when it sends one. */
  deviceTime?: number
}

export type DeviceMessage =
  | { kind: 'readings'; readings: Reading[] }
  | { kind: 'reply'; id: number; ok: true; value: unknown }
  | { kind: 'reply'; id: number; ok: false; error: string }
  | { kind: 'hello'; firmware: string; sensors: string[]; actuators: string[] }

export interface Protocol {
  readonly name: string
  /** A decoded message, or the reason the frame was dropped. */
  decode(frame: Buffer): DeviceMessage | DropReason
  /** Builds a request frame's payload (no delimiter) for protocols with request ids. */
  encodeRequest?(id: number, cmd: string, args: Record<string, unknown>): Buffer
}

/** Sensor names end up in MQTT topics and Sparkplug metric names. */
export const SENSOR_NAME = /^[A-Za-z0-9._-]{1,64}$/

/** True when every byte is printable ASCII, a tab, or part of valid UTF-8 text (no control bytes, no NUL). */
export function isText(frame: Buffer): boolean {
  let ascii = true
  for (let i = 0; i < frame.length; i++) {
    const b = frame[i] as number
    if (b >= 0x80) {
      ascii = false
      continue
    }
    if ((b < 0x20 && b !== 0x09) || b === 0x7f) return false
  }
  if (ascii) return true
  // non-ASCII: must round-trip as UTF-8
  const s = frame.toString('utf8')
  return !s.includes('\uFFFD') && Buffer.byteLength(s) === frame.length
}
