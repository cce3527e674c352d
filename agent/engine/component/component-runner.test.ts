// Components as jobs: job world and WASI command components through jco, under the same
// limits as preview1 commands. Needs @bytecodealliance/jco: skipped without it, except
// under CI, where its absence fails.
//   node --import tsx agent/engine/component/component-runner.test.ts
import { createHash } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as fx from '../../../test/fixtures/engine/modules.ts'
import type { RunnerResult } from '../runner/runner-result.ts'
import { ComponentRunner } from './component-runner.ts'
import { jcoAvailable } from './jco.ts'
import { forgetComponent, isTranspiled, prepareComponent, transpileCount } from './prepare.ts'
import {
  JOB_ABI,
  badCaseJob,
  commandComponent,
  echoJob,
  trapJob,
  witComponent,
  type TestComponent,
} from '../../../test/support/components.ts'

const available = await jcoAvailable()
if (!available && process.env['CI']) {
  test('jco is installed (required under CI)', () => {
    assert.unreachable('@bytecodealliance/jco is missing: it is a dependency of this package')
  })
}
const it = available ? test : test.skip

const caps = { outputBytes: 1 << 20, stderrBytes: 4096 }
const text = (b: Uint8Array) => new TextDecoder().decode(b)
const enc = (s: string) => new TextEncoder().encode(s)
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

function expectOk(r: RunnerResult): string {
  if (!r.ok) throw new Error(`expected ok, got ${r.code}: ${r.message} ${r.stderr}`)
  return text(r.output)
}

/** Awaits `fn` and checks it rejects with a JobError of `code` (and a message matching `message`). */
async function rejects(fn: () => Promise<unknown>, code: string, message?: RegExp): Promise<void> {
  try {
    await fn()
  } catch (err) {
    const e = err as { code?: string; message?: string }
    assert.is(e.code, code, e.message)
    if (message) assert.match(e.message ?? '', message)
    return
  }
  assert.unreachable(`expected a rejection with ${code}`)
}

function expectError(r: RunnerResult): Extract<RunnerResult, { ok: false }> {
  if (r.ok) throw new Error(`expected an error, got output ${JSON.stringify(text(r.output))}`)
  return r
}

async function loaded(c: TestComponent | Promise<TestComponent>, runner = new ComponentRunner()) {
  const component = await c
  const info = await runner.load(component.sha256, component.bytes)
  return { runner, info, sha256: component.sha256, run: (input = '', c2 = caps) => runner.run(component.sha256, enc(input), c2) }
}

/** Prints, space-separated: argc, argv buffer size, envc, environ size, argv[0], filetype of stdout, errno of fd_seek(1). */
const ASKS_THE_HOST = `(module
  ${['args_sizes_get', 'args_get', 'environ_sizes_get', 'fd_fdstat_get', 'fd_write']
    .map((n) => `(import "wasi_snapshot_preview1" "${n}" (func $${n} (param ${fx.WASI_SIGNATURES[n]}) (result i32)))`)
    .join('\n  ')}
  (import "wasi_snapshot_preview1" "fd_seek" (func $fd_seek (param i32 i64 i32 i32) (result i32)))
  (memory (export "memory") 1)
  (func $print (param $ptr i32) (param $len i32)
    (i32.store (i32.const 0) (local.get $ptr)) (i32.store (i32.const 4) (local.get $len))
    (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
  (func $num (param $n i32) (local $at i32)
    (local.set $at (i32.const 31))
    (i32.store8 (i32.const 31) (i32.const 32))
    (loop $digit
      (local.set $at (i32.sub (local.get $at) (i32.const 1)))
      (i32.store8 (local.get $at) (i32.add (i32.const 48) (i32.rem_u (local.get $n) (i32.const 10))))
      (local.set $n (i32.div_u (local.get $n) (i32.const 10)))
      (br_if $digit (local.get $n)))
    (call $print (local.get $at) (i32.sub (i32.const 32) (local.get $at))))
  (func (export "_start")
    (drop (call $args_sizes_get (i32.const 64) (i32.const 68)))
    (call $num (i32.load (i32.const 64)))
    (call $num (i32.load (i32.const 68)))
    (drop (call $environ_sizes_get (i32.const 72) (i32.const 76)))
    (call $num (i32.load (i32.const 72)))
    (call $num (i32.load (i32.const 76)))
    (drop (call $args_get (i32.const 80) (i32.const 96)))
    (call $print (i32.load (i32.const 80)) (i32.const 4))
    (drop (call $fd_fdstat_get (i32.const 1) (i32.const 128)))
    (call $num (i32.load8_u (i32.const 128)))
    (call $num (call $fd_seek (i32.const 1) (i64.const 0) (i32.const 0) (i32.const 160)))))`

