// The agent as root with its checkout where `nobody` cannot read (a clone under /root, a
// 0700 directory): the executor, which runs as nobody, must still start and run jobs,
// through the descriptors the agent hands it (code-view.ts). Needs root; skipped
// otherwise, except under CI.
import { spawnSync } from 'node:child_process'
import { chmodSync, cpSync, lstatSync, mkdirSync, readFileSync, readdirSync, rmSync, symlinkSync } from 'node:fs'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { echo } from '../../../test/fixtures/engine/modules.ts'
import { echoJob } from '../../../test/support/components.ts'
import { testUnless } from '../../../test/support/programs.ts'
import { tmpDir } from '../../../test/support/temp-dirs.ts'
import { jcoAvailable } from '../component/jco.ts'
import type { ProcessExecutor } from './process-executor.ts'
import { EXECUTOR_CODE, openCodeView, viewPath } from './code-view.ts'

const ROOT = fileURLToPath(new URL('../../../', import.meta.url))
const NOBODY = 65534
const asRoot = testUnless(test, process.getuid?.() === 0 ? undefined : 'not root (the executor changes user only when the agent is root)')
const limits = { timeoutMs: 10_000, outputBytes: 1 << 16, stderrBytes: 1024 }

/** A checkout of what the executor loads, inside a directory only root may enter. */
function unreadableCheckout(): string {
  const closed = tmpDir('fm-0700-')
  chmodSync(closed, 0o700)
  const checkout = join(closed, 'fogmesh')
  mkdirSync(checkout, { mode: 0o755 })
  for (const name of EXECUTOR_CODE.filter((n) => n !== 'node_modules')) {
    cpSync(join(ROOT, name), join(checkout, name), { recursive: true, filter: (src) => !src.endsWith('.test.ts') })
  }
  // node_modules as hard links (a real directory inside, like an `npm install` there); a link where that cannot be
  const linked = spawnSync('cp', ['-al', join(ROOT, 'node_modules'), join(checkout, 'node_modules')])
  if (linked.status !== 0) symlinkSync(join(ROOT, 'node_modules'), join(checkout, 'node_modules'))
  return checkout
}

asRoot('a checkout nobody can read: the executor still starts as nobody and runs jobs, from a view of the checkout', async () => {
  const checkout = unreadableCheckout()
  // the situation of the bug: nobody cannot even read the checkout's package.json
  const probe = spawnSync(process.execPath, ['-e', `require('fs').readFileSync(${JSON.stringify(join(checkout, 'package.json'))})`], {
    uid: NOBODY,
    gid: NOBODY,
    encoding: 'utf8',
  })
  assert.is.not(probe.status, 0)
  assert.match(probe.stderr, 'EACCES')

  // the executor as the agent in that checkout starts it: from its own copy of process-executor.ts
  const { createProcessExecutor } = (await import(join(checkout, 'agent/engine/executor/process-executor.ts'))) as {
    createProcessExecutor: (o: { size: number }) => ProcessExecutor
  }
  const ex = createProcessExecutor({ size: 1 })
  let view = ''
  try {
    const { pid, uid } = await ex.ready()
    assert.is(uid, NOBODY)
    // it was started from the view, in the temp dir, not from the checkout
    const entry = readFileSync(`/proc/${pid}/cmdline`, 'utf8').split('\0').find((a) => a.endsWith('executor.main.ts')) ?? ''
    view = entry.slice(0, entry.indexOf('/agent/'))
    assert.is(view, viewPath(checkout), entry)
    const job = echo()
    await ex.load(job.sha256, job.bytes)
    const r = await ex.run({ jobId: 'j', module: job.sha256, input: new TextEncoder().encode('from a 0700 checkout'), limits })
    assert.equal(r.status === 'ok' ? new TextDecoder().decode(r.output) : r, 'from a 0700 checkout')
    if (await jcoAvailable()) {
      // a component loads jco lazily, inside the executor: through the view as well
      const c = await echoJob()
      assert.is((await ex.load(c.sha256, c.bytes)).kind, 'component-job')
      const rc = await ex.run({ jobId: 'c', module: c.sha256, input: new TextEncoder().encode('component'), limits })
      assert.equal(rc.status === 'ok' ? new TextDecoder().decode(rc.output) : rc, 'component')
    }
  } finally {
    await ex.close()
  }
  // the view stays for the next executor of this checkout: links only, that lead nowhere outside an executor
  assert.equal(readdirSync(view).sort(), [...EXECUTOR_CODE].sort())
  rmSync(view, { recursive: true }) // this test's checkout goes at exit; so does its view
})

test('the view maps the checkout, and only the code the executor loads', () => {
  const view = openCodeView(ROOT)
  try {
    assert.is(view.root, viewPath(ROOT))
    assert.is(view.fds.length, EXECUTOR_CODE.length + 1)
    assert.is(view.map(join(ROOT, 'agent/engine/executor/executor.main.ts')), join(view.root, 'agent/engine/executor/executor.main.ts'))
    assert.is(view.map(join(ROOT, 'node_modules/tsx/dist/loader.mjs')), join(view.root, 'node_modules/tsx/dist/loader.mjs'))
    assert.is(view.map(join(ROOT, '.fogmesh/identity.key')), join(ROOT, '.fogmesh/identity.key'), 'nothing else of the checkout')
    assert.is(view.map('/usr/lib/node_modules/tsx/x.mjs'), '/usr/lib/node_modules/tsx/x.mjs')
    assert.equal(readdirSync(view.root).sort(), [...EXECUTOR_CODE].sort())
    assert.match(view.execPath, /^\/proc\/self\/fd\/\d+$/)
  } finally {
    view.close()
  }
})

test('a view path taken by something not ours is left alone: a private view is made beside it', () => {
  const checkout = join(tmpDir('fm-view-'), 'fogmesh')
  mkdirSync(checkout)
  for (const name of EXECUTOR_CODE) mkdirSync(join(checkout, name))
  const squatted = viewPath(checkout)
  mkdirSync(squatted, { mode: 0o777 })
  chmodSync(squatted, 0o777) // writable by all: not a view to trust
  symlinkSync('/etc', join(squatted, 'agent'))
  try {
    const view = openCodeView(checkout)
    assert.is.not(view.root, squatted)
    assert.ok(view.root.startsWith(`${squatted}-`))
    assert.equal(readdirSync(view.root).sort(), [...EXECUTOR_CODE].sort())
    view.close()
    assert.throws(() => lstatSync(view.root), 'a private view goes with its executor')
    assert.equal(readdirSync(squatted), ['agent'], 'untouched')
  } finally {
    rmSync(squatted, { recursive: true, force: true })
  }
})

test.run()
