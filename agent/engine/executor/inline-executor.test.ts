import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { JobError, ValidationError } from '../../../protocol/errors.ts'
import * as fx from '../../../test/fixtures/engine/modules.ts'
import { echoJob } from '../../../test/support/components.ts'
import { jcoAvailable } from '../component/jco.ts'
import type { RunOutcome, RunRequest } from '../executor.ts'
import { createWorkerPool } from '../worker/pool.ts'
import { createInlineExecutor } from './inline-executor.ts'

const limits = { timeoutMs: 5000, outputBytes: 1 << 20, stderrBytes: 4096 }
const text = (b: Uint8Array) => new TextDecoder().decode(b)
const req = (f: { sha256: string }, input = '', l: RunRequest['limits'] = limits, jobId = 'j'): RunRequest => ({
  jobId,
  module: f.sha256,
  input: new TextEncoder().encode(input),
  limits: l,
})
const ok = (o: RunOutcome) => {
  assert.is(o.status, 'ok', o.status === 'error' ? `${o.code}: ${o.message}` : '')
  return o as Extract<RunOutcome, { status: 'ok' }>
}
const error = (o: RunOutcome) => {
  assert.is(o.status, 'error')
  return o as Extract<RunOutcome, { status: 'error' }>
}
async function refusal(p: Promise<unknown>): Promise<JobError> {
  const err = await p.then(
    () => undefined,
    (e: unknown) => e,
  )
  assert.instance(err, JobError)
  return err as JobError
}

test('runs a preview1 job on this thread: the same outcome and fuel as the worker pool', async () => {
  const echo = fx.echo()
  const fail = fx.failWithStderr()
  const inline = createInlineExecutor()
  const pool = createWorkerPool({ size: 1 })
  try {
    await inline.ready()
    for (const ex of [inline, pool]) {
      assert.is((await ex.load(echo.sha256, echo.bytes)).kind, 'wasi-command')
      await ex.load(fail.sha256, fail.bytes)
    }
    const here = ok(await inline.run(req(echo, 'inline')))
    const there = ok(await pool.run(req(echo, 'inline')))
    assert.is(text(here.output), 'inline')
    assert.ok(here.fuel > 0)
    assert.is(here.fuel, there.fuel, 'one runner, one count')
    const e = error(await inline.run(req(fail)))
    assert.equal([e.code, e.message, e.stderr], ['exit_nonzero', 'exit code 3', 'bad input: expected digits\n'])
    assert.is(e.fuel, error(await pool.run(req(fail))).fuel)
    assert.equal(inline.stats(), { workers: 1, running: 0, queued: 0, completed: 1, failed: 1, restarts: 0 })
  } finally {
    await inline.close()
    await pool.close()
  }
})

test('run returns before the job starts; jobs run one at a time, in order', async () => {
  const echo = fx.echo()
  const inline = createInlineExecutor({ slots: 3 })
  await inline.load(echo.sha256, echo.bytes)
  const runs = ['a', 'b', 'c'].map((s) => inline.run(req(echo, s)))
  assert.equal([inline.stats().queued, inline.stats().completed, inline.slots], [3, 0, 3])
  assert.equal((await Promise.all(runs)).map((o) => text(ok(o).output)), ['a', 'b', 'c'])
  await inline.close()
})

test('refuses what the pool refuses: module_not_found, invalid_field, and closed after close', async () => {
  const echo = fx.echo()
  const inline = createInlineExecutor()
  assert.is((await refusal(inline.run(req(echo)))).code, 'module_not_found')
  await inline.load(echo.sha256, echo.bytes)
  assert.is((await refusal(inline.run(req(echo, '', { ...limits, timeoutMs: 0 })))).shortMessage, 'limits.timeoutMs: expected a positive number')
  assert.is((await refusal(inline.load('ab'.repeat(32), new TextEncoder().encode('not wasm')))).code, 'invalid_module')
  const host = fx.hostImport()
  assert.is((await refusal(inline.load(host.sha256, host.bytes))).code, 'link_error')
  const waiting = inline.run(req(echo, 'never'))
  await inline.close()
  assert.is((await refusal(waiting)).code, 'closed', 'a job not yet started is answered closed')
  assert.is((await refusal(inline.run(req(echo)))).code, 'closed')
  assert.is((await refusal(inline.load(echo.sha256, echo.bytes))).code, 'closed')
})

test('no deadline here: fuel bounds a job that never ends', async () => {
  const spin = fx.spin()
  const inline = createInlineExecutor()
  await inline.load(spin.sha256, spin.bytes)
  const e = error(await inline.run(req(spin, '', { ...limits, fuel: 100_000 })))
  assert.equal([e.code, e.fuel], ['fuel_exhausted', 100_000])
  await inline.close()
})

test('deterministic jobs: the same job id, the same bytes', async () => {
  const clocks = fx.randomAndClocks()
  const inline = createInlineExecutor()
  await inline.load(clocks.sha256, clocks.bytes)
  const det = { ...limits, deterministic: true }
  const a = ok(await inline.run(req(clocks, '', det, 'same')))
  const b = ok(await inline.run(req(clocks, '', det, 'same')))
  const c = ok(await inline.run(req(clocks, '', det, 'other')))
  assert.equal([...a.output], [...b.output])
  assert.not.equal([...a.output.subarray(1, 33)], [...c.output.subarray(1, 33)])
  await inline.close()
})

test('options out of range are refused, naming the field', () => {
  assert.throws(() => createInlineExecutor({ slots: 0 }), (e: unknown) => e instanceof ValidationError && e.field === 'inlineExecutor.slots')
  assert.throws(() => createInlineExecutor({ defaultFuel: -1 }), (e: unknown) => e instanceof ValidationError && e.field === 'jobRunner.defaultFuel')
})

const components = await jcoAvailable()
if (!components && process.env['CI']) {
  test('jco is installed (required under CI)', () => assert.unreachable('@bytecodealliance/jco is missing: it is a dependency of this package'))
}
;(components ? test : test.skip)('runs a component too (job world)', async () => {
  const c = await echoJob()
  const inline = createInlineExecutor()
  assert.is((await inline.load(c.sha256, c.bytes)).kind, 'component-job')
  const o = ok(await inline.run(req(c, 'component inline')))
  assert.is(text(o.output), 'component inline')
  assert.ok(o.fuel > 0)
  await inline.close()
})

test.run()
