/**
 * Whether an agent takes a release, before a byte of it is fetched: signed by a trusted
 * key, a build for its arch, newer than what runs, inside the rollout and the labels,
 * not one that already rolled back here, not larger than it takes. A refusal is a
 * release that is wrong (reported as the update's outcome); a skip is one not meant
 * for this agent, or not now (reported as a decision only).
 */
import { RefusalReason } from '../../fleet/release/release-error.ts'
import { verifyManifest, type ReleaseBuild, type ReleaseManifest } from '../../fleet/release/release-manifest.ts'
import { inRollout, labelsMatch, rolloutBucket } from '../../fleet/release/rollout.ts'
import { ReleaseError } from '../../fleet/release/release-error.ts'
import { compareVersions } from '../../fleet/release/version-order.ts'

export interface PolicyContext {
  trustedKeys: readonly string[]
  agentId: string
  labels: Record<string, string>
  version: string
  arch: string
  failed: ReadonlySet<string>
  maxReleaseBytes: number
}

export type SkipReason = 'same_version' | 'not_in_rollout' | 'labels' | 'rolled_back_before'

export type Decision =
  | { action: 'take'; build: ReleaseBuild; message: string }
  | { action: 'refuse'; reason: RefusalReason; message: string }
  | { action: 'skip'; reason: SkipReason; message: string }

export function decideRelease(m: ReleaseManifest, ctx: PolicyContext): Decision {
  const what = `release ${m.version} on ${m.channel}`
  try {
    verifyManifest(m, ctx.trustedKeys)
  } catch (err) {
    return { action: 'refuse', reason: RefusalReason.badSignature, message: (err as ReleaseError).shortMessage }
  }
  const build = m.builds.find((b) => b.arch === ctx.arch)
  if (!build) return { action: 'refuse', reason: RefusalReason.wrongArch, message: `${what} has no build for ${ctx.arch} (only ${m.builds.map((b) => b.arch).join(', ')})` }
  let order: number
  try {
    order = compareVersions(m.version, ctx.version)
  } catch {
    order = 1 // the running version is not a release version (a checkout): any release is newer
  }
  if (order < 0) return { action: 'refuse', reason: RefusalReason.downgrade, message: `${what} is older than ${ctx.version}, which runs here` }
  if (order === 0) return { action: 'skip', reason: 'same_version', message: `${what} runs here already` }
  if (ctx.failed.has(m.version)) return { action: 'skip', reason: 'rolled_back_before', message: `${what} rolled back here before: not tried again` }
  if (!labelsMatch(m.labels, ctx.labels)) return { action: 'skip', reason: 'labels', message: `${what} is for labels ${JSON.stringify(m.labels)}` }
  if (!inRollout(m.rollout, m.version, ctx.agentId)) {
    return { action: 'skip', reason: 'not_in_rollout', message: `${what} goes to ${m.rollout}% of agents; this one is in bucket ${rolloutBucket(m.version, ctx.agentId)}` }
  }
  if (build.size > ctx.maxReleaseBytes) return { action: 'refuse', reason: RefusalReason.badSize, message: `${what} is ${build.size} bytes, over this agent's ${ctx.maxReleaseBytes}` }
  return { action: 'take', build, message: `${what}: taking ${build.file} (${build.size} bytes)` }
}
