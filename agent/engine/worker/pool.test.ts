import { spawnSync } from 'node:child_process'
import { tmpdir } from 'node:os'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { JobError, ValidationError } from '../../../protocol/errors.ts'
import * as fx from '../../../test/fixtures/engine/modules.ts'
import type { RunOutcome, RunRequest } from '../executor.ts'
import { createWorkerPool } from './pool.ts'
import type { WorkerPool } from './pool.ts'
import { withoutTsxFlags } from './spawn.ts'

const limits = { timeoutMs: 5000, outputBytes: 1 << 20, stderrBytes: 4096 }
const enc = (s: string) => new TextEncoder().encode(s)
const text = (b: Uint8Array) => new TextDecoder().decode(b)
const req = (f: fx.Fixture, input: string | Uint8Array = '', l = limits): RunRequest => ({
  jobId: 'j',
  module: f.sha256,
  input: typeof input === 'string' ? enc(input) : input,
  limits: l,
})
const okText = (o: RunOutcome): string => {
  if (o.status !== 'ok') throw new Error(`expected ok, got ${o.code}: ${o.message}`)
  return text(o.output)
}
const errorOf = (o: RunOutcome) => {
  if (o.status !== 'error') throw new Error(`expected an error, got ${JSON.stringify(text(o.output))}`)
  return o
}
async function rejection(p: Promise<unknown>): Promise<JobError> {
  try {
    await p
  } catch (err) {
    if (err instanceof JobError) return err
    throw err
  }
  throw new Error('expected a rejection')
}

const fixtures = {
  echo: fx.echo(),
  fail: fx.failWithStderr(),
  trap: fx.trap(),
  spin: fx.spin(),
  flood: fx.flood(),
  passwd: fx.openPasswd(),
  clocks: fx.randomAndClocks(),
}
let pool: WorkerPool

test.before(async () => {
  pool = createWorkerPool({ size: 2, queueLimit: 4096 })
  await pool.ready()
  for (const f of Object.values(fixtures)) await pool.load(f.sha256, f.bytes)
})
test.after(() => pool.close())

test('echo through a worker: exact buffers and pooled Buffer slices alike', async () => {
  assert.is(pool.slots, 2)
  assert.is(okText(await pool.run(req(fixtures.echo, 'hello pool'))), 'hello pool')
  const pooled = Buffer.from('from a pooled buffer') // a view into Node's shared 8 KiB pool
  assert.ok(pooled.byteOffset > 0 || pooled.buffer.byteLength > pooled.length)
  assert.is(okText(await pool.run(req(fixtures.echo, pooled))), 'from a pooled buffer')
  assert.is(pooled.toString(), 'from a pooled buffer', "the caller's buffer is left intact")
  const out = await pool.run(req(fixtures.echo, 'x'))
  if (out.status === 'ok') assert.is(out.output.buffer.byteLength, 1, 'output arrives as its own transferred buffer')
})

test('exit code 3: exit_nonzero carrying stderr', async () => {
  const o = errorOf(await pool.run(req(fixtures.fail)))
  assert.equal([o.code, o.message, o.stderr], ['exit_nonzero', 'exit code 3', 'bad input: expected digits\n'])
  // metered through the pool: the same count every run, and on error too
  assert.ok(o.fuel > 0)
  assert.is(errorOf(await pool.run(req(fixtures.fail))).fuel, o.fuel)
})

test('trap: short message, no stack trace', async () => {
  const o = errorOf(await pool.run(req(fixtures.trap)))
  assert.equal([o.code, o.message], ['trap', 'unreachable'])
})

test('stdout flood: output_limit', async () => {
  const o = errorOf(await pool.run(req(fixtures.flood, '', { ...limits, outputBytes: 200_000 })))
  assert.equal([o.code, o.message], ['output_limit', 'stdout exceeds 200000 bytes'])
})

test('path_open on /etc/passwd reports errnos', async () => {
  assert.is(okText(await pool.run(req(fixtures.passwd))), '8 76 8 ')
})

