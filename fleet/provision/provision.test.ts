/**
 * `fogmesh provision` against a real OpenSSH server on loopback (test/support/sshd.ts),
 * logging in as root with a throw-away key and installing into a temp dir (--prefix):
 * the plain-service path runs for real and the agent shows online on a real broker; the
 * systemd path is checked by the unit it writes and `systemd-analyze verify`. Many hosts
 * from a file, with a summary. SSH refused, a refused key, a host without Node, a
 * corrupted bundle: one line naming the host (or the file) and the cause.
 */
import { execFileSync } from 'node:child_process'
import { existsSync, mkdirSync, readFileSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { assertUserError, runFogmesh, showRun } from '../../test/support/fogmesh-cli.ts'
import { findProgram, testNeeding } from '../../test/support/programs.ts'
import { fixtureBundle } from '../../test/support/release-fixtures.ts'
import { sshKey, startSshd, type Sshd } from '../../test/support/sshd.ts'
import { tmpDir } from '../../test/support/temp-dirs.ts'
import { testBroker } from '../../test/support/test-broker.ts'
import type { Broker } from '../../broker/broker.ts'
import { freePort } from '../../test/support/ports.ts'

const t = testNeeding(test, 'sshd', 'ssh', 'ssh-keygen')
const keys = tmpDir('fm-provision-keys-')
const state: { sshd?: Sshd; broker?: Broker; user?: string; nonode?: string; stranger?: string; known?: string; bundle?: string; nodeBundle?: string; dir?: string } = {}

/** A PATH with the tools a small host has, and no node. */
function pathWithoutNode(): string {
  const dir = tmpDir('fm-nonode-bin-')
  for (const tool of ['sh', 'uname', 'id', 'hostname', 'cat', 'mkdir', 'rm', 'tar', 'gzip', 'sed', 'sleep', 'sha256sum', 'cp', 'mv', 'ln', 'chmod', 'dirname', 'env', 'kill', 'setsid', 'touch', 'date', 'readlink']) {
    const p = findProgram(tool) ?? `/bin/${tool}`
    if (existsSync(p)) symlinkSync(p, join(dir, tool))
  }
  return dir
}

t('setup: sshd on loopback with a user key, a key for a host without Node, and bundles with and without Node', async () => {
  const user = sshKey(keys, 'user')
  const nonode = sshKey(keys, 'nonode')
  state.stranger = sshKey(keys, 'stranger').path
  state.sshd = await startSshd([user.pub, `environment="PATH=${pathWithoutNode()}" ${nonode.pub}`])
  state.user = user.path
  state.nonode = nonode.path
  state.known = join(keys, 'known_hosts')
  writeFileSync(state.known, state.sshd.knownHosts)
  state.broker = await testBroker()
  const b = fixtureBundle({ version: '0.2.0' })
  state.bundle = b.tarball
  state.nodeBundle = fixtureBundle({ version: '0.2.0', withNode: true }).tarball
  state.dir = tmpDir('fm-provision-bundles-')
  execFileSync('cp', [state.bundle, state.nodeBundle, state.dir])
})

const base = () => ['--broker', state.broker!.url, '--identity', state.user!, '--known-hosts', state.known!, '--strict-host-keys']
const url = () => `ssh://root@127.0.0.1:${state.sshd!.port}`

t('one host: probed, copied, installed as a plain background service, online on the broker; prints its id', async () => {
  const prefix = tmpDir('fm-provision-host-')
  const r = await runFogmesh(['provision', url(), ...base(), '--bundle', state.bundle!, '--name', 'pi-kitchen', '--labels', 'site=depot-3', '--prefix', prefix, '--systemd', 'no', '--timeout', '120'], { timeoutMs: 180_000 })
  try {
    assert.is(r.code, 0, showRun(r))
    const id = r.stdout.trim().split('\n').pop()!
    assert.match(id, /^[0-9a-f]{20}$/, showRun(r))
    assert.match(r.stdout, /probe: x86_64, Node \d+\.\d+\.\d+, (no systemd \(plain service\)|systemd), root/)
    assert.match(r.stdout, /upload: fogmesh-0\.2\.0-linux-x64\.tar\.gz \(\d+ bytes\)/)
    assert.match(r.stdout, /install: no systemd: agent started in the background/)
    assert.match(r.stdout, new RegExp(`online: agent ${id} "pi-kitchen" online`))
    const cfg = JSON.parse(readFileSync(join(prefix, 'etc/fogmesh/agent.json'), 'utf8')) as Record<string, unknown>
    assert.equal(cfg, { broker: state.broker!.url, name: 'pi-kitchen', labels: { site: 'depot-3' }, data: join(prefix, 'var/lib/fogmesh') })
    assert.ok(existsSync(join(prefix, 'opt/fogmesh/releases/0.2.0-x64/manifest.json')))
    const status = await runFogmesh(['status', '--broker', state.broker!.url])
    assert.match(status.stdout, new RegExp(id.slice(0, 8)), showRun(status))
  } finally {
    stopInstalled(prefix)
  }
})

t('the systemd path: the unit it would install passes systemd-analyze verify', async () => {
  const prefix = tmpDir('fm-provision-unit-')
  const r = await runFogmesh(['provision', url(), ...base(), '--bundle', state.bundle!, '--prefix', prefix, '--systemd', 'yes', '--no-start'], { timeoutMs: 120_000 })
  assert.is(r.code, 0, showRun(r))
  const unit = join(prefix, 'etc/systemd/system/fogmesh-agent.service')
  const text = readFileSync(unit, 'utf8')
  assert.match(text, new RegExp(`ExecStart=${prefix}/opt/fogmesh/current/bin/fogmesh-supervise --root ${prefix}/opt/fogmesh -- agent`))
  const analyze = findProgram('systemd-analyze')
  if (!analyze && !process.env.CI) return
  mkdirSync(join(prefix, 'verify'), { recursive: true })
  const out = execFileSync(analyze ?? 'systemd-analyze', ['verify', unit], { encoding: 'utf8', stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, SYSTEMD_LOG_LEVEL: 'warning' } })
  assert.not.match(out, /error/i)
})

