/**
 * The A/B supervisor (files/fogmesh-supervise.sh) with stand-in agents (sh scripts),
 * so every path of the switch runs in seconds: a healthy trial is committed, a release
 * that exits or never becomes healthy is rolled back and remembered, an interrupted
 * trial is rolled back at the next start, only current and previous are kept, a signal
 * reaches the agent.
 * ota.test.ts runs the same supervisor with real agents.
 */
import { spawn } from 'node:child_process'
import { chmodSync, existsSync, mkdirSync, readdirSync, readFileSync, readlinkSync, symlinkSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { exited, trackChild } from '../../test/support/child-processes.ts'
import { tmpDir } from '../../test/support/temp-dirs.ts'
import { waitFor } from '../../test/support/wait.ts'

const SUPERVISE = fileURLToPath(new URL('./files/fogmesh-supervise.sh', import.meta.url))
const WAIT = 60_000 // generous: the machine may be loaded

/** A stand-in agent: logs its start, writes update/healthy on trial if `healthy`, and stages what `stage-to` names. */
function fakeRelease(root: string, version: string, kind: 'healthy' | 'crash' | 'hang'): void {
  const dir = join(root, 'releases', `${version}-x64`, 'bin')
  mkdirSync(dir, { recursive: true })
  const body =
    kind === 'crash'
      ? 'exit 3'
      : `${kind === 'healthy' ? '[ "$FOGMESH_UPDATE_TRIAL" = 1 ] && echo ' + version + ' > "$R/update/healthy"' : ':'}
trap 'echo "${version} TERM" >> "$R/log"; exit 0' TERM
while :; do
  if [ -f "$R/stage-to" ]; then mv "$R/stage-to" "$R/update/pending"; exit 75; fi
  sleep 0.1
done`
  writeFileSync(join(dir, 'fogmesh'), `#!/bin/sh\nR="$FOGMESH_RELEASE_ROOT"\necho "${version} start trial=$FOGMESH_UPDATE_TRIAL args=$*" >> "$R/log"\n${body}\n`)
  chmodSync(join(dir, 'fogmesh'), 0o755)
}

function layout() {
  const root = tmpDir('fm-supervise-')
  mkdirSync(join(root, 'releases'))
  fakeRelease(root, '1.0.0', 'healthy')
  fakeRelease(root, '2.0.0', 'healthy')
  fakeRelease(root, '3.0.0', 'crash')
  fakeRelease(root, '4.0.0', 'hang')
  fakeRelease(root, '5.0.0', 'healthy')
  symlinkSync('releases/1.0.0-x64', join(root, 'current'))
  return root
}

const log = (root: string) => (existsSync(join(root, 'log')) ? readFileSync(join(root, 'log'), 'utf8') : '')
const last = (root: string) => (existsSync(join(root, 'update/last.json')) ? (JSON.parse(readFileSync(join(root, 'update/last.json'), 'utf8')) as Record<string, unknown>) : undefined)
const count = (s: string, sub: string) => s.split(sub).length - 1

function supervise(root: string, window = 3) {
  // its own process group: a failed test kills the supervisor and its agent together
  const proc = trackChild(spawn('sh', [SUPERVISE, '--root', root, '--window', String(window), '--restart-delay', '1', '--', 'agent', '--name', 'x'], { stdio: ['ignore', 'pipe', 'pipe'], detached: true }))
  const killAll = () => {
    try {
      process.kill(-proc.pid!, 'SIGKILL')
    } catch {
      // gone already
    }
  }
  process.once('exit', killAll)
  let out = ''
  proc.stdout!.on('data', (d) => (out += d))
  proc.stderr!.on('data', (d) => (out += d))
  return { proc, output: () => out, killAll }
}

test('a healthy trial is committed; a crashing and a hanging release are rolled back and never tried again; TERM reaches the agent', async () => {
  const root = layout()
  const s = supervise(root)
  try {
    await waitFor(() => log(root).includes('1.0.0 start trial= args=agent --name x'), WAIT, 'the current release to start')

    writeFileSync(join(root, 'stage-to'), 'releases/2.0.0-x64\n')
    await waitFor(() => last(root)?.outcome === 'updated', WAIT, `the update to 2.0.0 to be committed\n${s.output()}`)
    assert.match(log(root), /2\.0\.0 start trial=1 args=agent --name x/)
    assert.is(readlinkSync(join(root, 'current')), 'releases/2.0.0-x64')
    assert.is(readlinkSync(join(root, 'previous')), 'releases/1.0.0-x64')
    assert.equal({ ...last(root), at: 0 }, { outcome: 'updated', version: '2.0.0', from: '1.0.0', at: 0 })
    assert.not.ok(existsSync(join(root, 'update/trial')), 'the trial is over')

    writeFileSync(join(root, 'stage-to'), 'releases/3.0.0-x64\n')
    await waitFor(() => last(root)?.version === '3.0.0', WAIT, `the crashing release to be rolled back\n${s.output()}`)
    assert.equal({ ...last(root), at: 0, message: '' }, { outcome: 'rolled_back', version: '3.0.0', from: '2.0.0', reason: 'exit_3', message: '', at: 0 })
    assert.is(readlinkSync(join(root, 'current')), 'releases/2.0.0-x64', 'the current release did not move')
    await waitFor(() => count(log(root), '2.0.0 start trial= ') === 1, WAIT, 'the previous release to run again')

    writeFileSync(join(root, 'stage-to'), 'releases/4.0.0-x64\n')
    await waitFor(() => last(root)?.version === '4.0.0', WAIT, `the hanging release to be rolled back after the window\n${s.output()}`)
    assert.is(last(root)?.reason, 'unhealthy')
    assert.match(log(root), /4\.0\.0 TERM/, 'the unhealthy release was stopped with TERM')
    await waitFor(() => count(log(root), '2.0.0 start trial= ') === 2, WAIT, 'the previous release to run again')
    assert.equal(readFileSync(join(root, 'update/failed'), 'utf8').split('\n').filter(Boolean), ['3.0.0', '4.0.0'])
    assert.is(readlinkSync(join(root, 'current')), 'releases/2.0.0-x64')
    assert.match(s.output(), /rolled back 3\.0\.0 -> 2\.0\.0/)
    assert.not.ok(existsSync(join(root, 'releases/3.0.0-x64')), 'a rolled-back release is removed')
    assert.not.ok(existsSync(join(root, 'releases/4.0.0-x64')), 'a rolled-back release is removed')

    // the next commit keeps current and previous only: 1.0.0 (previous before it) goes
    writeFileSync(join(root, 'stage-to'), 'releases/5.0.0-x64\n')
    await waitFor(() => last(root)?.version === '5.0.0', WAIT, `the update to 5.0.0 to be committed\n${s.output()}`)
    assert.is(last(root)?.outcome, 'updated')
    assert.is(readlinkSync(join(root, 'current')), 'releases/5.0.0-x64')
    assert.is(readlinkSync(join(root, 'previous')), 'releases/2.0.0-x64')
    assert.equal(readdirSync(join(root, 'releases')).sort(), ['2.0.0-x64', '5.0.0-x64'])

    s.proc.kill('SIGTERM')
    assert.is(await exited(s.proc, WAIT), 0, 'the supervisor stops cleanly on TERM')
    assert.match(log(root), /5\.0\.0 TERM/, 'TERM was passed on to the agent')
  } finally {
    s.killAll()
  }
})

test('a trial found at start (power lost during the window) is rolled back before anything runs', async () => {
  const root = layout()
  mkdirSync(join(root, 'update'))
  writeFileSync(join(root, 'update/trial'), `releases/2.0.0-x64 ${Math.floor(Date.now() / 1000) + 100}\n`)
  const s = supervise(root)
  try {
    await waitFor(() => log(root).includes('1.0.0 start trial= '), WAIT, 'the known-good release to start')
    assert.is(last(root)?.outcome, 'rolled_back')
    assert.is(last(root)?.reason, 'interrupted')
    assert.is(last(root)?.version, '2.0.0')
    assert.not.ok(log(root).includes('2.0.0 start'), 'the unproven release did not run')
    assert.is(readlinkSync(join(root, 'current')), 'releases/1.0.0-x64')
  } finally {
    s.proc.kill('SIGTERM')
    await exited(s.proc, WAIT)
  }
})

test('a malformed update/pending is ignored; an agent that dies is started again', async () => {
  const root = layout()
  const s = supervise(root)
  try {
    await waitFor(() => log(root).includes('1.0.0 start'), WAIT, 'the agent to start')
    writeFileSync(join(root, 'stage-to'), '../../etc\n')
    await waitFor(() => count(log(root), '1.0.0 start') === 2, WAIT, `the agent to be started again\n${s.output()}`)
    assert.match(s.output(), /ignored a malformed update\/pending/)
    assert.is(readlinkSync(join(root, 'current')), 'releases/1.0.0-x64')
    assert.is(last(root), undefined, 'no outcome: nothing was tried')
  } finally {
    s.proc.kill('SIGTERM')
    await exited(s.proc, WAIT)
  }
})

test('refuses to start without a current release, with one clear line', async () => {
  const root = tmpDir('fm-supervise-empty-')
  const s = supervise(root)
  assert.is(await exited(s.proc, WAIT), 1)
  assert.match(s.output(), /^fogmesh-supervise: .*current is missing \(run install\.sh\)\n$/)
})

test.run()
