/**
 * The gateway's limits as one table, like the broker's: a name, a default, a
 * flag (`fogmesh broker` and `fogmesh gateway`) and a config line. The
 * options themselves are GatewayOptions (admission limits, `ceiling`).
 */
import type { NumberRule } from '../protocol/options.ts'
import { ADMISSION_DEFAULTS, type AdmissionLimits } from './gateway-admission.ts'
import { CEILING_DEFAULTS, type LimitsCeiling } from './limits-ceiling.ts'

export interface GatewayLimitSpec {
  /** An admission limit, or a field of the ceiling. */
  key: { admission: keyof AdmissionLimits } | { ceiling: keyof LimitsCeiling }
  flag: string
  config: string
  default: number
  rule: NumberRule
  what: string
}

const int = (min: number, max = Number.MAX_SAFE_INTEGER): NumberRule => ({ min, max, integer: true })
const a = (k: keyof AdmissionLimits) => ({ admission: k })
const c = (k: keyof LimitsCeiling) => ({ ceiling: k })

export const GATEWAY_LIMITS: readonly GatewayLimitSpec[] = [
  { key: a('maxInFlight'), flag: 'max-jobs-in-flight', config: 'max_jobs_in_flight', default: ADMISSION_DEFAULTS.maxInFlight, rule: int(1), what: 'jobs in the mesh at once from this gateway' },
  { key: a('maxInFlightPerSensor'), flag: 'max-jobs-in-flight-per-sensor', config: 'max_jobs_in_flight_per_sensor', default: ADMISSION_DEFAULTS.maxInFlightPerSensor, rule: int(1), what: 'jobs in the mesh at once for one sensor' },
  { key: a('maxQueued'), flag: 'max-jobs-queued', config: 'max_jobs_queued', default: ADMISSION_DEFAULTS.maxQueued, rule: int(0), what: 'jobs waiting for a slot (more: overloaded)' },
  { key: a('maxQueuedPerSensor'), flag: 'max-jobs-queued-per-sensor', config: 'max_jobs_queued_per_sensor', default: ADMISSION_DEFAULTS.maxQueuedPerSensor, rule: int(0), what: 'jobs waiting for one sensor' },
  { key: a('maxInputBytesInFlight'), flag: 'max-input-bytes-in-flight', config: 'max_input_bytes_in_flight', default: ADMISSION_DEFAULTS.maxInputBytesInFlight, rule: int(1024), what: 'input bytes of the jobs waiting and running' },
  { key: a('jobsPerSecondPerSensor'), flag: 'jobs-per-second-per-sensor', config: 'jobs_per_second_per_sensor', default: ADMISSION_DEFAULTS.jobsPerSecondPerSensor, rule: int(1), what: 'jobs/s of one sensor that start (burst: twice; more wait in its queue)' },
  { key: a('refusalsPerSecondPerSensor'), flag: 'refusals-per-second-per-sensor', config: 'refusals_per_second_per_sensor', default: ADMISSION_DEFAULTS.refusalsPerSecondPerSensor, rule: int(1), what: 'overloaded answers/s to one sensor (the rest counted)' },
  { key: a('maxSensors'), flag: 'max-sensors', config: 'max_sensors', default: ADMISSION_DEFAULTS.maxSensors, rule: int(1), what: 'sensors tracked at once' },
  { key: c('timeoutMs'), flag: 'max-job-timeout-ms', config: 'max_job_timeout_ms', default: CEILING_DEFAULTS.timeoutMs, rule: int(1), what: 'most limits.timeoutMs a job may ask for' },
  { key: c('fuel'), flag: 'max-job-fuel', config: 'max_job_fuel', default: CEILING_DEFAULTS.fuel, rule: int(1), what: 'most limits.fuel a job may ask for' },
  { key: c('memoryMiB'), flag: 'max-job-memory-mib', config: 'max_job_memory_mib', default: CEILING_DEFAULTS.memoryMiB, rule: int(1, 4096), what: 'most limits.memoryMiB a job may ask for' },
  { key: c('outputBytes'), flag: 'max-job-output-bytes', config: 'max_job_output_bytes', default: CEILING_DEFAULTS.outputBytes, rule: int(0), what: 'most limits.outputBytes a job may ask for' },
]

/** Gateway options from `values` by config key or flag, as `(spec) => number | undefined` says. */
export function gatewayLimitOptions(get: (spec: GatewayLimitSpec) => number | undefined): Partial<AdmissionLimits> & { ceiling?: Partial<LimitsCeiling> } {
  const out: Partial<AdmissionLimits> & { ceiling?: Partial<LimitsCeiling> } = {}
  for (const spec of GATEWAY_LIMITS) {
    const v = get(spec)
    if (v === undefined) continue
    if ('admission' in spec.key) out[spec.key.admission] = v
    else (out.ceiling ??= {})[spec.key.ceiling] = v
  }
  return out
}
