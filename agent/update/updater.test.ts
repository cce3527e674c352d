/**
 * The agent's updater on the in-memory MQTT twin (MemoryBus): a badly signed manifest is
 * refused and recorded once however often it comes again (a retained message on every
 * reconnect), the memory of handled manifests is bounded (`maxSeenReleases`, an event when
 * it bites), a release whose chunks are not there yet times out without an outcome and is
 * tried again later, then staged beside the running release with update/pending written;
 * a staged rollout over 24 agents (30% by id hash, widened to 100%) and a release for one site.
 * ota.test.ts runs the same with real processes under the supervisor.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { buildRelease } from '../../fleet/release/build-release.ts'
import { generateReleaseKey, readReleaseKey } from '../../fleet/release/release-key.ts'
import { rolloutBucket } from '../../fleet/release/rollout.ts'
import { ReleasePublisher } from '../../fleet/release/publish-release.ts'
import { topics } from '../../protocol/topics.ts'
import { MemoryBus } from '../../protocol/transport/memory-bus.ts'
import { fixtureBundle } from '../../test/support/release-fixtures.ts'
import { tmpDir } from '../../test/support/temp-dirs.ts'
import { waitFor } from '../../test/support/wait.ts'
import { Updater, type UpdaterEvents } from './updater.ts'

const keys = tmpDir('fm-updater-keys-')
generateReleaseKey(join(keys, 'fleet.key'))
generateReleaseKey(join(keys, 'other.key'))
const fleet = readReleaseKey(join(keys, 'fleet.key'))
const other = readReleaseKey(join(keys, 'other.key'))

function release(version: string, key = fleet, extra: { rollout?: number; labels?: Record<string, string> } = {}) {
  const b = fixtureBundle({ version })
  return buildRelease({ bundles: [{ file: b.file, bytes: b.bytes }], key, channel: 'stable', chunkBytes: 4096, ...extra })
}

async function setup(extra: { maxSeenReleases?: number; chunkTimeoutMs?: number; retryMs?: number } = {}) {
  const bus = new MemoryBus()
  const agentConn = await bus.connect({ clientId: 'agent' })
  const operator = await bus.connect({ clientId: 'operator' })
  const root = tmpDir('fm-updater-root-')
  const u = new Updater(agentConn, { id: 'a1b2c3d4e5f6a7b8c9d0', labels: {} }, { trustedKeys: [fleet.publicKey], root, version: '0.1.0', arch: 'x64', ...extra })
  const seen: { decision: UpdaterEvents['decision'][0][]; limit: number; staged: UpdaterEvents['staged'][0][] } = { decision: [], limit: 0, staged: [] }
  u.on('decision', (d) => seen.decision.push(d))
  u.on('limit', () => seen.limit++)
  u.on('staged', (s) => seen.staged.push(s))
  await u.start()
  return { bus, u, root, operator, seen }
}

test('a badly signed manifest is refused and recorded once, however often it comes again', async () => {
  const { bus, u, root, operator, seen } = await setup()
  const bad = release('0.2.0', other)
  await operator.publishAsync(topics.release('stable'), JSON.stringify(bad.manifest), { qos: 1, retain: true })
  await waitFor(() => seen.decision.length === 1, 5000, 'a decision')
  assert.is(seen.decision[0]!.action, 'refuse')
  assert.is((seen.decision[0] as { reason: string }).reason, 'bad_signature')
  assert.is(u.status()?.outcome, 'refused')
  assert.is(u.status()?.reason, 'bad_signature')
  const last = JSON.parse(readFileSync(join(root, 'update/last.json'), 'utf8')) as { outcome: string; version: string; from: string }
  assert.equal([last.outcome, last.version, last.from], ['refused', '0.2.0', '0.1.0'])
  // a reconnect brings the retained manifest again: not handled twice
  bus.drop('agent')
  bus.reconnect('agent')
  await operator.publishAsync(topics.release('stable'), JSON.stringify(bad.manifest), { qos: 1, retain: true })
  await bus.flush()
  await new Promise((r) => setTimeout(r, 50))
  assert.is(seen.decision.length, 1)
  assert.not.ok(existsSync(join(root, 'update/pending')), 'nothing staged')
  u.stop()
})

test('the manifests remembered are bounded: maxSeenReleases, and an event when it bites', async () => {
  const { u, operator, seen } = await setup({ maxSeenReleases: 2 })
  for (const v of ['0.2.0', '0.3.0', '0.4.0']) {
    await operator.publishAsync(topics.release('stable'), JSON.stringify(release(v, other).manifest), { qos: 1, retain: true })
    await waitFor(() => seen.decision.some((d) => d.version === v), 5000, `the decision on ${v}`)
  }
  assert.is(seen.limit, 1, 'the third manifest pushed the first out')
  assert.throws(() => new Updater(operator, { id: 'x', labels: {} }, { trustedKeys: [fleet.publicKey], root: tmpDir(), version: '0.1.0', arch: 'x64', maxSeenReleases: 0 }), /update\.maxSeenReleases/)
  u.stop()
})

test('chunks not there yet: fetch_timeout, no outcome recorded, tried again later and staged once they are', async () => {
  const { u, root, operator, seen } = await setup({ chunkTimeoutMs: 100, retryMs: 200 })
  const good = release('0.2.0')
  await operator.publishAsync(topics.release('stable'), JSON.stringify(good.manifest), { qos: 1, retain: true })
  await waitFor(() => seen.decision.length === 1, 5000, 'the first try')
  assert.is((seen.decision[0] as { reason: string }).reason, 'fetch_timeout')
  assert.is(u.status(), undefined, 'a timeout is not an outcome')
  for (const [sha, bytes] of good.blobs) await operator.publishAsync(topics.releaseBlob(sha), bytes, { qos: 1, retain: true })
  await waitFor(() => seen.staged.length === 1, 10_000, 'the release staged on the retry')
  assert.equal(seen.staged[0], { version: '0.2.0', dir: '0.2.0-x64' })
  assert.is(readFileSync(join(root, 'update/pending'), 'utf8'), 'releases/0.2.0-x64\n')
  assert.ok(existsSync(join(root, 'releases/0.2.0-x64/bin/fogmesh')), 'unpacked beside the running release')
  assert.is(seen.decision.at(-1)!.action, 'take')
  u.stop()
})

test('staged rollout on 24 agents: 30% by id hash, then widened to 100%; labels pick the site', async () => {
  const bus = new MemoryBus()
  const operator = await bus.connect({ clientId: 'operator' })
  const agents = await Promise.all(
    Array.from({ length: 24 }, async (_, i) => {
      const id = (i + 1).toString(16).padStart(20, 'a')
      const u = new Updater(await bus.connect({ clientId: id }), { id, labels: { site: i % 2 ? 'north' : 'south' } }, { trustedKeys: [fleet.publicKey], root: tmpDir('fm-updater-fleet-'), version: '0.1.0', arch: 'x64' })
      const a = { id, u, site: i % 2 ? 'north' : 'south', staged: '', skipped: '' }
      u.on('staged', (s) => (a.staged = s.version))
      u.on('decision', (d) => d.action === 'skip' && (a.skipped = d.reason))
      await u.start()
      return a
    }),
  )
  const pub = new ReleasePublisher(operator)
  const settle = (what: string, done: () => boolean) => waitFor(done, 10_000, what)

  // 30%: exactly the agents whose bucket for 0.2.0 is below 30 take it; the others skip it
  await pub.publish(release('0.2.0', fleet, { rollout: 30 }))
  const inside = agents.filter((a) => rolloutBucket('0.2.0', a.id) < 30)
  assert.ok(inside.length > 0 && inside.length < agents.length, `some, not all, in the first 30% (${inside.length})`)
  await settle('every agent to decide', () => agents.every((a) => a.staged || a.skipped))
  assert.equal(agents.filter((a) => a.staged === '0.2.0').map((a) => a.id), inside.map((a) => a.id))
  assert.ok(agents.filter((a) => !a.staged).every((a) => a.skipped === 'not_in_rollout'))

  // widened to 100%: the rest take it too
  await pub.publish(release('0.2.0', fleet, { rollout: 100 }))
  await settle('the rest to take 0.2.0', () => agents.every((a) => a.staged === '0.2.0'))

  // labels: 0.3.0 only for site=north (the agents that staged 0.2.0 left; fresh ones follow)
  for (const a of agents) a.u.stop()
  const fresh = await Promise.all(
    agents.slice(0, 6).map(async (a) => {
      const u = new Updater(await bus.connect({ clientId: `${a.id}-2` }), { id: a.id, labels: { site: a.site } }, { trustedKeys: [fleet.publicKey], root: tmpDir('fm-updater-fleet-'), version: '0.2.0', arch: 'x64' })
      const f = { site: a.site, staged: '', skipped: '' }
      u.on('staged', (s) => (f.staged = s.version))
      u.on('decision', (d) => d.action === 'skip' && (f.skipped = d.reason))
      await u.start()
      return { f, u }
    }),
  )
  await pub.publish(release('0.3.0', fleet, { labels: { site: 'north' } }))
  await settle('the fresh agents to decide', () => fresh.every(({ f }) => f.staged || f.skipped))
  for (const { f, u } of fresh) {
    if (f.site === 'north') assert.is(f.staged, '0.3.0')
    else assert.is(f.skipped, 'labels')
    u.stop()
  }
})

test.run()
