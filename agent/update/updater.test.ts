/**
 * The agent's updater on the in-memory MQTT twin (MemoryBus): a badly signed manifest is
 * refused and recorded once however often it comes again (a retained message on every
 * reconnect), the memory of handled manifests is bounded (`maxSeenReleases`, an event when
 * it bites), a release whose chunks are not there yet times out without an outcome and is
 * tried again later, then staged beside the running release with update/pending written.
 * ota.test.ts runs the same with real processes under the supervisor.
 */
import { existsSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { buildRelease } from '../../fleet/release/build-release.ts'
import { generateReleaseKey, readReleaseKey } from '../../fleet/release/release-key.ts'
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

function release(version: string, key = fleet) {
  const b = fixtureBundle({ version })
  return buildRelease({ bundles: [{ file: b.file, bytes: b.bytes }], key, channel: 'stable', chunkBytes: 4096 })
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

test.run()