t('many hosts from a file, two at a time: progress per host and a summary; a failing host does not stop the others', async () => {
  const dead = await freePort()
  const hosts = join(tmpDir(), 'hosts')
  const p1 = tmpDir('fm-provision-a-')
  writeFileSync(hosts, `# two good hosts (the same sshd) and one where nothing listens\n${url()} name=edge-a labels=room=a\nssh://root@127.0.0.1:${dead} name=edge-dead\n`)
  const r = await runFogmesh(['provision', '--hosts', hosts, ...base(), '--bundle', state.dir!, '--prefix', p1, '--systemd', 'no', '--concurrency', '2', '--timeout', '120'], { timeoutMs: 180_000 })
  try {
    assert.is(r.code, 1, showRun(r))
    assert.match(r.stdout, /^provisioning 2 host\(s\) with fogmesh-0\.2\.0-linux-x64(-node)?, fogmesh-0\.2\.0-linux-x64(-node)?, 2 at a time$/m)
    assert.match(r.stdout, /\(\d\/2\) root@127\.0\.0\.1:\d+: agent [0-9a-f]{20} online in/)
    assert.match(r.stdout, new RegExp(`provisioned 1 of 2 host\\(s\\); failed: root@127\\.0\\.0\\.1:${dead} \\(ssh_refused\\)`))
    assert.match(r.stdout, /upload: fogmesh-0\.2\.0-linux-x64\.tar\.gz/, 'the host has Node: the bundle without Node was chosen')
    const lines = r.stderr.trim().split('\n')
    assert.equal(lines, [`fogmesh: root@127.0.0.1:${dead}: SSH connection refused (is sshd running on that port?)`])
    const cfg = JSON.parse(readFileSync(join(p1, 'etc/fogmesh/agent.json'), 'utf8')) as { name: string; labels: Record<string, string> }
    assert.is(cfg.name, 'edge-a')
    assert.equal(cfg.labels, { room: 'a' })
  } finally {
    stopInstalled(p1)
  }
})