test('random_get and clock_time_get inside a worker', async () => {
  const startedMs = Date.now()
  const a = await pool.run(req(fixtures.clocks))
  const b = await pool.run(req(fixtures.clocks))
  if (a.status !== 'ok' || b.status !== 'ok') throw new Error('clock module failed')
  assert.equal([a.output[0], a.output[33], a.output[51]], [0, 0, 28])
  assert.not.equal([...a.output.subarray(1, 33)], [...b.output.subarray(1, 33)])
  const realtimeMs = Number(new DataView(a.output.buffer).getBigUint64(34, true) / 1_000_000n)
  // the realtime clock is the real time: read between starting the first run and now
  assert.ok(realtimeMs >= startedMs - 1 && realtimeMs <= Date.now() + 1, `${realtimeMs} not in [${startedMs}, now]`)
})

test('infinite loop: deadline from outside, worker replaced, pool keeps serving', async () => {
  const before = pool.stats()
  const started = performance.now()
  const o = errorOf(await pool.run(req(fixtures.spin, '', { ...limits, timeoutMs: 150 })))
  const took = performance.now() - started
  assert.equal([o.code, o.message], ['deadline', 'deadline of 150 ms exceeded'])
  // from outside: not before the deadline (no upper bound: a loaded machine answers late)
  // (less 1 ms: Node's timers count whole milliseconds on their own clock and may fire a fraction before
  // performance.now() shows 150; CI once saw durationMs 149.x)
  assert.ok(took >= 149, `answered after ${took} ms`)
  assert.ok(o.durationMs >= 149, `ran ${o.durationMs} ms`)
  assert.is(pool.stats().restarts, before.restarts + 1)
  // both the surviving worker and the replacement serve the next jobs
  const next = await Promise.all([1, 2, 3, 4].map((i) => pool.run(req(fixtures.echo, `after ${i}`))))
  assert.equal(next.map(okText), ['after 1', 'after 2', 'after 3', 'after 4'])
  await pool.ready()
  assert.is(pool.stats().workers, 2)
})

test('load refuses modules that cannot run: link_error, not_a_command', async () => {
  const host = fx.hostImport()
  const linkErr = await rejection(pool.load(host.sha256, host.bytes))
  assert.is(linkErr.code, 'link_error')
  assert.match(linkErr.shortMessage, 'env.host_fn')
  const lib = fx.noStart()
  assert.is((await rejection(pool.load(lib.sha256, lib.bytes))).code, 'not_a_command')
  assert.is((await rejection(pool.run(req(host)))).code, 'module_not_found')
})

test('a module loaded later reaches every worker, including replacements', async () => {
  const late = fx.exitZero()
  const info = await pool.load(late.sha256, late.bytes)
  assert.is(info.sha256, late.sha256)
  const outs = await Promise.all([1, 2, 3, 4, 5, 6].map(() => pool.run(req(late))))
  assert.equal(outs.map(okText), ['done', 'done', 'done', 'done', 'done', 'done'])
})

test('2,000 concurrent echo jobs through 2 workers, every output correct', async () => {
  const before = pool.stats()
  const inputs = Array.from({ length: 2000 }, (_, i) => `job ${i} `.repeat((i % 7) + 1))
  const outs = await Promise.all(inputs.map((s) => pool.run(req(fixtures.echo, s))))
  outs.forEach((o, i) => assert.is(okText(o), inputs[i]))
  const after = pool.stats()
  assert.is(after.completed - before.completed, 2000)
  assert.equal([after.running, after.queued], [0, 0])
})

test('invalid limits are refused before running', async () => {
  assert.is((await rejection(pool.run(req(fixtures.echo, '', { ...limits, timeoutMs: 0 })))).code, 'invalid_field')
  assert.is((await rejection(pool.run(req(fixtures.echo, '', { ...limits, outputBytes: -1 })))).code, 'invalid_field')
})

