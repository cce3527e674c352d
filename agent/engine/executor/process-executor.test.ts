import { readFileSync, readlinkSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { echo, failWithStderr, spin, trap } from '../../../test/fixtures/engine/modules.ts'
import { waitFor } from '../../../test/support/wait.ts'
import { createProcessExecutor } from './process-executor.ts'

const caps = { timeoutMs: 2000, outputBytes: 1 << 20, stderrBytes: 4096 }
const fx = { echo: echo(), spin: spin(), fail: failWithStderr(), trap: trap() }

test('job code runs in another process: no environment, scratch cwd, unprivileged when we are root', async () => {
  process.env.FM_SECRET_FOR_TEST = 'agent-only'
  const ex = createProcessExecutor({ size: 1 })
  try {
    const { pid, uid } = await ex.ready()
    assert.is.not(pid, process.pid)
    if (process.getuid?.() === 0) assert.is(uid, 65534, 'root agent → executor as nobody')
    else assert.is(uid, process.getuid?.())
    // nothing of ours: only the two variables Node sets for its IPC channel
    const env = readFileSync(`/proc/${pid}/environ`, 'utf8').split('\0').filter(Boolean).map((kv) => kv.split('=')[0])
    assert.equal(env.sort(), ['NODE_CHANNEL_FD', 'NODE_CHANNEL_SERIALIZATION_MODE'])
    assert.is(readlinkSync(`/proc/${pid}/cwd`), tmpdir())
    await ex.load(fx.echo.sha256, fx.echo.bytes)
    const r = await ex.run({ jobId: 'j', module: fx.echo.sha256, input: Buffer.from('across'), limits: caps })
    assert.is(r.status, 'ok')
    if (r.status === 'ok') assert.is(Buffer.from(r.output).toString(), 'across')
  } finally {
    delete process.env.FM_SECRET_FOR_TEST
    await ex.close()
  }
})

test('a killed executor is replaced: its job is answered `internal`, modules are reloaded, the next job runs', async () => {
  const ex = createProcessExecutor({ size: 1 })
  try {
    const first = (await ex.ready()).pid
    await ex.load(fx.spin.sha256, fx.spin.bytes)
    await ex.load(fx.echo.sha256, fx.echo.bytes)
    const running = ex.run({ jobId: 's', module: fx.spin.sha256, input: Buffer.alloc(0), limits: { ...caps, timeoutMs: 30_000 } })
    await new Promise((r) => setTimeout(r, 200))
    process.kill(first, 'SIGKILL')
    const r = await running
    assert.is(r.status, 'error')
    if (r.status === 'error') assert.is(r.code, 'internal')
    const second = (await ex.ready()).pid
    assert.is.not(second, first)
    assert.is(ex.stats().restarts, 1)
    const after = await ex.run({ jobId: 'e', module: fx.echo.sha256, input: Buffer.from('again'), limits: caps })
    assert.is(after.status, 'ok', 'module loaded again into the new executor')
  } finally {
    await ex.close()
  }
})

test('a wedged executor (stopped, cannot answer) is killed after deadline + grace and replaced', async () => {
  const ex = createProcessExecutor({ size: 1, watchdogGraceMs: 300 })
  try {
    const { pid } = await ex.ready()
    await ex.load(fx.echo.sha256, fx.echo.bytes)
    process.kill(pid, 'SIGSTOP')
    const started = Date.now()
    const r = await ex.run({ jobId: 'w', module: fx.echo.sha256, input: Buffer.from('x'), limits: { ...caps, timeoutMs: 300 } })
    assert.is(r.status, 'error')
    if (r.status === 'error') assert.is(r.code, 'deadline')
    assert.ok(Date.now() - started < 2000)
    await waitFor(async () => (await ex.ready()).pid !== pid, 5000, 'a new executor')
    const ok = await ex.run({ jobId: 'w2', module: fx.echo.sha256, input: Buffer.from('y'), limits: caps })
    assert.is(ok.status, 'ok')
  } finally {
    await ex.close()
  }
})

test('the one watchdog is armed for the earliest deadline: a short job sent after a long one still ends at its own', async () => {
  const ex = createProcessExecutor({ size: 1, watchdogGraceMs: 300 })
  try {
    const { pid } = await ex.ready()
    await ex.load(fx.echo.sha256, fx.echo.bytes)
    process.kill(pid, 'SIGSTOP')
    const long = ex.run({ jobId: 'long', module: fx.echo.sha256, input: Buffer.from('x'), limits: { ...caps, timeoutMs: 600_000 } })
    const short = await ex.run({ jobId: 'short', module: fx.echo.sha256, input: Buffer.from('y'), limits: { ...caps, timeoutMs: 300 } })
    assert.is(short.status === 'error' && short.code, 'deadline')
    const r = await long // answered when the wedged executor was killed, not 10 minutes later
    assert.is(r.status === 'error' && r.code, 'internal')
    await waitFor(async () => (await ex.ready()).pid !== pid, 5000, 'a new executor')
  } finally {
    await ex.close()
  }
})

test('the inline try on the executor\'s main thread (the default) answers as the workers do; a spin still ends at its deadline', async () => {
  const answers = async (inlineFuel: number | undefined) => {
    const ex = createProcessExecutor({ size: 1, ...(inlineFuel === undefined ? {} : { inlineFuel }) })
    try {
      for (const f of Object.values(fx)) await ex.load(f.sha256, f.bytes)
      const out: unknown[] = []
      for (const [name, f] of Object.entries(fx)) {
        const limits = { ...caps, timeoutMs: name === 'spin' ? 300 : caps.timeoutMs, deterministic: true }
        const { durationMs, ...r } = await ex.run({ jobId: name, module: f.sha256, input: Buffer.from(`in ${name}`), limits })
        if (name === 'spin') assert.ok(durationMs >= 299, 'the deadline, enforced from outside the job')
        out.push(r.status === 'ok' ? { ...r, output: Buffer.from(r.output).toString() } : r)
      }
      return out
    } finally {
      await ex.close()
    }
  }
  const inline = await answers(undefined)
  assert.equal(inline, await answers(0))
  assert.equal(inline.map((r) => (r as { code?: string }).code ?? 'ok'), ['ok', 'deadline', 'exit_nonzero', 'trap'])
})

test('invalid bytes are refused by the executor with invalid_module, the executor stays up', async () => {
  const ex = createProcessExecutor({ size: 1 })
  try {
    await ex.ready()
    const err = await ex.load('ff'.repeat(32), Buffer.from('not wasm at all')).then(() => undefined, (e: { code: string }) => e)
    assert.is(err?.code, 'invalid_module')
    await ex.load(fx.echo.sha256, fx.echo.bytes)
    assert.is((await ex.run({ jobId: 'k', module: fx.echo.sha256, input: Buffer.from('z'), limits: caps })).status, 'ok')
    assert.is(ex.stats().restarts, 0)
  } finally {
    await ex.close()
  }
})

test('a module the executor keeps dying on while loading is given up after two deaths; the executor serves on', async () => {
  const ex = createProcessExecutor({ size: 1 })
  try {
    const first = (await ex.ready()).pid
    const loading = ex.load(fx.spin.sha256, fx.spin.bytes).then(
      () => undefined,
      (e: { code: string; message: string }) => e,
    )
    process.kill(first, 'SIGKILL') // before the load can have finished
    await waitFor(async () => ex.pid !== undefined && ex.pid !== first, 5000, 'a second executor')
    process.kill(ex.pid as number, 'SIGKILL') // just forked: it has not even read its code yet
    const err = await loading
    assert.is(err?.code, 'internal')
    assert.match(err?.message ?? '', `the executor died 2 times loading module ${fx.spin.sha256.slice(0, 12)}: given up`)
    await ex.ready()
    await ex.load(fx.echo.sha256, fx.echo.bytes)
    const r = await ex.run({ jobId: 'after', module: fx.echo.sha256, input: Buffer.from('still here'), limits: caps })
    assert.is(r.status, 'ok')
    assert.is(ex.stats().restarts, 2)
  } finally {
    await ex.close()
  }
})

test.run()
