// The bundle's systemd unit passes `systemd-analyze verify` (Debian's systemd), with ExecStart
// pointing at a real unpacked launcher, and carries the hardening docs/bundle.md promises.
import { spawnSync } from 'node:child_process'
import { chmodSync, copyFileSync, mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test as uvu } from 'uvu'
import * as assert from 'uvu/assert'
import { requireProgram, testNeeding } from '../../test/support/programs.ts'
import { tmpDir } from '../../test/support/temp-dirs.ts'
import { systemdUnit } from './systemd-unit.ts'

const test = testNeeding(uvu, 'systemd-analyze')

test('systemd-analyze verify passes on the generated unit', () => {
  const analyze = requireProgram('systemd-analyze')
  const dir = tmpDir()
  const prefix = join(dir, 'opt')
  mkdirSync(join(prefix, 'current', 'bin'), { recursive: true })
  writeFileSync(join(prefix, 'current', 'bin', 'fogmesh'), '#!/bin/sh\nexit 0\n')
  chmodSync(join(prefix, 'current', 'bin', 'fogmesh'), 0o755)
  // ExecStart runs the agent under the bundle's A/B supervisor (agent/update/files/fogmesh-supervise.sh)
  copyFileSync(fileURLToPath(new URL('../../agent/update/files/fogmesh-supervise.sh', import.meta.url)), join(prefix, 'current', 'bin', 'fogmesh-supervise'))
  chmodSync(join(prefix, 'current', 'bin', 'fogmesh-supervise'), 0o755)
  const unit = join(dir, 'fogmesh-agent.service')
  writeFileSync(unit, systemdUnit({ prefix }))
  const r = spawnSync(analyze, ['verify', '--man=no', unit], { encoding: 'utf8', env: { ...process.env, SYSTEMD_LOG_LEVEL: 'notice' } })
  // verify prints nothing and exits 0 on a good unit; anything it says about ours is a finding
  const ours = (r.stdout + r.stderr).split('\n').filter((l) => l.includes('fogmesh-agent.service'))
  assert.equal(ours, [], ours.join('\n'))
  assert.is(r.status, 0, r.stdout + r.stderr)
  // and it does catch a broken one (so a pass means something)
  writeFileSync(unit, systemdUnit({ prefix }).replace('Restart=on-failure', 'Restart=whenever').replace(`${prefix}/current/bin/fogmesh`, join(dir, 'missing')))
  const bad = spawnSync(analyze, ['verify', '--man=no', unit], { encoding: 'utf8' })
  assert.is.not(bad.status, 0)
  assert.match(bad.stdout + bad.stderr, /missing|Restart/)
})

test('the hardening, the users and the directories it promises', () => {
  const u = systemdUnit()
  for (const line of [
    'User=fogmesh',
    'ExecStart=/opt/fogmesh/current/bin/fogmesh-supervise --root /opt/fogmesh -- agent --config /etc/fogmesh/agent.json --data /var/lib/fogmesh --executor-user fogmesh-exec',
    'ReadWritePaths=/opt/fogmesh',
    'NoNewPrivileges=yes',
    'ProtectSystem=strict',
    'ProtectHome=yes',
    'PrivateTmp=yes',
    'Restart=on-failure',
    'StateDirectory=fogmesh',
    'ConfigurationDirectory=fogmesh',
    'CapabilityBoundingSet=CAP_SETUID CAP_SETGID CAP_KILL',
    'AmbientCapabilities=CAP_SETUID CAP_SETGID CAP_KILL',
  ]) assert.ok(u.split('\n').includes(line), line)
  assert.match(u, /^MemoryMax=\d+M$/m)
  assert.match(systemdUnit({ memoryMax: '200M' }), /^MemoryMax=200M$/m)
})

test.run()
