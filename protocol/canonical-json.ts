/**
 * Canonical JSON (RFC 8785, JCS): the bytes a JSON statement is signed as.
 * Object keys sorted by UTF-16 code units at every level, no whitespace,
 * strings and numbers serialized the way ECMAScript's JSON.stringify does
 * (which is what JCS specifies). Anyone can rebuild these bytes from the
 * message they received, in any language with a JCS library.
 *
 * Only JSON values are accepted: a non-finite number, `undefined` inside an
 * array, a function or a bigint is refused (a statement with a hole in it
 * would verify differently on the other side).
 */
import { ValidationError } from './errors.ts'

/** The JCS serialization of `value`. Object fields whose value is `undefined` are left out (as JSON.stringify does). */
export function canonicalJson(value: unknown): string {
  try {
    return fast(value, 0)
  } catch (err) {
    if (err !== NOT_JSON) throw err
    throw notJsonAt(value, '', 0) ?? err // the slow walk names the path of what is wrong
  }
}

const MAX_DEPTH = 32

/** Thrown by `fast` for anything that is not a JSON value; `write` then says where. */
const NOT_JSON = Symbol('not JSON')

/**
 * The hot path (every statement signed or verified): the same bytes as `write`,
 * without building a path string per field or the intermediate arrays.
 */
function fast(v: unknown, depth: number): string {
  if (depth > MAX_DEPTH) throw NOT_JSON
  if (v === null) return 'null'
  switch (typeof v) {
    case 'string':
      return JSON.stringify(v)
    case 'boolean':
      return v ? 'true' : 'false'
    case 'number':
      if (!Number.isFinite(v)) throw NOT_JSON
      return JSON.stringify(v)
    case 'object': {
      if (Array.isArray(v)) {
        let out = '['
        for (let i = 0; i < v.length; i++) {
          const x: unknown = v[i]
          if (x === undefined) throw NOT_JSON
          out += i === 0 ? fast(x, depth + 1) : `,${fast(x, depth + 1)}`
        }
        return `${out}]`
      }
      const o = v as Record<string, unknown>
      // default sort compares UTF-16 code units, as JCS requires
      const keys = Object.keys(o).sort()
      let out = '{'
      let first = true
      for (const k of keys) {
        const x = o[k]
        if (x === undefined) continue
        out += `${first ? '' : ','}${JSON.stringify(k)}:${fast(x, depth + 1)}`
        first = false
      }
      return `${out}}`
    }
    default:
      throw NOT_JSON
  }
}

/** Where `v` stops being a JSON value (the error naming that path), or undefined when it is one. */
function notJsonAt(v: unknown, path: string, depth: number): ValidationError | undefined {
  if (depth > MAX_DEPTH) return new ValidationError(path || 'message', `JSON nested at most ${MAX_DEPTH} deep`)
  if (v === null || typeof v === 'string' || typeof v === 'boolean') return undefined
  if (typeof v === 'number') return Number.isFinite(v) ? undefined : new ValidationError(path || 'value', 'a finite number')
  if (typeof v !== 'object') return new ValidationError(path || 'value', 'a JSON value')
  if (Array.isArray(v)) {
    for (let i = 0; i < v.length; i++) {
      const e = v[i] === undefined ? new ValidationError(`${path}[${i}]`, 'a JSON value') : notJsonAt(v[i], `${path}[${i}]`, depth + 1)
      if (e) return e
    }
    return undefined
  }
  const o = v as Record<string, unknown>
  for (const k of Object.keys(o).sort()) {
    const e = o[k] === undefined ? undefined : notJsonAt(o[k], path ? `${path}.${k}` : k, depth + 1)
    if (e) return e
  }
  return undefined
}
