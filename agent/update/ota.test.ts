/**
 * OTA with real processes: the supervisor (files/fogmesh-supervise.sh) runs a real agent
 * from an A/B root, releases go through a real broker, and what the agent does is read
 * from its retained presence, as an operator would. A good release is taken and kept; a
 * release that crashes at start is rolled back and reported; a badly signed one, one whose
 * bytes do not match, one for another arch and a downgrade are refused while the agent
 * keeps running (its `since` does not change).
 */
import { spawn } from 'node:child_process'
import { existsSync, readlinkSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { buildRelease, type BuiltRelease } from '../../fleet/release/build-release.ts'
import { ReleasePublisher } from '../../fleet/release/publish-release.ts'
import { generateReleaseKey, readReleaseKey } from '../../fleet/release/release-key.ts'
import { signManifest } from '../../fleet/release/release-manifest.ts'
import type { PresenceOnline } from '../../protocol/messages.ts'
import { connect } from '../../protocol/transport.ts'
import { exited, trackChild } from '../../test/support/child-processes.ts'
import { runFogmesh, showRun } from '../../test/support/fogmesh-cli.ts'
import { closeClient, plainClient } from '../../test/support/mqtt-clients.ts'
import { CRASHING_LAUNCHER, fixtureBundle, releaseRoot } from '../../test/support/release-fixtures.ts'
import { tmpDir } from '../../test/support/temp-dirs.ts'
import { testBroker } from '../../test/support/test-broker.ts'
import { waitFor } from '../../test/support/wait.ts'

const WAIT = 120_000 // agents start in seconds, more on a loaded machine

test('an agent under the supervisor takes a good release, rolls back a crashing one, refuses bad ones and keeps running', async () => {
  const broker = await testBroker()
  const keys = tmpDir('fm-ota-keys-')
  generateReleaseKey(join(keys, 'fleet.key'))
  generateReleaseKey(join(keys, 'other.key'))
  const fleet = readReleaseKey(join(keys, 'fleet.key'))
  const other = readReleaseKey(join(keys, 'other.key'))
  const root = releaseRoot(fixtureBundle({ version: '0.1.0' }), '0.1.0')
  const watcher = await plainClient(broker.url)
  const presence = new Map<string, PresenceOnline>()
  watcher.on('message', (_t, payload) => {
    const p = JSON.parse(payload.toString()) as PresenceOnline
    if (p.status === 'online') presence.set(p.id, p)
  })
  await watcher.subscribeAsync('fm/v1/agents/+/presence', { qos: 1 })
  const conn = await connect(broker.url, { reconnect: false })
  const publisher = new ReleasePublisher(conn)
  const publish = (r: BuiltRelease) => publisher.publish(r, { allowOlder: true })
  const sup = trackChild(
    spawn('sh', [join(root, 'current/bin/fogmesh-supervise'), '--root', root, '--window', '90', '--', 'agent', '--broker', broker.url, '--name', 'ota-1', '--data', tmpDir('fm-ota-data-'), '--release-key', join(keys, 'fleet.key.pub'), '--isolation', 'thread', '--slots', '1'], {
      stdio: ['ignore', 'pipe', 'pipe'],
      env: { ...process.env, FOGMESH_HOME: tmpDir() },
      detached: true, // its own process group: the agent goes with it whatever happens
    }),
  )
  const killAll = () => {
    try {
      process.kill(-sup.pid!, 'SIGKILL')
    } catch {
      // gone already
    }
  }
  process.once('exit', killAll)
  let out = ''
  sup.stdout!.on('data', (d) => (out += d))
  sup.stderr!.on('data', (d) => (out += d))
  const agentWith = (what: string, ok: (p: PresenceOnline) => boolean) => waitFor(() => [...presence.values()].find(ok), WAIT, `${what}\n--- supervisor and agent output\n${out}`)
  try {
    const first = await agentWith('the agent online with 0.1.0', (p) => p.version === '0.1.0')
    const id = first.id
    assert.is(first.update, undefined, 'no update yet')

    // a good release, through the CLI as an operator publishes it
    const good = fixtureBundle({ version: '0.2.0' })
    const r = await runFogmesh(['release', 'publish', good.tarball, '--key', join(keys, 'fleet.key'), '--broker', broker.url, '--channel', 'stable', '--chunk-bytes', '4096'])
    assert.is(r.code, 0, showRun(r))
    assert.match(r.stdout, /^release 0\.2\.0 on stable: x64 \d+ bytes in \d+ chunk\(s\); rollout 100%; signed by [0-9a-f]{16}$/m)
    const updated = await agentWith('the agent back with 0.2.0, reporting the update', (p) => p.id === id && p.version === '0.2.0' && p.update?.outcome === 'updated')
    assert.equal({ ...updated.update, at: 0 }, { outcome: 'updated', version: '0.2.0', from: '0.1.0', at: 0 })
    assert.is(readlinkSync(join(root, 'current')), 'releases/0.2.0-x64')
    assert.is(readlinkSync(join(root, 'previous')), 'releases/0.1.0-x64')
    assert.match(out, /release 0\.2\.0: online and self-test passed in \d+ ms/)

    // a release that crashes at start: rolled back by the supervisor, reported by the old release
    const crashing = fixtureBundle({ version: '0.3.0', files: { 'bin/fogmesh': { data: CRASHING_LAUNCHER, mode: 0o755 } } })
    await publish(buildRelease({ bundles: [{ file: crashing.file, bytes: crashing.bytes }], key: fleet, channel: 'stable' }))
    const rolledBack = await agentWith('the agent back on 0.2.0, reporting the rollback of 0.3.0', (p) => p.id === id && p.update?.version === '0.3.0')
    assert.is(rolledBack.version, '0.2.0')
    assert.equal({ ...rolledBack.update, at: 0 }, { outcome: 'rolled_back', version: '0.3.0', from: '0.2.0', reason: 'exit_3', message: 'the new release exited with code 3 before it was healthy', at: 0 })
    assert.is(readlinkSync(join(root, 'current')), 'releases/0.2.0-x64')
    assert.match(out, /this release is broken \(test fixture\)/)
    assert.not.ok(existsSync(join(root, 'releases/0.3.0-x64')), 'the rolled-back release is removed from the device')
    assert.ok(existsSync(join(root, 'releases/0.1.0-x64')) && existsSync(join(root, 'releases/0.2.0-x64')), 'current and previous kept')
    const since = rolledBack.since

    // refused without a restart: each reported, `since` unchanged, nothing unpacked
    const refusedAs = async (version: string, reason: string, release: BuiltRelease) => {
      await publish(release)
      const p = await agentWith(`release ${version} refused (${reason})`, (x) => x.id === id && x.update?.version === version)
      assert.is(p.update?.outcome, 'refused', `${version}: ${JSON.stringify(p.update)}`)
      assert.is(p.update?.reason, reason, `${version}: ${JSON.stringify(p.update)}`)
      assert.is(p.version, '0.2.0')
      assert.is(p.since, since, `${version}: the agent kept running`)
      assert.not.ok(existsSync(join(root, 'releases', `${version}-x64`)), `${version}: nothing unpacked`)
      return p.update!.message ?? ''
    }
    const b040 = fixtureBundle({ version: '0.4.0' })
    const msg = await refusedAs('0.4.0', 'bad_signature', buildRelease({ bundles: [{ file: b040.file, bytes: b040.bytes }], key: other, channel: 'stable' }))
    assert.match(msg, new RegExp(`signed by key ${other.keyId}, which this agent does not trust`))

    const b041 = fixtureBundle({ version: '0.4.1' })
    const honest = buildRelease({ bundles: [{ file: b041.file, bytes: b041.bytes }], key: fleet, channel: 'stable' })
    const { signature: _s, ...unsigned } = honest.manifest
    const lying = signManifest({ ...unsigned, builds: [{ ...unsigned.builds[0]!, sha256: 'f'.repeat(64) }] }, fleet)
    await refusedAs('0.4.1', 'hash_mismatch', { ...honest, manifest: lying })

    const arm = fixtureBundle({ version: '0.5.0', arch: 'arm64' })
    const archMsg = await refusedAs('0.5.0', 'wrong_arch', buildRelease({ bundles: [{ file: arm.file, bytes: arm.bytes }], key: fleet, channel: 'stable' }))
    assert.is(archMsg, 'release 0.5.0 on stable has no build for x64 (only arm64)')

    const old = fixtureBundle({ version: '0.1.5' })
    await refusedAs('0.1.5', 'downgrade', buildRelease({ bundles: [{ file: old.file, bytes: old.bytes }], key: fleet, channel: 'stable' }))
  } finally {
    sup.kill('SIGTERM')
    await exited(sup, 30_000).catch(killAll)
    await conn.close()
    await closeClient(watcher)
    await broker.close()
  }
})

test.run()
