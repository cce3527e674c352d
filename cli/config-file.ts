/**
 * `--config FILE` for any command: a JSON object whose keys are the command's
 * long options in camelCase (`heartbeat-ms` → `heartbeatMs`). Flags given on
 * the command line override the file. Unknown keys and wrong types are
 * refused with the key named, like a bad flag.
 */
import { readFileSync } from 'node:fs'
import type { Options } from './command.ts'
import { UsageError } from './command.ts'

const camel = (flag: string) => flag.replace(/-([a-z])/g, (_m, c: string) => c.toUpperCase())

/** Reads FILE and returns the option values it gives, as the parser would have produced them. */
export function readConfigFile(path: string, options: Options): Record<string, string | boolean> {
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    const e = err as NodeJS.ErrnoException
    throw new UsageError(e.code ? `cannot read config ${path}: ${e.code}` : `config ${path} is not valid JSON: ${e.message.split('\n')[0]}`)
  }
  if (typeof raw !== 'object' || raw === null || Array.isArray(raw)) throw new UsageError(`config ${path} must be a JSON object`)
  const byKey = new Map(Object.entries(options).filter(([flag]) => flag !== 'config').map(([flag, o]) => [camel(flag), { flag, type: o.type }]))
  const out: Record<string, string | boolean> = {}
  for (const [key, value] of Object.entries(raw as Record<string, unknown>)) {
    if (key.startsWith('$') || key.startsWith('//')) continue // "$comment" and "//" keys document the file
    const opt = byKey.get(key)
    if (!opt) throw new UsageError(`config ${path}: unknown key "${key}" (known: ${[...byKey.keys()].join(', ')})`)
    if (value === null) continue
    if (opt.type === 'boolean') {
      if (typeof value !== 'boolean') throw new UsageError(`config ${path}: "${key}" must be true or false`)
      out[opt.flag] = value
    } else if (typeof value === 'string' || typeof value === 'number') {
      out[opt.flag] = String(value)
    } else if (key === 'labels' && typeof value === 'object' && !Array.isArray(value)) {
      out[opt.flag] = Object.entries(value as Record<string, unknown>).map(([k, v]) => `${k}=${String(v)}`).join(',')
    } else {
      throw new UsageError(`config ${path}: "${key}" must be a string or a number`)
    }
  }
  return out
}

/** `values` with what `--config` gives filled in underneath: a flag on the command line wins. */
export function withConfigFile(values: Record<string, string | boolean | undefined>, options: Options): Record<string, string | boolean | undefined> {
  const path = values.config
  if (path === undefined) return values
  if (typeof path !== 'string' || path === '') throw new UsageError('--config takes a file')
  const fromFile = readConfigFile(path, options)
  const merged: Record<string, string | boolean | undefined> = { ...fromFile }
  for (const [k, v] of Object.entries(values)) if (v !== undefined && k !== 'config') merged[k] = v
  return merged
}
