import { createHash, randomBytes } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as fx from '../../../test/fixtures/engine/modules.ts'
import { DETERMINISTIC_EPOCH_NS } from '../wasi/deterministic-sources.ts'
import { compileJob } from './prepare-job.ts'
import { JobRunner } from './job-runner.ts'
import type { RunnerLimits, RunnerResult } from './runner-result.ts'
import type { FromWorker, ToWorker } from '../worker/protocol.ts'
import { spawnJobWorker } from '../worker/spawn.ts'

const caps = { outputBytes: 1 << 20, stderrBytes: 4096 }
const text = (b: Uint8Array) => new TextDecoder().decode(b)

function runOnce(fixture: fx.Fixture, input: string | Uint8Array = '', c = caps, limits: RunnerLimits = {}): RunnerResult {
  const runner = new JobRunner()
  runner.load(fixture.sha256, fixture.bytes)
  return runner.run(fixture.sha256, typeof input === 'string' ? new TextEncoder().encode(input) : input, c, limits)
}

function okOutput(r: RunnerResult): Uint8Array {
  if (!r.ok) throw new Error(`expected ok, got ${r.code}: ${r.message}`)
  return r.output
}

function dist(name: string): fx.Fixture {
  const bytes = new Uint8Array(readFileSync(new URL(`../../../wasm-modules/dist/${name}.wasm`, import.meta.url)))
  return { bytes, module: new WebAssembly.Module(bytes), sha256: createHash('sha256').update(bytes).digest('hex') }
}

/** Sensor-like readings, the same every time. */
function readings(n: number): string {
  const lines: string[] = []
  let x = 1234567
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2147483648
    lines.push(((x % 100000) / 1000 - 20).toFixed(3))
  }
  return lines.join('\n')
}

function expectError(r: RunnerResult): Extract<RunnerResult, { ok: false }> {
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
  assert.ok(r.fuel > 0, 'metered')
  assert.ok(r.ms >= 0)
})

test('a fresh instance per job: the same runner serves many runs', () => {
  const echo = fx.echo()
  const runner = new JobRunner()
  runner.load(echo.sha256, echo.bytes)
  for (const input of ['one', '', 'three']) {
    const r = runner.run(echo.sha256, new TextEncoder().encode(input), caps)
    assert.ok(r.ok)
    if (r.ok) assert.is(text(r.output), input)
  }
})

