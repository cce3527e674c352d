import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as fx from '../../test/fixtures/engine/modules.ts'
import { JobRunner } from './job-runner.ts'
import type { JobResult } from './job-runner.ts'

const caps = { outputBytes: 1 << 20, stderrBytes: 4096 }
const text = (b: Uint8Array) => new TextDecoder().decode(b)

function runOnce(fixture: fx.Fixture, input = '', c = caps): JobResult {
  const runner = new JobRunner()
  runner.load(fixture.sha256, fixture.module)
  return runner.run(fixture.sha256, new TextEncoder().encode(input), c)
}

function expectError(r: JobResult): Extract<JobResult, { ok: false }> {
  if (r.ok) throw new Error(`expected an error, got output ${JSON.stringify(text(r.output))}`)
  return r
}

test('echo: stdin to stdout, output owns its buffer (transferable)', () => {
  const input = 'x'.repeat(10_000) + 'end'
  const r = runOnce(fx.echo(), input)
  if (!r.ok) throw new Error(r.message)
  assert.is(text(r.output), input)
  assert.is(r.output.byteOffset, 0)
  assert.is(r.output.buffer.byteLength, r.output.byteLength)
  assert.is(r.fuel, 0)
  assert.ok(r.ms >= 0)
})

test('a fresh instance per job: the same runner serves many runs', () => {
  const echo = fx.echo()
  const runner = new JobRunner()
  runner.load(echo.sha256, echo.module)
  for (const input of ['one', '', 'three']) {
    const r = runner.run(echo.sha256, new TextEncoder().encode(input), caps)
    assert.ok(r.ok)
    if (r.ok) assert.is(text(r.output), input)
  }
})

test('non-zero exit: exit_nonzero with stderr', () => {
  const r = expectError(runOnce(fx.failWithStderr()))
  assert.equal([r.code, r.message, r.stderr], ['exit_nonzero', 'exit code 3', 'bad input: expected digits\n'])
})

test('proc_exit(0) is success with the output so far', () => {
  const r = runOnce(fx.exitZero())
  assert.ok(r.ok)
  if (r.ok) assert.is(text(r.output), 'done')
})

test('traps: unreachable and stack overflow, short messages', () => {
  const t = expectError(runOnce(fx.trap()))
  assert.equal([t.code, t.message], ['trap', 'unreachable'])
  const s = expectError(runOnce(fx.stackOverflow()))
  assert.equal([s.code, s.message], ['trap', 'call stack exhausted'])
})

test('a WASI import declared with the wrong types: trap, not an internal error', () => {
  const r = expectError(runOnce(fx.mistypedImport()))
  assert.is(r.code, 'trap')
  assert.match(r.message, /BigInt/)
})

test('stdout exactly at the cap is fine, one byte over is output_limit', () => {
  const c = { outputBytes: 100, stderrBytes: 10 }
  const at = runOnce(fx.echo(), 'x'.repeat(100), c)
  assert.ok(at.ok)
  if (at.ok) assert.is(at.output.length, 100)
  assert.is(expectError(runOnce(fx.echo(), 'x'.repeat(101), c)).code, 'output_limit')
})

test('stdout flood: output_limit', () => {
  const r = expectError(runOnce(fx.flood(), '', { outputBytes: 100_000, stderrBytes: 10 }))
  assert.equal([r.code, r.message], ['output_limit', 'stdout exceeds 100000 bytes'])
})

test('a guest that catches the exit unwind still ends with its exit status', () => {
  const r = expectError(runOnce(fx.swallowExit()))
  assert.equal([r.code, r.message], ['exit_nonzero', 'exit code 7'])
})

test('path_open on /etc/passwd gets errnos back (EBADF, ENOTCAPABLE), no preopens', () => {
  const r = runOnce(fx.openPasswd())
  assert.ok(r.ok)
  if (r.ok) assert.is(text(r.output), '8 76 8 ')
})

test('random_get and clock_time_get from a module', () => {
  const a = runOnce(fx.randomAndClocks())
  const b = runOnce(fx.randomAndClocks())
  if (!a.ok || !b.ok) throw new Error('random/clock module failed')
  const dv = new DataView(a.output.buffer)
  assert.is(a.output.length, 52)
  assert.equal([a.output[0], a.output[33], a.output[42], a.output[51]], [0, 0, 0, 28])
  assert.not.equal([...a.output.subarray(1, 33)], [...b.output.subarray(1, 33)], 'random bytes differ between runs')
  const realtimeMs = Number(dv.getBigUint64(34, true) / 1_000_000n)
  assert.ok(Math.abs(realtimeMs - Date.now()) < 5000)
  assert.ok(dv.getBigUint64(43, true) > 0n)
})

test('links all 46 preview1 functions; argv ["job"], empty environment, stdout a character device', () => {
  const r = runOnce(fx.linksEverything())
  if (!r.ok) throw new Error(r.message)
  assert.is(text(r.output), '1 4 0 0 job2 70 52 ')
})

test('unknown module: module_not_found', () => {
  const r = expectError(new JobRunner().run('ab'.repeat(32), new Uint8Array(0), caps))
  assert.is(r.code, 'module_not_found')
})

test.run()
