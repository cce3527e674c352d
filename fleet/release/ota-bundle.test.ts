/**
 * OTA end to end on real bundles: two x64 bundles built by `fogmesh bundle`'s code (0.1.0 and
 * 0.2.0), the first installed by its own install.sh as a plain background service (its own
 * test-only users, the executor as another user), the second published with `release publish`'s
 * code; the agent, under the bundle's bin/fogmesh-supervise, takes it, passes its self-test on its
 * executor process, and the supervisor keeps it. agent/update/ota.test.ts covers the rollbacks
 * and refusals with fixture bundles.
 */
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as uvu from 'uvu'
import * as assert from 'uvu/assert'
import { buildBundle, type BuiltBundle } from '../bundle/build-bundle.ts'
import type { PresenceOnline } from '../../protocol/messages.ts'
import { connect } from '../../protocol/transport.ts'
import { closeClient, plainClient } from '../../test/support/mqtt-clients.ts'
import { testNeeding, testUnless } from '../../test/support/programs.ts'
import { tmpDir } from '../../test/support/temp-dirs.ts'
import { testBroker } from '../../test/support/test-broker.ts'
import { waitFor } from '../../test/support/wait.ts'
import { buildRelease } from './build-release.ts'
import { ReleasePublisher } from './publish-release.ts'
import { generateReleaseKey, readReleaseKey } from './release-key.ts'

const test = testUnless(testNeeding(uvu.test, 'setpriv', 'useradd', 'sha256sum', 'tar'), process.getuid?.() === 0 ? undefined : 'install.sh needs root')
const AGENT_USER = 'fmtest-ota'
const EXEC_USER = 'fmtest-ota-exec'
const WAIT = 120_000

function killUsers(): void {
  for (const p of spawnSync('pgrep', ['-u', `${AGENT_USER},${EXEC_USER}`], { encoding: 'utf8' }).stdout.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(p), 'SIGKILL')
    } catch {
      // gone
    }
  }
}

test('a bundle installed by install.sh updates itself to the next release under its supervisor', async () => {
  for (const u of [AGENT_USER, EXEC_USER]) spawnSync('userdel', [u]) // left over by a run that was killed
  const root = tmpDir('fm-ota-bundle-')
  chmodSync(root, 0o755)
  const out = join(root, 'dist')
  const [b1, b2]: BuiltBundle[] = [await buildBundle({ arch: 'x64', outDir: out, version: '0.1.0' }), await buildBundle({ arch: 'x64', outDir: out, version: '0.2.0' })]
  spawnSync('tar', ['-xzf', b1!.tarball, '-C', root])
  generateReleaseKey(join(root, 'fleet.key'))
  const key = readReleaseKey(join(root, 'fleet.key'))
  const broker = await testBroker()
  const watcher = await plainClient(broker.url)
  const presence: PresenceOnline[] = []
  watcher.on('message', (_t, payload) => {
    const p = JSON.parse(payload.toString()) as PresenceOnline
    if (p.status === 'online') presence.push(p)
  })
  await watcher.subscribeAsync('fm/v1/agents/+/presence', { qos: 1 })
  const conn = await connect(broker.url, { reconnect: false })
  const d = { prefix: join(root, 'opt'), etc: join(root, 'etc'), state: join(root, 'var'), run: join(root, 'run'), log: join(root, 'agent.log') }
  try {
    writeFileSync(join(root, 'agent.json'), JSON.stringify({ broker: broker.url, name: 'ota-real', releaseKey: key.publicKey, channel: 'stable' }))
    const inst = spawnSync('/bin/sh', [join(root, 'fogmesh-0.1.0-linux-x64/install.sh'), '--config', join(root, 'agent.json'), '--systemd', 'no', '--prefix', d.prefix, '--config-dir', d.etc, '--state-dir', d.state, '--run-dir', d.run, '--log', d.log, '--user', AGENT_USER, '--exec-user', EXEC_USER], { encoding: 'utf8' })
    assert.is(inst.status, 0, inst.stdout + inst.stderr)
    const log = () => (existsSync(d.log) ? readFileSync(d.log, 'utf8') : '')
    const first = await waitFor(() => presence.find((p) => p.version === '0.1.0'), WAIT, `the installed agent online\n${log()}`)

    await new ReleasePublisher(conn).publish(buildRelease({ bundles: [{ file: b2!.tarball.split('/').pop()!, bytes: readFileSync(b2!.tarball) }], key, channel: 'stable' }))
    const updated = await waitFor(() => presence.find((p) => p.id === first.id && p.version === '0.2.0' && p.update?.outcome === 'updated'), WAIT, `the agent on 0.2.0\n${log()}`)
    assert.is(updated.update?.from, '0.1.0')
    assert.is(readlinkSync(join(d.prefix, 'current')), 'releases/0.2.0-x64')
    assert.is(readlinkSync(join(d.prefix, 'previous')), 'releases/0.1.0-x64')
    const uid = Number(spawnSync('id', ['-u', AGENT_USER], { encoding: 'utf8' }).stdout.trim())
    assert.is(statSync(join(d.prefix, 'releases/0.2.0-x64/lib/fogmesh.js')).uid, uid, 'unpacked by the agent, as its user')
    assert.match(log(), /release 0\.2\.0: online and self-test passed in \d+ ms/)
    assert.match(log(), /supervise: updated 0\.1\.0 -> 0\.2\.0/)
  } finally {
    killUsers()
    await conn.close()
    await closeClient(watcher)
    await broker.close()
    for (const u of [AGENT_USER, EXEC_USER]) spawnSync('userdel', [u])
  }
})

test.run()