// ---- job world ------------------------------------------------------------------------

it('job world: ok(bytes) is the output, owning its buffer; a fresh instance per job', async () => {
  const { run, info } = await loaded(echoJob())
  assert.equal(info.kind, 'component-job')
  assert.equal(info.imports, [])
  for (const input of ['one', '', 'x'.repeat(100_000)]) {
    const r = run(input)
    assert.is(expectOk(r), input)
    if (r.ok) assert.is(r.output.buffer.byteLength, r.output.byteLength, 'transferable without a copy')
  }
})

it('job world: err(message) is exit_nonzero with the message as stderr', async () => {
  const { run } = await loaded(
    witComponent(`(module ${JOB_ABI}
      (data (i32.const 64) "bad row 3")
      (func (export "run") (param i32 i32) (result i32) (call $ret (i32.const 1) (i32.const 64) (i32.const 9))))`),
  )
  const r = expectError(run('anything'))
  assert.equal([r.code, r.message, r.stderr], ['exit_nonzero', 'run returned an error', 'bad row 3'])
  // metered: cabi_realloc for the 8 input bytes 16 + 3, run 4, $ret 10; the host's copies of
  // the input (8 bytes) and of the message (9) 1 each
  assert.is(r.fuel, 19 + 4 + 10 + 1 + 1)
})

it('job world: output over outputBytes is output_limit; exactly at it is fine', async () => {
  const { run } = await loaded(echoJob())
  const c = { outputBytes: 100, stderrBytes: 10 }
  assert.is(expectOk(run('x'.repeat(100), c)).length, 100)
  const r = expectError(run('x'.repeat(101), c))
  assert.equal([r.code, r.message], ['output_limit', 'output exceeds 100 bytes'])
})

it('job world: traps and canonical ABI violations are trap', async () => {
  const t = expectError((await loaded(trapJob())).run('x'))
  assert.equal([t.code, t.message], ['trap', 'unreachable'])
  const b = expectError((await loaded(badCaseJob())).run('x'))
  assert.equal([b.code, b.message], ['trap', 'invalid variant discriminant for expected'])
})

// ---- WASI command components (preview1 core + jco's preview1 adapter) ---------------------

it('command: stdin to stdout; the same runner serves many runs', async () => {
  const { run, info } = await loaded(commandComponent(fx.echo().bytes))
  assert.is(info.kind, 'component-command')
  assert.ok(info.imports.includes('wasi:cli/stdin@0.2.12'), info.imports.join(' '))
  for (const input of ['hello, fogmesh\n', '', 'y'.repeat(70_000)]) assert.is(expectOk(run(input)), input)
})

it('command: non-zero exit is exit_nonzero with stderr (WASI 0.2 exit carries ok/err: code 1)', async () => {
  const { run } = await loaded(commandComponent(fx.failWithStderr().bytes))
  const r = expectError(run())
  assert.equal([r.code, r.message, r.stderr], ['exit_nonzero', 'exit code 1', 'bad input: expected digits\n'])
  const capped = expectError(run('', { outputBytes: 100, stderrBytes: 3 }))
  assert.is(capped.stderr, 'bad', 'stderr is capped, not an error')
})

it('command: exit(0) is success with the output so far', async () => {
  assert.is(expectOk((await loaded(commandComponent(fx.exitZero().bytes))).run()), 'done')
})

it('command: stdout over the cap is output_limit', async () => {
  const { run } = await loaded(commandComponent(fx.flood().bytes))
  const r = expectError(run('', { outputBytes: 100_000, stderrBytes: 10 }))
  assert.equal([r.code, r.message], ['output_limit', 'stdout exceeds 100000 bytes'])
  const e = await loaded(commandComponent(fx.echo().bytes))
  assert.is(expectOk(e.run('z'.repeat(100), { outputBytes: 100, stderrBytes: 10 })).length, 100)
  assert.is(expectError(e.run('z'.repeat(101), { outputBytes: 100, stderrBytes: 10 })).code, 'output_limit')
})

