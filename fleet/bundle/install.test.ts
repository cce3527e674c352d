// install.sh on this machine as a device without systemd (a container): users created, the
// release installed beside a `current` link, config written, state owned by the agent's user,
// and the agent started in the background as that user, holding only CAP_SETUID, CAP_SETGID and
// CAP_KILL, with its executor as another user holding no capabilities at all. Run again: nothing
// but a restart changes, the identity stays. Needs root (CI is); the users it makes are removed.
import { spawnSync } from 'node:child_process'
import { chmodSync, existsSync, readFileSync, readlinkSync } from 'node:fs'
import { join } from 'node:path'
import { test as uvu } from 'uvu'
import * as assert from 'uvu/assert'
import { startRequester } from '../../market/requester.ts'
import { runJobOn, unpackedBundle, type UnpackedBundle } from '../../test/support/bundles.ts'
import { ROOT } from '../../test/support/paths.ts'
import { testNeeding, testUnless } from '../../test/support/programs.ts'
import { tmpDir } from '../../test/support/temp-dirs.ts'
import { testBroker } from '../../test/support/test-broker.ts'
import { waitFor } from '../../test/support/wait.ts'

const test = testUnless(testNeeding(uvu, 'setpriv', 'useradd', 'sha256sum'), process.getuid?.() === 0 ? undefined : 'install.sh needs root')
const AGENT_USER = 'fmtest-agent'
const EXEC_USER = 'fmtest-exec'

let bundle: UnpackedBundle
let root: string
const dirs = () => ({ prefix: join(root, 'opt'), etc: join(root, 'etc'), state: join(root, 'var'), run: join(root, 'run'), log: join(root, 'agent.log') })

function install(broker: string, extra: string[] = []) {
  const d = dirs()
  const args = ['--broker', broker, '--name', 'installed', '--labels', 'site=bench', '--accept-from', 'any', '--systemd', 'no', '--prefix', d.prefix, '--config-dir', d.etc, '--state-dir', d.state, '--run-dir', d.run, '--log', d.log, '--user', AGENT_USER, '--exec-user', EXEC_USER, ...extra]
  return spawnSync('/bin/sh', [join(bundle.dir, 'install.sh'), ...args], { encoding: 'utf8' })
}

const status = (pid: number) => readFileSync(`/proc/${pid}/status`, 'utf8')
const field = (s: string, k: string) => new RegExp(`^${k}:\\s+(.*)$`, 'm').exec(s)?.[1]?.trim() ?? ''
const uidOf = (name: string) => Number(spawnSync('id', ['-u', name], { encoding: 'utf8' }).stdout.trim())
const childrenOf = (pid: number) => readFileSync(`/proc/${pid}/task/${pid}/children`, 'utf8').trim().split(/\s+/).filter(Boolean).map(Number)

function stopInstalled() {
  const pidfile = join(dirs().run, 'fogmesh-agent.pid')
  if (!existsSync(pidfile)) return
  const pid = Number(readFileSync(pidfile, 'utf8'))
  try {
    process.kill(pid, 'SIGKILL')
  } catch {
    // gone
  }
  // and the agent under it (the pid file holds its supervisor) and its executor: the processes of the test-only users
  for (const p of spawnSync('pgrep', ['-u', `${AGENT_USER},${EXEC_USER}`], { encoding: 'utf8' }).stdout.split(/\s+/).filter(Boolean)) {
    try {
      process.kill(Number(p), 'SIGKILL')
    } catch {
      // gone
    }
  }
}

test.before(async () => {
  for (const u of [AGENT_USER, EXEC_USER]) spawnSync('userdel', [u]) // left over by a run that was killed
  bundle = await unpackedBundle('x64')
  root = tmpDir('fm-install-')
  chmodSync(root, 0o755)
})

test.after(() => {
  stopInstalled()
  for (const u of [AGENT_USER, EXEC_USER]) spawnSync('userdel', [u])
})

