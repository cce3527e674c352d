/**
 * A small typed validator for messages that arrive from the network.
 *
 * Why our own and not zod/valibot: every job crosses this boundary three or
 * four times (submit, assign, result, forward) at >1,000 jobs/s on a 2-core
 * Pi-class machine, and the schemas here are few and flat. A parser is a plain
 * function `(value, path) => T` that throws a ValidationError naming the field;
 * `decodeJson` wraps it so that nothing ever throws past the boundary. The
 * result is a precisely typed value with no dependency to keep up to date.
 */
import { ErrorCode, FogmeshError, ValidationError } from './errors.ts'
import type { NumberRule } from './options.ts'

export type Parser<T> = (value: unknown, path: string) => T
export type Infer<P> = P extends Parser<infer T> ? T : never

/** `raw` (from `decodeJson`): the JSON as parsed, unknown fields included — what a signature is checked over. */
export type Decoded<T> = { ok: true; value: T; raw?: unknown } | { ok: false; error: FogmeshError }

const fail = (path: string, expected: string): never => {
  throw new ValidationError(path, expected)
}

export interface StringRules {
  min?: number
  max?: number
  pattern?: RegExp
  /** Human description used in the error instead of the regex. */
  describe?: string
}

export function string(rules: StringRules = {}): Parser<string> {
  const { min = 0, max = 65_536, pattern, describe } = rules
  const what = describe ?? `a string of ${min}..${max} characters`
  return (v, path) => {
    if (typeof v !== 'string' || v.length < min || v.length > max) return fail(path, what)
    if (pattern && !pattern.test(v)) return fail(path, what)
    return v
  }
}

/** The same rule an option's range is (protocol/options.ts): one meaning of "a number within". */
export function number(rules: NumberRule = {}): Parser<number> {
  const { min = -Number.MAX_VALUE, max = Number.MAX_VALUE, integer = false } = rules
  const what = `${integer ? 'an integer' : 'a number'} in ${min}..${max}`
  return (v, path) => {
    if (typeof v !== 'number' || !Number.isFinite(v) || v < min || v > max) return fail(path, what)
    if (integer && !Number.isInteger(v)) return fail(path, what)
    return v
  }
}

export const boolean: Parser<boolean> = (v, path) => (typeof v === 'boolean' ? v : fail(path, 'true or false'))

export function literal<const L extends string | number>(...values: L[]): Parser<L> {
  const what = values.map((x) => JSON.stringify(x)).join(' or ')
  return (v, path) => (values.includes(v as L) ? (v as L) : fail(path, what))
}

export function optional<T>(parser: Parser<T>): Parser<T | undefined> {
  return (v, path) => (v === undefined || v === null ? undefined : parser(v, path))
}

export function array<T>(item: Parser<T>, rules: { max?: number } = {}): Parser<T[]> {
  const max = rules.max ?? 1024
  return (v, path) => {
    if (!Array.isArray(v) || v.length > max) return fail(path, `an array of at most ${max} items`)
    return v.map((x, i) => item(x, `${path}[${i}]`))
  }
}

/** A flat string→string map (labels). */
export function record<T>(value: Parser<T>, rules: { maxKeys?: number; key?: Parser<string> } = {}): Parser<Record<string, T>> {
  const maxKeys = rules.maxKeys ?? 64
  const key = rules.key ?? string({ min: 1, max: 64 })
  return (v, path) => {
    if (!isPlainObject(v)) return fail(path, 'an object')
    const keys = Object.keys(v)
    if (keys.length > maxKeys) return fail(path, `an object with at most ${maxKeys} keys`)
    const out: Record<string, T> = Object.create(null)
    for (const k of keys) {
      const p = `${path}.${k}`
      out[key(k, p)] = value(v[k], p)
    }
    return out
  }
}

type Shape = Record<string, Parser<unknown>>
type OptionalKeys<S extends Shape> = { [K in keyof S]: undefined extends Infer<S[K]> ? K : never }[keyof S]
type RequiredKeys<S extends Shape> = Exclude<keyof S, OptionalKeys<S>>
export type ObjectOf<S extends Shape> = { [K in RequiredKeys<S>]: Infer<S[K]> } & {
  [K in OptionalKeys<S>]?: Infer<S[K]>
}

/** An object with known fields; unknown fields are dropped (forward compatible), missing required ones named. */
export function object<S extends Shape>(shape: S): Parser<ObjectOf<S>> {
  const entries = Object.entries(shape)
  return (v, path) => {
    if (!isPlainObject(v)) return fail(path || 'message', 'a JSON object')
    const out: Record<string, unknown> = {}
    for (const [k, parse] of entries) {
      const value = parse(v[k], path ? `${path}.${k}` : k)
      if (value !== undefined) out[k] = value
    }
    return out as ObjectOf<S>
  }
}

/** A union told apart by a `type` field. */
export function tagged<M extends Record<string, Parser<unknown>>>(
  field: string,
  members: M,
): Parser<{ [K in keyof M]: Infer<M[K]> }[keyof M]> {
  const names = Object.keys(members)
  return (v, path) => {
    if (!isPlainObject(v)) return fail(path || 'message', 'a JSON object')
    const tag = v[field]
    const parse = typeof tag === 'string' && Object.hasOwn(members, tag) ? members[tag] : undefined
    if (!parse) return fail(path ? `${path}.${field}` : field, names.map((n) => JSON.stringify(n)).join(' or '))
    return parse(v, path) as { [K in keyof M]: Infer<M[K]> }[keyof M]
  }
}

