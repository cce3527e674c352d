/**
 * The broker's limits as `fogmesh broker` flags (`--max-connections N`) and
 * `--config FILE` lines; a flag wins over the file, the file over the default.
 */
import { BROKER_LIMITS, resolveBrokerLimits, type BrokerLimits } from '../broker/limits/broker-limits.ts'
import { readBrokerConfig } from '../broker/limits/config-file.ts'
import { FogmeshError } from '../protocol/errors.ts'
import { intOption, UsageError, type Options } from './command.ts'

/** The flags, except the two the broker command had before (--max-packet-bytes, --max-module-bytes). */
const NEW_LIMITS = BROKER_LIMITS.filter((l) => l.key !== 'maxPacketBytes' && l.key !== 'maxModuleBytes')

export const LIMIT_OPTIONS: Options = {
  ...Object.fromEntries(NEW_LIMITS.map((l) => [l.flag, { type: 'string' as const }])),
  config: { type: 'string' },
}

export const LIMIT_USAGE = [
  '  --config FILE         limits, one "name value" a line (Mosquitto-style: max_connections 10000)',
  ...NEW_LIMITS.map((l) => `  --${l.flag} N`.padEnd(36) + ` ${l.what} (${l.default})`),
].join('\n')

/** Limits from --config and the flags (a bad file or value is a usage error: one line, exit 2). */
export function limitsFromOptions(values: Record<string, string | boolean | undefined>): BrokerLimits {
  try {
    const out: Partial<BrokerLimits> = typeof values.config === 'string' ? readBrokerConfig(values.config) : {}
    for (const l of BROKER_LIMITS) {
      if (values[l.flag] === undefined) continue
      out[l.key] = intOption(values, l.flag, l.default, l.rule.min ?? 0, l.rule.max ?? Number.MAX_SAFE_INTEGER)
    }
    return resolveBrokerLimits(out)
  } catch (err) {
    if (err instanceof UsageError || !(err instanceof FogmeshError)) throw err
    throw new UsageError(err.shortMessage)
  }
}
