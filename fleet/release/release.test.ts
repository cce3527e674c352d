/**
 * Releases without a broker: the manifest's signature (the fleet key, another key, a
 * changed field), its shape, the bundle check (truncated, corrupted, a changed or an
 * unlisted file), chunking, version order, the rollout's buckets and the agent's policy.
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync, statSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { decideRelease, type PolicyContext } from '../../agent/update/release-policy.ts'
import { fixtureBundle } from '../../test/support/release-fixtures.ts'
import { tmpDir } from '../../test/support/temp-dirs.ts'
import { inspectBundle } from './bundle-info.ts'
import { buildRelease } from './build-release.ts'
import { canonicalJson } from './canonical-json.ts'
import { ReleaseError } from './release-error.ts'
import { generateReleaseKey, parseTrustedKey, readReleaseKey } from './release-key.ts'
import { parseManifest, verifyManifest } from './release-manifest.ts'
import { inRollout, labelsMatch, rolloutBucket } from './rollout.ts'
import { compareVersions } from './version-order.ts'

const dir = tmpDir('fm-release-keys-')
generateReleaseKey(join(dir, 'fleet.key'))
generateReleaseKey(join(dir, 'other.key'))
const fleet = readReleaseKey(join(dir, 'fleet.key'))
const other = readReleaseKey(join(dir, 'other.key'))
const b020 = fixtureBundle({ version: '0.2.0' })

function refusal(fn: () => unknown): ReleaseError {
  try {
    fn()
  } catch (err) {
    if (err instanceof ReleaseError) return err
    throw err
  }
  throw new Error('expected a ReleaseError')
}

test('keygen: secret mode 0600, .pub holds the public key, never overwritten; --release-key takes hex, .pub or the key file', () => {
  assert.is(statSync(join(dir, 'fleet.key')).mode & 0o777, 0o600)
  assert.is(readFileSync(join(dir, 'fleet.key.pub'), 'utf8').trim(), fleet.publicKey)
  assert.throws(() => generateReleaseKey(join(dir, 'fleet.key')), /exists already/)
  assert.is(parseTrustedKey(fleet.publicKey.toUpperCase()), fleet.publicKey)
  assert.is(parseTrustedKey(join(dir, 'fleet.key.pub')), fleet.publicKey)
  assert.is(parseTrustedKey(join(dir, 'fleet.key')), fleet.publicKey)
  assert.throws(() => parseTrustedKey(join(dir, 'nope')), /neither 64 hex characters nor a readable file/)
  assert.is(fleet.keyId, createHash('sha256').update(Buffer.from(fleet.publicKey, 'hex')).digest('hex').slice(0, 16))
})

test('canonical JSON sorts keys at every level and drops undefined', () => {
  assert.is(canonicalJson({ b: 1, a: { d: [1, { y: 2, x: 1 }], c: undefined } }), '{"a":{"d":[1,{"x":1,"y":2}]},"b":1}')
})

test('a release is signed by the fleet key and verifies; another key, a changed field or a changed signature does not', () => {
  const r = buildRelease({ bundles: [{ file: b020.file, bytes: b020.bytes }], key: fleet, channel: 'stable', rollout: 25, labels: { site: 'depot-3' }, chunkBytes: 1024, now: 1 })
  const m = parseManifest(JSON.stringify(r.manifest))
  assert.is(verifyManifest(m, [other.publicKey, fleet.publicKey]), fleet.publicKey)
  assert.is(m.version, '0.2.0')
  assert.is(m.builds[0]!.sha256, createHash('sha256').update(b020.bytes).digest('hex'))
  assert.ok(m.builds[0]!.chunks.length > 1, 'cut into chunks of 1 KiB')
  assert.is(Buffer.concat(m.builds[0]!.chunks.map((c) => r.blobs.get(c.sha256)!)).toString('hex'), b020.bytes.toString('hex'))

  const byOther = buildRelease({ bundles: [{ file: b020.file, bytes: b020.bytes }], key: other, channel: 'stable' }).manifest
  assert.match(refusal(() => verifyManifest(byOther, [fleet.publicKey])).shortMessage, new RegExp(`signed by key ${other.keyId}, which this agent does not trust`))
  const widened = { ...m, rollout: 100 }
  const e = refusal(() => verifyManifest(widened, [fleet.publicKey]))
  assert.is(e.reason, 'bad_signature')
  assert.match(e.shortMessage, /does not verify with release key .* \(changed after signing\)/)
  const forged = { ...m, signature: m.signature.replace(/^./, (c) => (c === '0' ? '1' : '0')) }
  assert.is(refusal(() => verifyManifest(forged, [fleet.publicKey])).reason, 'bad_signature')
})

test('a malformed manifest is refused naming the field', () => {
  const m = buildRelease({ bundles: [{ file: b020.file, bytes: b020.bytes }], key: fleet, channel: 'stable' }).manifest
  assert.match(refusal(() => parseManifest('{')).shortMessage, /not valid JSON/)
  assert.match(refusal(() => parseManifest(JSON.stringify({ ...m, version: 'latest' }))).shortMessage, /release\.version: expected a release version/)
  assert.match(refusal(() => parseManifest(JSON.stringify({ ...m, builds: [{ ...m.builds[0]!, size: m.builds[0]!.size + 1 }] }))).shortMessage, /chunks add up to \d+ bytes, not size/)
  assert.match(refusal(() => parseManifest(JSON.stringify({ ...m, rollout: 101 }))).shortMessage, /release\.rollout/)
})

test('bundles: truncated, corrupted, a changed file, an unlisted file, another layout — each one line naming the file and the cause', () => {
  const info = inspectBundle(b020.bytes, b020.file)
  assert.is(info.version, '0.2.0')
  assert.is(info.arch, 'x64')
  assert.is(info.root, 'fogmesh-0.2.0-linux-x64')
  assert.match(refusal(() => inspectBundle(b020.bytes.subarray(0, b020.bytes.length >> 1), 'half.tar.gz')).shortMessage, /^bundle half\.tar\.gz: truncated/)
  const flipped = Buffer.from(b020.bytes)
  flipped[flipped.length >> 1] = flipped[flipped.length >> 1]! ^ 0xff
  assert.match(refusal(() => inspectBundle(flipped, 'flipped.tar.gz')).shortMessage, /^bundle flipped\.tar\.gz: (not a gzip file or corrupted|truncated|corrupted)/)
  const changed = fixtureBundle({ version: '0.2.0', files: {} })
  // a file changed after the manifest was written: tar it up again by hand
  const t = tmpDir()
  execFileSync('cp', ['-R', changed.dir, t])
  execFileSync('sh', ['-c', `echo tampered >> "${t}/${changed.root}/lib/fogmesh.js" && echo x > "${t}/${changed.root}/extra.txt"`])
  execFileSync('tar', ['--format=ustar', '-czf', `${t}/c.tar.gz`, '-C', t, changed.root])
  assert.match(refusal(() => inspectBundle(readFileSync(`${t}/c.tar.gz`), 'c.tar.gz')).shortMessage, /^bundle c\.tar\.gz: (lib\/fogmesh\.js is \d+ bytes, manifest\.json says \d+|extra\.txt is not listed in manifest\.json)$/)
  assert.match(refusal(() => inspectBundle(Buffer.from('not a tarball'), 'x.tar.gz')).shortMessage, /^bundle x\.tar\.gz: not a gzip file/)
})

test('one release, one version: bundles of two versions or two of one arch are refused', () => {
  const arm = fixtureBundle({ version: '0.2.0', arch: 'arm64' })
  const r = buildRelease({ bundles: [{ file: b020.file, bytes: b020.bytes }, { file: arm.file, bytes: arm.bytes }], key: fleet, channel: 'beta' })
  assert.equal(r.manifest.builds.map((b) => b.arch), ['x64', 'arm64'])
  const b030 = fixtureBundle({ version: '0.3.0' })
  assert.throws(() => buildRelease({ bundles: [{ file: b020.file, bytes: b020.bytes }, { file: b030.file, bytes: b030.bytes }], key: fleet, channel: 'beta' }), /one release, one version/)
  assert.throws(() => buildRelease({ bundles: [{ file: b020.file, bytes: b020.bytes }, { file: b020.file, bytes: b020.bytes }], key: fleet, channel: 'beta' }), /two bundles for x64/)
})

test('version order: numeric parts, prereleases before their release', () => {
  const sorted = ['0.9.0', '0.10.0-rc.1', '0.10.0-rc.2', '0.10.0-rc.10', '0.10.0', '0.10.1', '1.0.0']
  for (let i = 0; i < sorted.length - 1; i++) assert.ok(compareVersions(sorted[i]!, sorted[i + 1]!) < 0, `${sorted[i]} < ${sorted[i + 1]}`)
  assert.is(compareVersions('1.2.3', '1.2.3'), 0)
})

test('rollout: deterministic buckets, close to N% of 2000 agents, monotonic as N widens', () => {
  const ids = Array.from({ length: 2000 }, (_, i) => createHash('sha256').update(String(i)).digest('hex').slice(0, 20))
  assert.is(rolloutBucket('0.2.0', ids[0]!), rolloutBucket('0.2.0', ids[0]!))
  for (const pct of [10, 25, 50]) {
    const n = ids.filter((id) => inRollout(pct, '0.2.0', id)).length
    assert.ok(Math.abs(n / ids.length - pct / 100) < 0.04, `${pct}%: ${n} of ${ids.length}`)
  }
  for (const id of ids) if (inRollout(10, '0.2.0', id)) assert.ok(inRollout(50, '0.2.0', id), 'inside 10% means inside 50%')
  assert.ok(ids.every((id) => inRollout(100, '0.2.0', id)) && !ids.some((id) => inRollout(0, '0.2.0', id)))
  assert.ok(labelsMatch({ site: 'a' }, { site: 'a', x: 'y' }) && !labelsMatch({ site: 'a' }, { site: 'b' }) && labelsMatch({}, {}))
})

test('policy: take, refuse (signature, arch, downgrade, size) and skip (same version, labels, rollout, rolled back before)', () => {
  const m = buildRelease({ bundles: [{ file: b020.file, bytes: b020.bytes }], key: fleet, channel: 'stable' }).manifest
  const ctx: PolicyContext = { trustedKeys: [fleet.publicKey], agentId: 'a'.repeat(20), labels: { site: 'depot-3' }, version: '0.1.0', arch: 'x64', failed: new Set(), maxReleaseBytes: 1e9 }
  assert.is(decideRelease(m, ctx).action, 'take')
  const d = (over: Partial<PolicyContext>, man = m) => decideRelease(man, { ...ctx, ...over })
  assert.equal([d({ trustedKeys: [other.publicKey] })].map((x) => [x.action, 'reason' in x ? x.reason : '']), [['refuse', 'bad_signature']])
  assert.equal(d({ arch: 'armv7' }), { action: 'refuse', reason: 'wrong_arch', message: 'release 0.2.0 on stable has no build for armv7 (only x64)' })
  assert.equal(d({ version: '0.3.0' }), { action: 'refuse', reason: 'downgrade', message: 'release 0.2.0 on stable is older than 0.3.0, which runs here' })
  assert.is((d({ maxReleaseBytes: 10 }) as { reason: string }).reason, 'bad_size')
  assert.is((d({ version: '0.2.0' }) as { reason: string }).reason, 'same_version')
  assert.is((d({ failed: new Set(['0.2.0']) }) as { reason: string }).reason, 'rolled_back_before')
  const forSite = buildRelease({ bundles: [{ file: b020.file, bytes: b020.bytes }], key: fleet, channel: 'stable', labels: { site: 'depot-9' } }).manifest
  assert.is((d({}, forSite) as { reason: string }).reason, 'labels')
  const none = buildRelease({ bundles: [{ file: b020.file, bytes: b020.bytes }], key: fleet, channel: 'stable', rollout: 0 }).manifest
  assert.is((d({}, none) as { reason: string }).reason, 'not_in_rollout')
})

test.run()