function isPlainObject(v: unknown): v is Record<string, unknown> {
  return typeof v === 'object' && v !== null && !Array.isArray(v)
}

// ---- common field types -------------------------------------------------

export const sha256Hex = string({ min: 64, max: 64, pattern: /^[0-9a-f]{64}$/, describe: 'a sha256 as 64 lowercase hex characters' })

/** Ids that end up in topics and logs: printable, no MQTT wildcards or separators. */
export const id = string({ min: 1, max: 128, pattern: /^[A-Za-z0-9._:@-]+$/, describe: '1..128 characters of [A-Za-z0-9._:@-]' })

/** An EVM address: `0x` and 40 hex characters (any case). */
export const evmAddress = string({ min: 42, max: 42, pattern: /^0x[0-9a-fA-F]{40}$/, describe: 'an 0x-prefixed 20-byte address' })

/** A 32-byte value as `0x` and 64 hex characters. */
export const bytes32Hex = string({ min: 66, max: 66, pattern: /^0x[0-9a-fA-F]{64}$/, describe: 'an 0x-prefixed 32-byte hex value' })

/** A uint256 as a decimal string (JSON numbers cannot carry it exactly). */
export const uintString = string({ min: 1, max: 78, pattern: /^(0|[1-9][0-9]*)$/, describe: 'a non-negative integer as a decimal string' })

/** A job id inside the mesh: a submitted id plus the gateway's suffix (`@<12 hex>`, or `@<user name>` of up to 64) fits. */
export const meshJobId = string({ min: 1, max: 193, pattern: /^[A-Za-z0-9._:@-]+$/, describe: '1..193 characters of [A-Za-z0-9._:@-]' })

/** A topic a client may publish to: no wildcards, no NUL, not a $SYS topic. */
export const publishTopic = string({
  min: 1,
  max: 512,
  pattern: /^(?!\$)[^#+\u0000]+$/,
  describe: 'an MQTT topic without wildcards (max 512 characters)',
})

const B64_CHAR = new Uint8Array(128)
for (const c of 'ABCDEFGHIJKLMNOPQRSTUVWXYZabcdefghijklmnopqrstuvwxyz0123456789+/') B64_CHAR[c.charCodeAt(0)] = 1

/** Canonical padded base64, checked in one linear pass (a regex backtracks and overflows on megabytes). */
function isBase64(s: string): boolean {
  const n = s.length
  if (n % 4 !== 0) return false
  let end = n
  if (n > 0 && s.charCodeAt(n - 1) === 61) end = s.charCodeAt(n - 2) === 61 ? n - 2 : n - 1
  for (let i = 0; i < end; i++) {
    const c = s.charCodeAt(i)
    if (c > 127 || B64_CHAR[c] !== 1) return false
  }
  return true
}

/** Standard base64 (with padding) decoded to bytes, with a size cap on the decoded length. */
export function base64Bytes(maxBytes: number): Parser<Buffer> {
  return (v, path) => {
    if (typeof v !== 'string') return fail(path, 'a base64 string')
    if (v.length > Math.ceil(maxBytes / 3) * 4 + 4) {
      throw new ValidationError(path, `at most ${maxBytes} bytes`, { code: ErrorCode.tooLarge })
    }
    if (!isBase64(v)) return fail(path, 'a base64 string')
    const bytes = Buffer.from(v, 'base64')
    if (bytes.length > maxBytes) throw new ValidationError(path, `at most ${maxBytes} bytes`, { code: ErrorCode.tooLarge })
    return bytes
  }
}

// ---- the boundary ---------------------------------------------------------

/** Parses JSON bytes from the network into a typed value, or a typed error. Never throws. */
export function decodeJson<T>(payload: Uint8Array | string, parser: Parser<T>, maxBytes = 16 * 1024 * 1024): Decoded<T> {
  if (payload.length > maxBytes) {
    return { ok: false, error: new FogmeshError(ErrorCode.tooLarge, `message larger than ${maxBytes} bytes`) }
  }
  let raw: unknown
  try {
    raw = JSON.parse(typeof payload === 'string' ? payload : Buffer.from(payload.buffer, payload.byteOffset, payload.length).toString('utf8'))
  } catch {
    return { ok: false, error: new FogmeshError(ErrorCode.invalidJson, 'message is not valid JSON') }
  }
  const d = parseValue(raw, parser)
  if (d.ok) d.raw = raw
  return d
}

/** Validates an already-parsed value. Never throws. */
export function parseValue<T>(raw: unknown, parser: Parser<T>): Decoded<T> {
  try {
    return { ok: true, value: parser(raw, '') }
  } catch (err) {
    if (err instanceof FogmeshError) return { ok: false, error: err }
    return { ok: false, error: new FogmeshError(ErrorCode.internal, 'validator failed', { cause: err }) }
  }
}