it('command: opening a file gets an error, not a file (no preopened directory)', async () => {
  // errnos of path_open through fd 3, path_open through fd 0, fd_prestat_get(3): EBADF (8) each
  assert.is(expectOk((await loaded(commandComponent(fx.openPasswd().bytes))).run()), '8 8 8 ')
})

it('command: argv ["job"], empty environment, stdout is no terminal, no seeking', async () => {
  // argc 1, argv size 4, envc 0, environ size 0, "job\\0", filetype 0 (unknown: the adapter says
  // character device only for a terminal; our preview1 host says 2), fd_seek: ESPIPE (70)
  const out = expectOk((await loaded(commandComponent(fx.compileWat(ASKS_THE_HOST).bytes))).run())
  assert.is(out, '1 4 0 0 job\u00000 70 ')
})

it('command: traps, stack overflow', async () => {
  const t = expectError((await loaded(commandComponent(fx.trap().bytes))).run())
  assert.equal([t.code, t.message], ['trap', 'unreachable'])
  const s = expectError((await loaded(commandComponent(fx.stackOverflow().bytes))).run())
  assert.equal([s.code, s.message], ['trap', 'call stack exhausted'])
})

it('command: random and clocks, real or deterministic per job', async () => {
  const { runner, sha256 } = await loaded(commandComponent(fx.randomAndClocks().bytes))
  const det = (jobId: string) => runner.run(sha256, new Uint8Array(0), caps, { deterministic: true, jobId })
  const a = det('job-1')
  const b = det('job-1')
  const c = det('job-2')
  if (!a.ok || !b.ok || !c.ok) throw new Error('expected ok')
  assert.equal([...a.output], [...b.output], 'the same job id gives the same bytes')
  assert.not.equal([...a.output.subarray(1, 33)], [...c.output.subarray(1, 33)], 'another job id, other random bytes')
  // layout (fixture): [0] errno, [1..33) random, [33] errno, [34..42) realtime, [42] errno, [43..51) monotonic
  const dv = new DataView(a.output.buffer)
  assert.equal([a.output[0], a.output[33], a.output[42]], [0, 0, 0])
  assert.is(dv.getBigUint64(34, true), 1_704_067_200_000_000_000n, 'deterministic realtime starts at 2024-01-01')
  const real = runner.run(sha256, new Uint8Array(0), caps)
  if (!real.ok) throw new Error(real.message)
  const now = new DataView(real.output.buffer).getBigUint64(34, true)
  assert.ok(now > 1_704_067_200_000_000_000n && now <= BigInt(Date.now() + 1000) * 1_000_000n, `realtime ${now}`)
})

// ---- loading -------------------------------------------------------------------------------

it('transpile is cached per sha256: a second load (another runner) does not transpile again', async () => {
  const c = await commandComponent(fx.exitZero().bytes)
  forgetComponent(c.sha256)
  const before = transpileCount()
  let t = performance.now()
  await new ComponentRunner().load(c.sha256, c.bytes)
  const first = performance.now() - t
  assert.is(transpileCount(), before + 1)
  assert.ok(isTranspiled(c.sha256))
  t = performance.now()
  const [x, y] = await Promise.all([new ComponentRunner().load(c.sha256, c.bytes), prepareComponent(c.sha256, c.bytes)])
  const second = performance.now() - t
  assert.is(transpileCount(), before + 1, 'no second transpile')
  assert.is(x.kind, 'component-command')
  assert.is(y.info.kind, 'component-command')
  console.log(`    first load ${first.toFixed(1)} ms, cached load ${second.toFixed(1)} ms`)
})

it('the transpile is deterministic: the same JS and core modules every time', async () => {
  const c = await echoJob()
  forgetComponent(c.sha256)
  const a = await prepareComponent(c.sha256, c.bytes)
  forgetComponent(c.sha256)
  const b = await prepareComponent(c.sha256, c.bytes)
  assert.is(sha(enc(a.js)), sha(enc(b.js)))
  assert.equal(
    a.cores.map(([name]) => name),
    b.cores.map(([name]) => name),
  )
})

it('a prepared component runs in another runner (what a worker thread gets)', async () => {
  const c = await echoJob()
  const prepared = await prepareComponent(c.sha256, c.bytes)
  const cloned = structuredClone(prepared)
  const runner = new ComponentRunner()
  assert.is(runner.add(cloned).kind, 'component-job')
  assert.is(expectOk(runner.run(c.sha256, enc('via a clone'), caps)), 'via a clone')
})