test('install.sh installs, starts the agent as its user, the executor as another without capabilities, and a job runs', async () => {
  const broker = await testBroker()
  const requester = await startRequester({ broker: broker.url, auctionWindowMs: 2000 })
  try {
    const r = install(broker.url)
    assert.is(r.status, 0, r.stdout + r.stderr)
    for (const line of [/^install: bundle fogmesh .* for x64 checked/m, /^install: created user fmtest-agent$/m, /^install: created user fmtest-exec$/m, /^install: installed .*\/opt\/releases\/[\d.]+-x64$/m, /^install: no systemd: agent started in the background as fmtest-agent/m]) assert.match(r.stdout, line)
    const d = dirs()
    assert.is(readlinkSync(join(d.prefix, 'current')), `releases/${bundle.manifest.version}-x64`)
    const cfg = JSON.parse(readFileSync(join(d.etc, 'agent.json'), 'utf8')) as Record<string, unknown>
    assert.is(cfg.broker, broker.url)
    assert.is(cfg.executorUser, EXEC_USER)
    await requester.directory.waitFor(1, 20_000)
    const [rec] = requester.directory.list()
    assert.is(rec!.presence.name, 'installed')
    assert.is(JSON.stringify(rec!.presence.labels), '{"site":"bench"}')

    // the pid file holds the A/B supervisor (agent/update/files/fogmesh-supervise.sh); the agent is its child
    const supervisorPid = Number(readFileSync(join(d.run, 'fogmesh-agent.pid'), 'utf8'))
    assert.is(field(status(supervisorPid), 'Uid').split(/\s+/)[0], String(uidOf(AGENT_USER)))
    const agentPid = await waitFor(() => childrenOf(supervisorPid).find((p) => field(status(p), 'Name') === 'node'), 10_000, 'the agent process')
    const agentStatus = status(agentPid)
    assert.is(field(agentStatus, 'Uid').split(/\s+/)[0], String(uidOf(AGENT_USER)))
    // CAP_SETGID (6), CAP_SETUID (7), CAP_KILL (5): 0xe0, and nothing else
    assert.is(BigInt(`0x${field(agentStatus, 'CapEff')}`), 0xe0n, field(agentStatus, 'CapEff'))
    const executor = await waitFor(() => childrenOf(agentPid).find((p) => field(status(p), 'Name') !== 'sh'), 10_000, 'the executor process')
    const ex = status(executor)
    assert.is(field(ex, 'Uid').split(/\s+/)[0], String(uidOf(EXEC_USER)), 'executor runs as the executor user')
    for (const set of ['CapInh', 'CapPrm', 'CapEff', 'CapAmb']) assert.is(BigInt(`0x${field(ex, set)}`), 0n, `executor ${set} ${field(ex, set)}`)

    const echo = readFileSync(join(ROOT, 'wasm-modules/dist/echo.wasm'))
    const { output, signatureOk } = await runJobOn(requester, rec!.presence.id, echo, Buffer.from('installed'), 10_000)
    assert.is(output.toString(), 'installed')
    assert.ok(signatureOk)
  } finally {
    await requester.close()
    await broker.close()
  }
})

test('install.sh again: idempotent — same release, same identity, the agent restarted', async () => {
  const broker = await testBroker()
  const requester = await startRequester({ broker: broker.url, auctionWindowMs: 2000 })
  try {
    const idFile = join(dirs().state, 'identity.json')
    const identity = readFileSync(idFile, 'utf8')
    const pid1 = readFileSync(join(dirs().run, 'fogmesh-agent.pid'), 'utf8')
    const r = install(broker.url)
    assert.is(r.status, 0, r.stdout + r.stderr)
    assert.match(r.stdout, /^install: release .* already installed$/m)
    assert.match(r.stdout, /^install: stopped the running agent$/m)
    assert.not.match(r.stdout, /created user/)
    assert.is.not(readFileSync(join(dirs().run, 'fogmesh-agent.pid'), 'utf8'), pid1)
    await requester.directory.waitFor(1, 20_000)
    assert.is(readFileSync(idFile, 'utf8'), identity, 'the agent keeps its key')
    // nothing stray in the release: it still matches its manifest exactly
    const v = spawnSync(process.execPath, [join(dirs().prefix, 'current/lib/fogmesh.js'), 'verify'], { encoding: 'utf8' })
    assert.is(v.status, 0, v.stdout + v.stderr)
    assert.match(v.stdout, /^ok: fogmesh .* for x64, \d+ files match /)
  } finally {
    await requester.close()
    await broker.close()
  }
})

test('install.sh refuses a bundle for another arch and a corrupted copy, in one line, before touching anything', () => {
  const other = spawnSync('/bin/sh', ['-c', `sed "s/^UNAMES=.*/UNAMES='aarch64 arm64'/; s/^ARCH=.*/ARCH='arm64'/" ${join(bundle.dir, 'install.sh')} > ${join(root, 'install-arm64.sh')} && cp ${join(root, 'install-arm64.sh')} ${join(bundle.dir, 'install-arm64.sh')} && sh ${join(bundle.dir, 'install-arm64.sh')} --no-start`], { encoding: 'utf8' })
  assert.is(other.status, 1)
  assert.match(other.stderr, /^install\.sh: bundle is for arm64, .* is x86_64\n$/)
  spawnSync('rm', ['-f', join(bundle.dir, 'install-arm64.sh')])
  const js = join(bundle.dir, 'lib/worker.main.js')
  const saved = readFileSync(js)
  spawnSync('/bin/sh', ['-c', `printf x >> ${js}`])
  const bad = spawnSync('/bin/sh', [join(bundle.dir, 'install.sh'), '--no-start'], { encoding: 'utf8' })
  assert.is(bad.status, 1)
  assert.match(bad.stderr, /^install\.sh: bundle files do not match SHA256SUMS \(corrupted or truncated copy\): /)
  spawnSync('/bin/sh', ['-c', `truncate -s ${saved.length} ${js}`])
})

test.run()
