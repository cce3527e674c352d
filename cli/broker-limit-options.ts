/**
 * The broker's limits as `fogmesh broker` flags (`--max-connections N`) and
 * `--config FILE` lines; a flag wins over the file, the file over the default.
 */
import { BROKER_LIMITS, resolveBrokerLimits, type BrokerLimits } from '../broker/limits/broker-limits.ts'
import { readBrokerConfig } from '../broker/limits/config-file.ts'
import { GATEWAY_LIMITS, gatewayLimitOptions } from '../market/gateway-limits.ts'
import type { AdmissionLimits } from '../market/gateway-admission.ts'
import type { GatewayOptions } from '../market/gateway.ts'
import { FogmeshError, ValidationError } from '../protocol/errors.ts'
import { givenInt, intOption, UsageError, type Options } from './command.ts'

/** The flags, except the two the broker command had before (--max-packet-bytes, --max-module-bytes). */
const NEW_LIMITS = BROKER_LIMITS.filter((l) => l.key !== 'maxPacketBytes' && l.key !== 'maxModuleBytes')

export const LIMIT_OPTIONS: Options = {
  ...Object.fromEntries(NEW_LIMITS.map((l) => [l.flag, { type: 'string' as const }])),
  config: { type: 'string' },
}

export const GATEWAY_LIMIT_OPTIONS: Options = Object.fromEntries(GATEWAY_LIMITS.map((l) => [l.flag, { type: 'string' as const }]))

const usageLine = (l: { flag: string; what: string; default: number }) => `  --${l.flag} N`.padEnd(38) + ` ${l.what} (${l.default})`

export const LIMIT_USAGE = [
  '  --config FILE         limits, one "name value" a line (Mosquitto-style: max_connections 10000)',
  ...NEW_LIMITS.map(usageLine),
].join('\n')

export const GATEWAY_LIMIT_USAGE = ['  gateway limits (flags, or the same names with _ in --config):', ...GATEWAY_LIMITS.map(usageLine)].join('\n')

/** The gateway's limits from `values` (flags) and from `fromConfig` (its lines of --config). */
export function gatewayLimitsFromOptions(values: Record<string, string | boolean | undefined>, fromConfig: Record<string, number> = {}): Pick<GatewayOptions, 'ceiling' | keyof AdmissionLimits> {
  return gatewayLimitOptions((spec) => {
    if (values[spec.flag] !== undefined) return intOption(values, spec.flag, spec.default, spec.rule.min ?? 0, spec.rule.max ?? Number.MAX_SAFE_INTEGER)
    return fromConfig[spec.config]
  })
}

/** The gateway settings a broker config file may hold too. */
export const GATEWAY_CONFIG_KEYS: ReadonlySet<string> = new Set(GATEWAY_LIMITS.map((l) => l.config))

/**
 * Limits from --config and the flags (a bad file or value is a usage error: one line, exit 2).
 * The config file's gateway lines land in `gatewayConfig`.
 */
export function limitsFromOptions(values: Record<string, string | boolean | undefined>, gatewayConfig: Record<string, number> = {}): BrokerLimits {
  // the CLI reads whole numbers; the range is the library's to refuse, named by the flag or the config line
  const fromFlags: Partial<BrokerLimits> = {}
  for (const l of BROKER_LIMITS) {
    const v = givenInt(values, l.flag)
    if (v !== undefined) fromFlags[l.key] = v
  }
  const file = typeof values.config === 'string' ? values.config : undefined
  try {
    resolveBrokerLimits(fromFlags)
    const fromFile: Partial<BrokerLimits> = file ? readBrokerConfig(file, GATEWAY_CONFIG_KEYS, gatewayConfig) : {}
    return resolveBrokerLimits({ ...fromFile, ...fromFlags })
  } catch (err) {
    if (err instanceof UsageError || !(err instanceof FogmeshError)) throw err
    if (err instanceof ValidationError) {
      const key = err.field.slice(err.field.lastIndexOf('.') + 1)
      const spec = BROKER_LIMITS.find((l) => l.key === key)
      if (spec) {
        const where = fromFlags[spec.key] !== undefined ? `--${spec.flag}` : `${spec.config} (in ${file})`
        throw new UsageError(`${where}: ${err.shortMessage.slice(err.field.length + 2)}`)
      }
    }
    throw new UsageError(err.shortMessage)
  }
}
