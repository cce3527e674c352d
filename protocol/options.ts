/**
 * One way to take options, aedes-style: defaults merged once, at construction.
 *
 * - an option the caller left out *or passed as `undefined`* keeps its default
 *   (a raw spread would let an explicit `undefined` override it);
 * - a number outside its declared range is refused with a `ValidationError`
 *   naming the field, never clamped silently;
 * - the result is a fresh object; neither input is changed.
 *
 * ```ts
 * const opts = mergeOptions(options, { slots: 2, queueLimit: 64 }, {
 *   slots: { min: 1, max: 4096, integer: true },
 * }, 'agent')
 * ```
 */
import { ValidationError } from './errors.ts'

/** What a numeric option may be. */
export interface NumberRule {
  min?: number
  max?: number
  /** Whole numbers only. */
  integer?: boolean
}

export type Ranges<T> = { [K in keyof T]?: NumberRule }

/** `T` with the keys that have a default made required and never `undefined`. */
export type Merged<T, D> = Omit<T, keyof D> & { [K in keyof D]-?: K extends keyof T ? Exclude<T[K], undefined> | D[K] : D[K] }

export function mergeOptions<T extends object, D extends object>(
  given: T | undefined,
  defaults: D,
  ranges: Ranges<T & D> = {},
  scope = '',
): Merged<T, D> {
  const out: Record<string, unknown> = { ...(defaults as Record<string, unknown>) }
  for (const [key, value] of Object.entries(given ?? {})) {
    if (value !== undefined) out[key] = value
  }
  for (const [key, rule] of Object.entries(ranges) as [string, NumberRule | undefined][]) {
    const value = out[key]
    if (value === undefined || !rule) continue
    checkNumber(scope ? `${scope}.${key}` : key, value, rule)
  }
  return out as Merged<T, D>
}

/** Refuses a value that is not a finite number within `rule`, naming `field`. */
export function checkNumber(field: string, value: unknown, rule: NumberRule): number {
  if (typeof value !== 'number' || !Number.isFinite(value)) throw new ValidationError(field, 'a finite number')
  if (rule.integer && !Number.isInteger(value)) throw new ValidationError(field, 'a whole number')
  if (rule.min !== undefined && value < rule.min) throw new ValidationError(field, `at least ${rule.min} (got ${value})`)
  if (rule.max !== undefined && value > rule.max) throw new ValidationError(field, `at most ${rule.max} (got ${value})`)
  return value
}
