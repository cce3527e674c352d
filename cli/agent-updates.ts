/**
 * `fogmesh agent`'s OTA flags and what the command does with them: follow a release
 * channel, leave with exit 75 when a release is staged (the supervisor tries it), and,
 * when started on trial, prove health (online + self-test) or exit so it is rolled back.
 */
import { existsSync } from 'node:fs'
import type { Agent } from '../agent/agent.ts'
import { runningRelease, type RunningRelease } from '../agent/update/running-release.ts'
import { EXIT_UPDATE, UpdateLayout } from '../agent/update/update-layout.ts'
import type { UpdaterOptions } from '../agent/update/updater.ts'
import { parseTrustedKey } from '../fleet/release/release-key.ts'
import { channelName } from '../fleet/release/release-manifest.ts'
import { FogmeshError } from '../protocol/errors.ts'
import { UsageError } from './command.ts'

export const UPDATE_OPTIONS = {
  'release-key': { type: 'string' },
  channel: { type: 'string' },
  'release-root': { type: 'string' },
} as const

export const UPDATE_USAGE = `  --release-key K follow OTA releases signed by this ed25519 public key (hex, or KEY.pub from
                  fogmesh release keygen; several: K1,K2); needs the supervisor (bin/fogmesh-supervise)
  --channel C     the release channel to follow (default stable)
  --release-root DIR  the A/B root (default $FOGMESH_RELEASE_ROOT, set by the supervisor)`

export function updatesFromOptions(values: Record<string, unknown>, running: RunningRelease = runningRelease()): UpdaterOptions | undefined {
  const raw = values['release-key']
  if (raw === undefined) return undefined
  const trustedKeys = String(raw).split(',').filter(Boolean).map(parseTrustedKey)
  const root = typeof values['release-root'] === 'string' ? values['release-root'] : process.env.FOGMESH_RELEASE_ROOT
  if (!root) throw new UsageError('--release-key needs the A/B root: run the agent under bin/fogmesh-supervise (the bundle does), or give --release-root DIR')
  const channel = typeof values.channel === 'string' ? values.channel : 'stable'
  try {
    channelName(channel, '--channel')
  } catch (err) {
    throw new UsageError((err as FogmeshError).shortMessage)
  }
  return { trustedKeys, root, channel, version: running.version, arch: running.arch }
}

/** Resolves with the exit code the agent should leave with once a release is staged (EXIT_UPDATE). */
export function followReleases(agent: Agent, log: (line: string) => void): Promise<number> | undefined {
  const u = agent.updater
  if (!u) return undefined
  let lastPct = -1
  u.on('decision', (d) => log(`release ${d.version}: ${d.action}${d.action === 'take' ? '' : ` (${d.reason})`}: ${d.message}`))
  u.on('progress', (p) => {
    const pct = Math.floor((p.bytes / p.total) * 10) * 10
    if (pct !== lastPct) log(`release ${p.version}: ${pct}% of ${p.total} bytes`)
    lastPct = pct
  })
  return new Promise((resolve) => u.on('staged', (s) => {
    log(`release ${s.version} staged in releases/${s.dir}: restarting into it (the supervisor keeps it only if it comes back healthy)`)
    resolve(EXIT_UPDATE)
  }))
}

/**
 * On trial (FOGMESH_UPDATE_TRIAL=1, set by the supervisor): online as the broker sees it,
 * then the self-test job; healthy is written only if both passed. Throws otherwise.
 */
export async function proveHealth(agent: Agent, version: string, log: (line: string) => void): Promise<void> {
  if (process.env.FOGMESH_UPDATE_TRIAL !== '1' || !agent.updater) return
  await agent.announce()
  const r = await agent.selfTest()
  if (!r.ok) throw new FogmeshError('internal', `release ${version} failed its self-test: ${r.message}`)
  const layout: UpdateLayout = agent.updater.layout
  layout.markHealthy(version)
  log(`release ${version}: online and self-test passed in ${r.ms} ms; told the supervisor`)
  // the supervisor commits (moves `current`), then removes the trial file and writes the outcome
  const until = Date.now() + 60_000
  const poll = setInterval(() => {
    if (!existsSync(layout.file('trial')) || Date.now() > until) {
      clearInterval(poll)
      agent.updater?.reload()
    }
  }, 200)
  poll.unref()
}
