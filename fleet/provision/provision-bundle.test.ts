/**
 * `fogmesh provision` with a real bundle (built by `fogmesh bundle`'s code, not a fixture):
 * copied over a real OpenSSH server on loopback, unpacked, its own install.sh run as root
 * (test-only users, the executor as another user, a plain background service under the
 * bundle's bin/fogmesh-supervise, everything under a temp prefix), the agent online on a
 * real broker with the name, labels, version and release key it was given; and its systemd
 * path: the unit its install.sh writes, checked by systemd-analyze verify.
 * provision.test.ts covers the many-host, systemd and failure paths with fixture bundles.
 */
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, readFileSync, readlinkSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import * as uvu from 'uvu'
import * as assert from 'uvu/assert'
import { buildBundle } from '../bundle/build-bundle.ts'
import type { PresenceOnline } from '../../protocol/messages.ts'
import { runFogmesh, showRun } from '../../test/support/fogmesh-cli.ts'
import { closeClient, plainClient } from '../../test/support/mqtt-clients.ts'
import { testNeeding, testUnless } from '../../test/support/programs.ts'
import { sshKey, startSshd } from '../../test/support/sshd.ts'
import { tmpDir } from '../../test/support/temp-dirs.ts'
import { testBroker } from '../../test/support/test-broker.ts'
import { generateReleaseKey } from '../release/release-key.ts'

const test = testUnless(testNeeding(uvu.test, 'sshd', 'ssh', 'ssh-keygen', 'setpriv', 'useradd', 'sha256sum', 'tar'), process.getuid?.() === 0 ? undefined : 'install.sh needs root')
const AGENT_USER = 'fmtest-prov'
const EXEC_USER = 'fmtest-prov-exec'

function killUsers(): void {
  for (const p of spawnSync('pgrep', ['-u', `${AGENT_USER},${EXEC_USER}`], { encoding: 'utf8' }).stdout.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(p), 'SIGKILL')
    } catch {
      // gone
    }
  }
}