t('a host without Node gets the bundle with Node; with only the plain bundle it is refused, naming the host', async () => {
  const prefix = tmpDir('fm-provision-nonode-')
  const args = (bundle: string) => ['provision', url(), '--broker', state.broker!.url, '--identity', state.nonode!, '--known-hosts', state.known!, '--bundle', bundle, '--prefix', prefix, '--systemd', 'no', '--no-start']
  const refused = await runFogmesh(args(state.bundle!), { timeoutMs: 60_000 })
  assertUserError(refused, new RegExp(`^fogmesh: root@127\\.0\\.0\\.1:${state.sshd!.port}: no Node\\.js on the host, and the x64 bundle brings none \\(install Node >= 20\\.11\\.0, or make one with fogmesh bundle --with-node\\)$`), 'host without Node', 1)
  const ok = await runFogmesh(args(state.dir!), { timeoutMs: 120_000 })
  assert.is(ok.code, 0, showRun(ok))
  assert.match(ok.stdout, /probe: x86_64, no Node,/)
  assert.match(ok.stdout, /upload: fogmesh-0\.2\.0-linux-x64-node\.tar\.gz/)
})

t('SSH refused, a key the server refuses, a changed host key, a corrupted bundle: one line each', async () => {
  const dead = await freePort()
  const refused = await runFogmesh(['provision', `ssh://root@127.0.0.1:${dead}`, ...base(), '--bundle', state.bundle!], { timeoutMs: 60_000 })
  assertUserError(refused, new RegExp(`^fogmesh: root@127\\.0\\.0\\.1:${dead}: SSH connection refused`), 'ssh refused', 1)
  const auth = await runFogmesh(['provision', url(), '--broker', state.broker!.url, '--identity', state.stranger!, '--known-hosts', state.known!, '--bundle', state.bundle!], { timeoutMs: 60_000 })
  assertUserError(auth, new RegExp(`^fogmesh: root@127\\.0\\.0\\.1:${state.sshd!.port}: SSH authentication failed: Permission denied \\(publickey\\)`), 'auth failed', 1)
  const wrongKnown = join(tmpDir(), 'known_hosts')
  writeFileSync(wrongKnown, `[127.0.0.1]:${state.sshd!.port} ${readFileSync(`${state.user}.pub`, 'utf8').split(' ').slice(0, 2).join(' ')}\n`)
  const hostKey = await runFogmesh(['provision', url(), '--broker', state.broker!.url, '--identity', state.user!, '--known-hosts', wrongKnown, '--bundle', state.bundle!], { timeoutMs: 60_000 })
  assertUserError(hostKey, /: SSH host key verification failed/, 'changed host key', 1)
  const bad = join(tmpDir(), 'fogmesh-0.2.0-linux-x64.tar.gz')
  writeFileSync(bad, readFileSync(state.bundle!).subarray(0, 2000))
  const corrupt = await runFogmesh(['provision', url(), ...base(), '--bundle', bad], { timeoutMs: 60_000 })
  assertUserError(corrupt, /^fogmesh: bundle fogmesh-0\.2\.0-linux-x64\.tar\.gz: truncated/, 'truncated bundle', 2)
  const noTarget = await runFogmesh(['provision', '--broker', state.broker!.url, '--bundle', state.bundle!])
  assertUserError(noTarget, /takes ssh:\/\/user@host\[:port\] targets or --hosts FILE/, 'no target', 2)
  const badUrl = await runFogmesh(['provision', 'pi@host', '--broker', state.broker!.url, '--bundle', state.bundle!])
  assertUserError(badUrl, /pi@host: expected ssh:\/\/user@host\[:port\]/, 'not a URL', 2)
})

t('teardown', async () => {
  await state.sshd?.stop()
  await state.broker?.close()
})

/** Stops the supervisor a plain-service install started (its pid file), so nothing outlives the test. */
function stopInstalled(prefix: string): void {
  const pidfile = join(prefix, 'run/fogmesh-agent.pid')
  if (!existsSync(pidfile)) return
  try {
    process.kill(Number(readFileSync(pidfile, 'utf8').trim()), 'SIGTERM')
  } catch {
    // already gone
  }
}

test.run()
