/**
 * Staged rollout: which agents take a release published to N% of a channel.
 *
 * An agent's bucket (0..99) is the first 32 bits of sha256("<version>\0<agent id>")
 * mod 100: deterministic (every agent, and the operator, can compute it), spread
 * evenly, different for each release (the same devices are not always first), and
 * monotonic in N for one release (widening 10% → 50% keeps the first 10%).
 */
import { createHash } from 'node:crypto'

export function rolloutBucket(version: string, agentId: string): number {
  const h = createHash('sha256').update(`${version}\0${agentId}`).digest()
  return h.readUInt32BE(0) % 100
}

/** Whether an agent is inside a rollout of `percent` (0..100) for `version`. */
export function inRollout(percent: number, version: string, agentId: string): boolean {
  if (percent >= 100) return true
  if (percent <= 0) return false
  return rolloutBucket(version, agentId) < percent
}

/** Whether `labels` carries every label the release asks for, with the same value. */
export function labelsMatch(wanted: Record<string, string>, labels: Record<string, string>): boolean {
  return Object.entries(wanted).every(([k, v]) => labels[k] === v)
}
