/**
 * The broker's config file, Mosquitto-style: one `name value` per line,
 * `#` comments, names as in BROKER_LIMITS (`max_connections 10000`). An
 * unknown name or a bad value is refused with a ValidationError naming the
 * file and line.
 */
import { readFileSync } from 'node:fs'
import { ValidationError } from '../../protocol/errors.ts'
import { BROKER_LIMITS, type BrokerLimits } from './broker-limits.ts'

const BY_CONFIG = new Map(BROKER_LIMITS.map((l) => [l.config, l]))

/**
 * Parses config text into limits (only the lines given; defaults are merged later).
 * `extra`: other settings the file may hold (the gateway's), collected by name into `others`.
 */
export function parseBrokerConfig(text: string, source = 'config', extra: ReadonlySet<string> = new Set(), others: Record<string, number> = {}): Partial<BrokerLimits> {
  const out: Partial<BrokerLimits> = {}
  text.split('\n').forEach((raw, i) => {
    const line = raw.replace(/#.*$/, '').trim()
    if (!line) return
    const [name, value, ...rest] = line.split(/\s+/)
    const where = `${source}:${i + 1}`
    const spec = BY_CONFIG.get(name ?? '')
    if (!spec && !extra.has(name ?? '')) throw new ValidationError(where, `a known setting (${name} is not one; see fogmesh broker --help)`)
    if (value === undefined || rest.length > 0 || !/^\d+$/.test(value)) throw new ValidationError(`${where} ${name}`, 'one whole number')
    if (spec) out[spec.key] = Number(value)
    else others[name!] = Number(value)
  })
  return out
}

export function readBrokerConfig(path: string, extra?: ReadonlySet<string>, others?: Record<string, number>): Partial<BrokerLimits> {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw new ValidationError('--config', `a readable file (${(err as Error).message})`)
  }
  return parseBrokerConfig(text, path, extra, others)
}
