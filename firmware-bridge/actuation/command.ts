/**
 * What may arrive on an actuator's command topic, and the value it carries:
 *
 *   1 | true | "on" | 42.5                      a bare JSON value (or bare text: `on`)
 *   {"value": 1}                                an object with the value
 *   {"value": 1, "id": "fan-ctl", "seq": 17}    ... and a sequence: a seq at or below the
 *                                               last one seen for that id is a duplicate
 *   {"id": "s1", "status": "ok", "seq": 17,     a job or stream result (docs/contract.md's result
 *    "output": "<base64 of `1` or {"value":1}>"} JSON): its output is the value
 *
 * A result with `status` other than "ok" carries no value: it is refused as
 * `result_error` (and feeds no watchdog).
 */
import type { Value } from '../serial/protocol.ts'

export interface Command {
  value: Value
  id?: string
  seq?: number
}

export type CommandError = 'invalid' | 'result_error'

const MAX_TEXT = 256

function scalar(v: unknown): Value | undefined {
  if (typeof v === 'number' && Number.isFinite(v)) return v
  if (typeof v === 'boolean') return v
  if (typeof v === 'string' && v.length <= MAX_TEXT) return v
  return undefined
}

function fromOutput(text: string): Value | undefined {
  const trimmed = text.trim()
  if (trimmed.length === 0 || trimmed.length > MAX_TEXT) return undefined
  try {
    const v: unknown = JSON.parse(trimmed)
    if (typeof v === 'object' && v !== null && !Array.isArray(v)) return scalar((v as Record<string, unknown>).value)
    return scalar(v)
  } catch {
    return trimmed
  }
}

function seqOf(o: Record<string, unknown>): number | undefined {
  const w = o.window
  const s = o.seq ?? (typeof w === 'object' && w !== null ? (w as Record<string, unknown>).seq : undefined)
  return typeof s === 'number' && Number.isSafeInteger(s) && s >= 0 ? s : undefined
}

export function parseCommand(payload: Buffer, maxBytes = 64 * 1024): Command | CommandError {
  if (payload.length === 0 || payload.length > maxBytes) return 'invalid'
  const text = payload.toString('utf8')
  let raw: unknown
  try {
    raw = JSON.parse(text)
  } catch {
    const bare = text.trim()
    return bare.length > 0 && bare.length <= MAX_TEXT && /^[\x20-\x7e]+$/.test(bare) ? { value: bare } : 'invalid'
  }
  const direct = scalar(raw)
  if (direct !== undefined) return { value: direct }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) return 'invalid'
  const o = raw as Record<string, unknown>
  let value: Value | undefined
  if ('status' in o || 'output' in o) {
    if (o.status !== 'ok') return 'result_error'
    if (typeof o.output !== 'string') return 'invalid'
    value = fromOutput(Buffer.from(o.output, 'base64').toString('utf8'))
  } else {
    value = scalar(o.value)
  }
  if (value === undefined) return 'invalid'
  const cmd: Command = { value }
  if (typeof o.id === 'string' && o.id.length <= 128) cmd.id = o.id
  const seq = seqOf(o)
  if (seq !== undefined) cmd.seq = seq
  return cmd
}