test('bounded queue: overloaded beyond it; close() rejects queued and running jobs with closed', async () => {
  const small = createWorkerPool({ size: 1, queueLimit: 2 })
  await small.load(fixtures.spin.sha256, fixtures.spin.bytes)
  await small.load(fixtures.echo.sha256, fixtures.echo.bytes)
  await small.ready()
  const running = small.run(req(fixtures.spin, '', { ...limits, timeoutMs: 60_000 }))
  const queued = [small.run(req(fixtures.echo, 'a')), small.run(req(fixtures.echo, 'b'))]
  const over = await rejection(small.run(req(fixtures.echo, 'c')))
  assert.equal([over.code, small.stats().running, small.stats().queued], ['overloaded', 1, 2])
  const closing = small.close()
  const codes = await Promise.all([running, ...queued].map(async (p) => (await rejection(p)).code))
  assert.equal(codes, ['closed', 'closed', 'closed'])
  await closing
  assert.is(small.stats().workers, 0)
  assert.is((await rejection(small.run(req(fixtures.echo, 'd')))).code, 'closed')
})

test('a worker that dies mid-job: job answered with internal, worker replaced', async () => {
  const p = createWorkerPool({ size: 1 })
  await p.load(fixtures.spin.sha256, fixtures.spin.bytes)
  await p.load(fixtures.echo.sha256, fixtures.echo.bytes)
  await p.ready()
  const job = p.run(req(fixtures.spin, '', { ...limits, timeoutMs: 60_000 }))
  // kill the thread behind the pool's back, as a crash would
  const live = (p as unknown as { live: Set<{ worker: { terminate(): Promise<number> } }> }).live
  for (const slot of live) void slot.worker.terminate()
  const o = errorOf(await job)
  assert.equal([o.code, o.message], ['internal', 'job worker exited unexpectedly'])
  assert.is(okText(await p.run(req(fixtures.echo, 'still here'))), 'still here')
  assert.equal([p.stats().restarts, p.stats().failed], [1, 1])
  await p.close()
})

test('the worker starts under tsx loaded through its register() API, from any cwd', () => {
  const tsxApi = import.meta.resolve('tsx/esm/api')
  const poolUrl = new URL('./pool.ts', import.meta.url).href
  const script = `
    const { register } = await import(${JSON.stringify(tsxApi)})
    register()
    const { createWorkerPool } = await import(${JSON.stringify(poolUrl)})
    const bytes = Buffer.from(${JSON.stringify(Buffer.from(fixtures.echo.bytes).toString('base64'))}, 'base64')
    const pool = createWorkerPool({ size: 1 })
    await pool.load('echo', bytes)
    const out = await pool.run({ jobId: 'x', module: 'echo', input: new TextEncoder().encode('via register()'), limits: { timeoutMs: 5000, outputBytes: 100, stderrBytes: 100 } })
    await pool.close()
    process.stdout.write(out.status === 'ok' ? new TextDecoder().decode(out.output) : out.code + ': ' + out.message)
  `
  const child = spawnSync(process.execPath, ['--input-type=module', '-e', script], {
    cwd: tmpdir(),
    encoding: 'utf8',
    timeout: 30_000,
  })
  assert.is(child.stderr, '')
  assert.is(child.stdout, 'via register()')
  assert.is(child.status, 0)
  assert.ok(fileURLToPath(poolUrl).endsWith('worker/pool.ts'))
})

test('worker execArgv drops the flags that load tsx and keeps the rest', () => {
  assert.equal(
    withoutTsxFlags(['--import', 'tsx', '--enable-source-maps', '--require', '/x/tsx/dist/preflight.cjs', '--import=file:///n/tsx/dist/loader.mjs', '--import', './other.js', '--max-old-space-size=512']),
    ['--enable-source-maps', '--import', './other.js', '--max-old-space-size=512'],
  )
})

test('options out of range are refused with the field named, not clamped', () => {
  const refused = (options: Parameters<typeof createWorkerPool>[0]) => {
    try {
      createWorkerPool(options)
    } catch (err) {
      if (err instanceof ValidationError) return [err.field, err.shortMessage]
      throw err
    }
    return assert.unreachable('expected a ValidationError')
  }
  assert.equal(refused({ size: 0 }), ['workerPool.size', 'workerPool.size: expected at least 1 (got 0)'])
  assert.equal(refused({ size: 1.5 }), ['workerPool.size', 'workerPool.size: expected a whole number'])
  assert.equal(refused({ size: 1, queueLimit: -1 }), ['workerPool.queueLimit', 'workerPool.queueLimit: expected at least 0 (got -1)'])
})

test.run()