test('nothing of one job is left in memory for the next: a reused memory is zeroed, a grown one is not reused', () => {
  // prints the bytes at 4096..4104 and at the first byte of page 2 (if any), then writes "SECRET!!" at 4096,
  // and grows the memory by a page when its input is "grow" (writing there too)
  const peek = fx.compileWat(`(module
  (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
  (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
  (memory (export "memory") 1 4)
  (func (export "_start")
    (i32.store (i32.const 0) (i32.const 4096))
    (i32.store (i32.const 4) (i32.const 8))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
    (i32.store (i32.const 16) (i32.const 200))
    (i32.store (i32.const 20) (i32.const 4))
    (drop (call $fd_read (i32.const 0) (i32.const 16) (i32.const 1) (i32.const 24)))
    (i64.store (i32.const 4096) (i64.const 0x2121544552434553))
    (if (i32.eq (i32.load (i32.const 200)) (i32.const 0x776f7267))
      (then (drop (memory.grow (i32.const 1))) (i64.store (i32.const 65536) (i64.const 0x2121544552434553))))
    (i32.store8 (i32.const 300) (i32.const 0))
    (if (i32.gt_u (memory.size) (i32.const 1)) (then (i32.store8 (i32.const 300) (i32.load8_u (i32.const 65536)))))
    (i32.store (i32.const 0) (i32.const 300))
    (i32.store (i32.const 4) (i32.const 1))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`)
  const runner = new JobRunner()
  runner.load(peek.sha256, peek.bytes)
  const zeros = '\0'.repeat(8)
  const run = (input: string, limits: RunnerLimits = {}) => text(okOutput(runner.run(peek.sha256, new TextEncoder().encode(input), caps, limits)))
  assert.is(run('once'), zeros + '\0', 'a fresh memory')
  assert.is(run('twice'), zeros + '\0', 'the secret of the previous job is gone')
  assert.is(run('grow'), zeros + 'S', 'this one grows its memory and writes in the new page')
  assert.is(run('after'), zeros + '\0', 'the grown memory was not kept: one page again, zeroed')
  assert.is(run('cap', { memoryMiB: 1 / 16 }), zeros + '\0', 'another cap (maximum): a memory of its own')
  const refused = runner.run(peek.sha256, new TextEncoder().encode('grow'), caps, { memoryMiB: 1 / 16 })
  assert.is(refused.ok ? 'ok' : refused.code, 'memory_limit', 'growth refused under that cap, as with a fresh memory')
  assert.is(run('again'), zeros + '\0')
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

// ---- fuel -----------------------------------------------------------------------

test('a compiled original module still runs the old way: unmetered, fuel 0', () => {
  const echo = fx.echo()
  const runner = new JobRunner()
  runner.load(echo.sha256, echo.module)
  const r = runner.run(echo.sha256, new TextEncoder().encode('plain'), caps)
  assert.is(text(okOutput(r)), 'plain')
  assert.is(r.fuel, 0)
})

test('same module, same input, same fuel: 100 runs, and a second runner', () => {
  const stats = dist('rolling-stats')
  const input = new TextEncoder().encode(readings(2000))
  const a = new JobRunner()
  a.load(stats.sha256, stats.bytes)
  const first = a.run(stats.sha256, input, caps)
  okOutput(first)
  for (let i = 0; i < 100; i++) assert.is(a.run(stats.sha256, input, caps).fuel, first.fuel)
  const b = new JobRunner()
  b.load(stats.sha256, stats.bytes)
  assert.is(b.run(stats.sha256, input, caps).fuel, first.fuel)
  // a different input burns different fuel
  assert.is.not(a.run(stats.sha256, new TextEncoder().encode(readings(2001)), caps).fuel, first.fuel)
  // the same for an error outcome
  const trap = fx.trap()
  const t1 = expectError(runOnce(trap))
  assert.ok(t1.fuel > 0)
  assert.is(expectError(runOnce(trap)).fuel, t1.fuel)
})

test('metered output is the unmetered output: rolling-stats over 100k readings, echo over 4 MiB', () => {
  const runner = new JobRunner()
  for (const [name, input] of [
    ['rolling-stats', new TextEncoder().encode(readings(100_000))],
    ['echo', new Uint8Array(randomBytes(4 << 20))],
  ] as const) {
    const f = dist(name)
    runner.load(f.sha256, f.bytes)
    runner.load(`${f.sha256}-plain`, f.module)
    const big = { outputBytes: 8 << 20, stderrBytes: 4096 }
    const metered = runner.run(f.sha256, input, big)
    const plain = runner.run(`${f.sha256}-plain`, input, big)
    assert.equal(okOutput(metered), okOutput(plain), name)
    assert.ok(metered.fuel > 0 && plain.fuel === 0)
  }
})

test('an infinite loop under a fuel limit: fuel_exhausted, quickly, fuel = the limit', () => {
  const t = performance.now()
  const r = expectError(runOnce(fx.spin(), '', caps, { fuel: 5_000_000 }))
  assert.equal([r.code, r.message, r.fuel], ['fuel_exhausted', 'fuel limit of 5000000 exhausted', 5_000_000])
  assert.ok(performance.now() - t < 1000)
  // exactly enough fuel is enough: echo of 'abc' needs what it reported
  const echo = fx.echo()
  const need = runOnce(echo, 'abc').fuel
  assert.is(text(okOutput(runOnce(echo, 'abc', caps, { fuel: need }))), 'abc')
  assert.is(expectError(runOnce(echo, 'abc', caps, { fuel: need - 1 })).code, 'fuel_exhausted')
  // a guest cannot catch running out (the check traps), even around a loop
  const stubborn = fx.compileWat(
    `(module (memory (export "memory") 1)
      (func (export "_start") (loop $again (try (do (loop $l (br $l))) (catch_all (br $again))))))`,
    { exceptions: true },
  )
  assert.is(expectError(runOnce(stubborn, '', caps, { fuel: 100_000 })).code, 'fuel_exhausted')
})

test('unbounded recursion is still a trap, with its fuel', () => {
  const r = expectError(runOnce(fx.stackOverflow(), '', caps, { fuel: 1e15 }))
  assert.equal([r.code, r.message], ['trap', 'call stack exhausted'])
  assert.ok(r.fuel > 1000)
})

// ---- memory -----------------------------------------------------------------------

test('memory bomb: growth stops at the cap and the failure is memory_limit', () => {
  const bomb = fx.compileWat(`(module (memory (export "memory") 1)
    (func (export "_start")
      (loop $more (br_if $more (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
      unreachable))`)
  const t = performance.now()
  const r = expectError(runOnce(bomb, '', caps, { memoryMiB: 8 }))
  assert.equal([r.code, r.message], ['memory_limit', 'memory limit of 8 MiB reached (then: unreachable)'])
  assert.ok(performance.now() - t < 1000)
  // growth that fails and is handled is no error; exiting non-zero after it is
  const exits = fx.compileWat(`(module
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (func (export "_start") (if (i32.eq (memory.grow (i32.const 1000)) (i32.const -1)) (then (call $exit (i32.const 1))))))`)
  const e = expectError(runOnce(exits, '', caps, { memoryMiB: 1 }))
  assert.equal([e.code, e.message], ['memory_limit', 'memory limit of 1 MiB reached (then: exit code 1)'])
  assert.ok(runOnce(exits, '', caps, { memoryMiB: 128 }).ok)
  // the cap is in the memory the job sees: memory.size stays within it
  const declaredMax = fx.compileWat(`(module (memory (export "memory") 1 4)
    (func (export "_start") (if (i32.ne (memory.grow (i32.const 4)) (i32.const -1)) (then unreachable))))`)
  assert.ok(runOnce(declaredMax, '', caps, { memoryMiB: 100 }).ok, 'the module\'s own maximum still holds')
})

test('a 4 GiB initial memory is refused before anything is allocated', () => {
  const huge = fx.compileWat('(module (memory (export "memory") 65536) (func (export "_start")))')
  const runner = new JobRunner()
  runner.load(huge.sha256, huge.bytes)
  for (const memoryMiB of [undefined, 1, 1024, 4095]) {
    const r = expectError(runner.run(huge.sha256, new Uint8Array(0), caps, { memoryMiB }))
    assert.is(r.code, 'memory_limit')
    // this message comes from the budget check before any allocation (a failed allocation says
    // "could not allocate"); no clock: a loaded machine makes any check slow
    assert.match(r.message, /^module needs 4096 MiB of memory to start; the limit is \d+ MiB$/)
    assert.is(r.fuel, 0)
  }
  // an initial memory at the cap is fine
  const two = fx.compileWat('(module (memory (export "memory") 32) (func (export "_start")))')
  assert.ok(runOnce(two, '', caps, { memoryMiB: 2 }).ok)
  assert.is(expectError(runOnce(two, '', caps, { memoryMiB: 1.9 })).code, 'memory_limit')
})

test('limits that make no sense are invalid_field', () => {
  const echo = fx.echo()
  assert.is(expectError(runOnce(echo, '', caps, { fuel: -1 })).code, 'invalid_field')
  assert.is(expectError(runOnce(echo, '', caps, { fuel: 1.5 })).code, 'invalid_field')
  assert.is(expectError(runOnce(echo, '', caps, { memoryMiB: 0 })).code, 'invalid_field')
  assert.is(expectError(runOnce(echo, '', caps, { memoryMiB: Number.NaN })).code, 'invalid_field')
})

// ---- deterministic WASI ---------------------------------------------------------------

test('deterministic mode: clock and random from the job id, byte-identical across runs and runners', () => {
  const f = fx.randomAndClocks()
  const det = { jobId: 'job-1', deterministic: true }
  const a = okOutput(runOnce(f, '', caps, det))
  const runner = new JobRunner()
  runner.load(f.sha256, f.bytes)
  for (let i = 0; i < 3; i++) assert.equal(okOutput(runner.run(f.sha256, new Uint8Array(0), caps, det)), a)
  const dv = new DataView(a.buffer)
  assert.is(Buffer.from(a.subarray(1, 33)).toString('hex'), '6b4257e7642e6e5ec554045e4e2d63ebec3549ce91798f75c06c95acec74b3a4')
  assert.is(dv.getBigUint64(34, true), DETERMINISTIC_EPOCH_NS)
  assert.is(dv.getBigUint64(43, true), 1_000_000n)
  assert.is(a[51], 28, 'clock 9 is still EINVAL')
  // another job id: other random bytes, same clock
  const b = okOutput(runOnce(f, '', caps, { jobId: 'job-2', deterministic: true }))
  assert.not.equal(a.subarray(1, 33), b.subarray(1, 33))
  assert.equal(a.subarray(33), b.subarray(33))
  // not deterministic: the real thing, different every run; and the next deterministic run is unaffected
  const r1 = okOutput(runner.run(f.sha256, new Uint8Array(0), caps, { jobId: 'job-1' }))
  const r2 = okOutput(runner.run(f.sha256, new Uint8Array(0), caps, { jobId: 'job-1', deterministic: false }))
  assert.not.equal(r1.subarray(1, 33), r2.subarray(1, 33))
  assert.not.equal(r1.subarray(1, 33), a.subarray(1, 33))
  assert.equal(okOutput(runner.run(f.sha256, new Uint8Array(0), caps, det)), a)
})

// ---- through a worker thread --------------------------------------------------------

test('worker protocol: a prepared module and the new limits reach the runner in a worker', async () => {
  const worker = spawnJobWorker()
  try {
    const replies: FromWorker[] = []
    const waiting: ((m: FromWorker) => void)[] = []
    worker.on('message', (m: FromWorker) => {
      const w = waiting.shift()
      if (w) w(m)
      else replies.push(m)
    })
    const next = () => new Promise<FromWorker>((resolve) => (replies.length ? resolve(replies.shift()!) : waiting.push(resolve)))
    assert.equal(await next(), { type: 'ready' })
    for (const f of [fx.spin(), fx.randomAndClocks(), fx.echo()]) {
      const { job } = compileJob(f.sha256, f.bytes)
      const { module, ...prepared } = job
      worker.postMessage({ type: 'load', sha256: f.sha256, module, prepared } satisfies ToWorker)
    }
    const base = { outputBytes: 1 << 20, stderrBytes: 4096, input: new Uint8Array(0) }
    worker.postMessage({ type: 'run', id: 1, sha256: fx.spin().sha256, ...base, fuel: 1_000_000 } satisfies ToWorker)
    const spun = await next()
    assert.ok(spun.type === 'done' && !spun.result.ok && spun.result.code === 'fuel_exhausted' && spun.result.fuel === 1_000_000)
    const clocks = fx.randomAndClocks()
    const det = { type: 'run' as const, sha256: clocks.sha256, ...base, jobId: 'job-1', deterministic: true }
    worker.postMessage({ ...det, id: 2 } satisfies ToWorker)
    const d = await next()
    if (d.type !== 'done' || !d.result.ok) throw new Error('deterministic run failed')
    assert.is(Buffer.from(d.result.output.subarray(1, 33)).toString('hex'), '6b4257e7642e6e5ec554045e4e2d63ebec3549ce91798f75c06c95acec74b3a4')
    // a run message without the new fields (what the pool sends today) still runs, metered
    worker.postMessage({ type: 'run', id: 3, sha256: fx.echo().sha256, ...base, input: new TextEncoder().encode('hi') } satisfies ToWorker)
    const e = await next()
    assert.ok(e.type === 'done' && e.result.ok && text(e.result.output) === 'hi' && e.result.fuel > 0)
  } finally {
    await worker.terminate()
  }
})

test.run()