test('a real bundle over SSH: its install.sh, its supervisor, the agent online with its config; the id printed', async () => {
  for (const u of [AGENT_USER, EXEC_USER]) spawnSync('userdel', [u]) // left over by a run that was killed
  const root = tmpDir('fm-provision-real-')
  chmodSync(root, 0o755) // the agent's user walks into the prefix
  const bundle = await buildBundle({ arch: 'x64', outDir: join(root, 'dist'), version: '0.3.0' })
  const keys = tmpDir('fm-provision-real-keys-')
  const user = sshKey(keys, 'user')
  const sshd = await startSshd([user.pub])
  const known = join(keys, 'known_hosts')
  writeFileSync(known, sshd.knownHosts)
  const release = generateReleaseKey(join(keys, 'fleet.key'))
  const broker = await testBroker()
  const watcher = await plainClient(broker.url)
  const presence: PresenceOnline[] = []
  watcher.on('message', (_t, payload) => {
    if (payload.length === 0) return
    const p = JSON.parse(payload.toString()) as PresenceOnline
    if (p.status === 'online') presence.push(p)
  })
  await watcher.subscribeAsync('fm/v1/agents/+/presence', { qos: 1 })
  const prefix = join(root, 'host')
  try {
    const r = await runFogmesh(
      ['provision', `ssh://root@127.0.0.1:${sshd.port}`, '--broker', broker.url, '--bundle', join(root, 'dist'), '--name', 'pi-real', '--labels', 'site=depot-9', '--release-key', release.publicPath,
        '--identity', user.path, '--known-hosts', known, '--strict-host-keys', '--prefix', prefix, '--systemd', 'no', '--user', AGENT_USER, '--exec-user', EXEC_USER, '--timeout', '120'],
      { timeoutMs: 180_000 },
    )
    const log = () => (existsSync(join(prefix, 'var/log/fogmesh-agent.log')) ? readFileSync(join(prefix, 'var/log/fogmesh-agent.log'), 'utf8') : '')
    assert.is(r.code, 0, `${showRun(r)}\n${log()}`)
    const id = r.stdout.trim().split('\n').pop()!
    assert.match(id, /^[0-9a-f]{20}$/, showRun(r))
    assert.match(r.stdout, new RegExp(`upload: ${bundle.tarball.split('/').pop()!.replace(/\./g, '\\.')} \\(\\d+ bytes\\)`))
    assert.match(r.stdout, /install: bundle fogmesh 0\.3\.0 for x64 checked/)
    assert.match(r.stdout, new RegExp(`install: created user ${AGENT_USER}`))
    assert.match(r.stdout, new RegExp(`install: no systemd: agent started in the background as ${AGENT_USER}`))
    assert.match(r.stdout, new RegExp(`online: agent ${id} "pi-real" online`))

    // what the broker sees: the agent it printed, with what provision gave it
    const p = presence.find((x) => x.id === id)
    assert.ok(p, 'the printed id is the agent online on the broker')
    assert.is(p!.name, 'pi-real')
    assert.is(p!.version, '0.3.0')
    assert.equal(p!.labels, { site: 'depot-9' })

    // on the host: the A/B layout, the config with the release key, state owned by the agent's user
    assert.is(readlinkSync(join(prefix, 'opt/fogmesh/current')), 'releases/0.3.0-x64')
    assert.ok(existsSync(join(prefix, 'opt/fogmesh/current/bin/fogmesh-supervise')))
    const cfg = JSON.parse(readFileSync(join(prefix, 'etc/fogmesh/agent.json'), 'utf8')) as Record<string, unknown>
    assert.is(cfg.broker, broker.url)
    assert.is(cfg.releaseKey, release.publicKey)
    assert.is(cfg.channel, 'stable')
    const uid = Number(spawnSync('id', ['-u', AGENT_USER], { encoding: 'utf8' }).stdout.trim())
    assert.is(statSync(join(prefix, 'var/lib/fogmesh/identity.json')).uid, uid, 'the agent made its key as its own user')
    assert.match(spawnSync('pgrep', ['-u', AGENT_USER, '-f', 'fogmesh-supervise'], { encoding: 'utf8' }).stdout, /\d+/, 'the agent runs under its supervisor')

    // the systemd path of the same bundle (systemd is not PID 1 here): the unit its install.sh
    // writes names the users, the prefix and the config provision gave, and passes systemd-analyze verify
    const sd = join(root, 'host-systemd')
    const u = await runFogmesh(
      ['provision', `ssh://root@127.0.0.1:${sshd.port}`, '--broker', broker.url, '--bundle', bundle.tarball, '--identity', user.path, '--known-hosts', known, '--strict-host-keys', '--prefix', sd, '--systemd', 'yes', '--no-start', '--user', AGENT_USER, '--exec-user', EXEC_USER],
      { timeoutMs: 120_000 },
    )
    assert.is(u.code, 0, showRun(u))
    assert.match(u.stdout, /install: systemd: .*fogmesh-agent\.service written; systemd is not running here/)
    const unitFile = join(sd, 'etc/systemd/system/fogmesh-agent.service')
    const unit = readFileSync(unitFile, 'utf8')
    for (const line of [`User=${AGENT_USER}`, `Group=${AGENT_USER}`, `ExecStart=${sd}/opt/fogmesh/current/bin/fogmesh-supervise --root ${sd}/opt/fogmesh -- agent --config ${sd}/etc/fogmesh/agent.json --data /var/lib/fogmesh --executor-user ${EXEC_USER}`, `ReadWritePaths=${sd}/opt/fogmesh`, 'NoNewPrivileges=yes', 'ProtectSystem=strict']) {
      assert.ok(unit.split('\n').includes(line), `the unit has ${line}\n${unit}`)
    }
    const verify = spawnSync('systemd-analyze', ['verify', unitFile], { encoding: 'utf8', env: { ...process.env, SYSTEMD_LOG_LEVEL: 'warning' } })
    if (verify.error && !process.env.CI) return // no systemd-analyze here (the CI installs it)
    assert.is(verify.status, 0, `systemd-analyze verify\n${verify.stdout}${verify.stderr}`)
  } finally {
    killUsers()
    await closeClient(watcher)
    await broker.close()
    await sshd.stop()
    for (const u of [AGENT_USER, EXEC_USER]) spawnSync('userdel', [u])
  }
})

test.run()