it('rewriteCore sees every core module before it is compiled (the instrumentation seam)', async () => {
  const c = await commandComponent(fx.echo().bytes)
  forgetComponent(c.sha256)
  const seen: string[] = []
  const instantiated: WebAssembly.Module[] = []
  const runner = new ComponentRunner({
    rewriteCore: (bytes, core) => {
      assert.is(core.sha256, c.sha256)
      seen.push(core.name)
      return bytes
    },
    instantiateCore: (module, imports) => {
      instantiated.push(module)
      return new WebAssembly.Instance(module, imports)
    },
  })
  await runner.load(c.sha256, c.bytes)
  assert.ok(seen.length >= 2 && seen.every((n) => /^component\.core\d*\.wasm$/.test(n)), seen.join(' '))
  assert.is(expectOk(runner.run(c.sha256, enc('metered?'), caps)), 'metered?')
  assert.is(instantiated.length, seen.length, 'each core module instantiated once per run, through the hook')
})

it('garbage with the component header is invalid_module; a core module is not a component', async () => {
  const garbage = new Uint8Array([0, 0x61, 0x73, 0x6d, 0x0d, 0, 1, 0, 1, 2, 3, 4, 5, 6, 7, 8, 9])
  const runner = new ComponentRunner()
  await rejects(() => runner.load(sha(garbage), garbage), 'invalid_module', /not a valid component/)
  const core = fx.echo()
  await rejects(() => runner.load(core.sha256, core.bytes), 'invalid_module', /not a WebAssembly component/)
  const c = await echoJob()
  await rejects(() => runner.load('0'.repeat(64), c.bytes), 'module_hash_mismatch')
})

it('imports outside the host surface are link_error naming them', async () => {
  const RUN = 'export run: func(input: list<u8>) -> result<list<u8>, string>;'
  const body = (imp: string) =>
    `(module ${imp} ${JOB_ABI} (func (export "run") (param i32 i32) (result i32) (call $ret (i32.const 0) (i32.const 0) (i32.const 0))))`
  const cases: Array<[string, string, RegExp]> = [
    [
      `package test:fx;\npackage wasi:sockets@0.2.0 { interface instance-network { resource network; instance-network: func() -> network; } }\nworld w { import wasi:sockets/instance-network@0.2.0; ${RUN} }`,
      `(import "wasi:sockets/instance-network@0.2.0" "instance-network" (func (result i32)))`,
      /imports wasi:sockets\/instance-network@0\.2\.0, which the job host does not provide/,
    ],
    [
      `package test:fx;\nworld w { import log: func(msg: string); ${RUN} }`,
      `(import "$root" "log" (func (param i32 i32)))`,
      /imports log,/,
    ],
    [
      `package test:fx;\npackage wasi:clocks@0.2.0 { interface monotonic-clock { now: func() -> u64; frobnicate: func(); } }\nworld w { import wasi:clocks/monotonic-clock@0.2.0; ${RUN} }`,
      `(import "wasi:clocks/monotonic-clock@0.2.0" "frobnicate" (func))`,
      /imports wasi:clocks\/monotonic-clock#frobnicate/,
    ],
    [
      `package test:fx;\npackage wasi:clocks@0.3.0 { interface monotonic-clock { now: func() -> u64; } }\nworld w { import wasi:clocks/monotonic-clock@0.3.0; ${RUN} }`,
      `(import "wasi:clocks/monotonic-clock@0.3.0" "now" (func (result i64)))`,
      /imports wasi:clocks\/monotonic-clock@0\.3\.0,/,
    ],
  ]
  for (const [wit, imp, message] of cases) {
    const c = await witComponent(body(imp), wit, 'w')
    await rejects(() => new ComponentRunner().load(c.sha256, c.bytes), 'link_error', message)
  }
})

it('a component exporting neither world is not_a_command', async () => {
  const c = await witComponent(
    `(module (memory (export "memory") 1) (func (export "run") (param i32) (result i32) (local.get 0)))`,
    'package test:fx;\nworld w { export run: func(x: u32) -> u32; }',
    'w',
  )
  await rejects(() => new ComponentRunner().load(c.sha256, c.bytes), 'not_a_command', /list<u8>/)
})

it('run before load: module_not_found', () => {
  const r = expectError(new ComponentRunner().run('f'.repeat(64), enc(''), caps))
  assert.is(r.code, 'module_not_found')
})

test.run()
