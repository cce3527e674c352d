/**
 * The most a sensor may ask for through the gateway (`limits` of a job): a
 * job over the ceiling is refused with `limit_exceeded` before it reaches the
 * market, whatever the agents would accept.
 */
import type { RequestedLimits } from '../protocol/messages.ts'

export type LimitsCeiling = Required<RequestedLimits>

export const CEILING_DEFAULTS: LimitsCeiling = { fuel: 1e12, memoryMiB: 256, timeoutMs: 60_000, outputBytes: 1024 * 1024 }

/** Why `asked` is over `ceiling` (naming the field), or undefined. */
export function overCeiling(asked: RequestedLimits | undefined, ceiling: LimitsCeiling): string | undefined {
  if (!asked) return undefined
  for (const k of ['fuel', 'memoryMiB', 'timeoutMs', 'outputBytes'] as const) {
    const v = asked[k]
    if (v !== undefined && v > ceiling[k]) return `limits.${k}: at most ${ceiling[k]} through this gateway (asked ${v})`
  }
  return undefined
}
