import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import wabtInit from 'wabt'
import { JobError } from '../../../protocol/errors.ts'
import * as fx from '../../../test/fixtures/engine/modules.ts'
import { JobRunner } from '../runner/job-runner.ts'
import type { RunnerLimits, RunnerResult } from '../runner/runner-result.ts'
import { GROW_PAGE_FUEL, METERING_VERSION } from './costs.ts'
import { prepareModule } from './meter.ts'
import type { MeterOptions } from './meter.ts'
import { compileJob } from '../runner/prepare-job.ts'

const wabt = await wabtInit()
const caps = { outputBytes: 1 << 20, stderrBytes: 4096 }
const text = (b: Uint8Array) => new TextDecoder().decode(b)

/** WAT to bytes, with any wabt feature (no compile: some of these V8 refuses). */
function wat(src: string, features: Record<string, boolean> = {}): Uint8Array {
  const m = wabt.parseWat('t.wat', src, features)
  try {
    return new Uint8Array(m.toBinary({}).buffer)
  } finally {
    m.destroy()
  }
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

function run(bytes: Uint8Array, input = '', limits: RunnerLimits = {}): RunnerResult {
  const runner = new JobRunner()
  runner.load(sha(bytes), bytes)
  return runner.run(sha(bytes), new TextEncoder().encode(input), caps, limits)
}

function fuelOf(bytes: Uint8Array, input = ''): number {
  const r = run(bytes, input)
  if (!r.ok) throw new Error(`${r.code}: ${r.message}`)
  return r.fuel
}

function refusal(bytes: Uint8Array, options: MeterOptions = {}): JobError {
  try {
    prepareModule(bytes, options)
  } catch (err) {
    if (err instanceof JobError) return err
    throw err
  }
  throw new Error('expected prepareModule to refuse the module')
}

/** A command whose _start is `body` (locals allowed first). */
const command = (body: string, extra = '') => wat(`(module
  (memory (export "memory") 1)
  ${extra}
  (func (export "_start") ${body}))`)

// ---- known answers ------------------------------------------------------------

test('a counting loop of N iterations costs 8N + 4, exactly', () => {
  // entry:     i32.const, local.set                         2 (loop is free)
  // each pass: local.get, i32.const, i32.add, local.set,
  //            local.get, i32.const, i32.lt_u, br_if        8
  // after:     i32.const, drop                              2
  for (const n of [1, 2, 10, 1000, 100_000]) {
    const bytes = command(`(local $i i32)
      (local.set $i (i32.const 0))
      (loop $l
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const ${n}))))
      (drop (i32.const 5))`)
    assert.is(fuelOf(bytes), 8 * n + 4, `N = ${n}`)
  }
})

test('a segment is paid in full on entry: a loop exiting by br_if pays 9 per pass, the last one too', () => {
  for (const n of [0, 1, 50]) {
    const src = `(local $i i32)
      (block $done
        (loop $l
          (br_if $done (i32.ge_u (local.get $i) (i32.const ${n})))
          (local.set $i (i32.add (local.get $i) (i32.const 1)))
          (br $l)))`
    assert.is(fuelOf(command(src)), 9 * (n + 1), `N = ${n}`)
    // the exact-basic-block variant (not the billing model) splits after br_if: 4 per pass + 5 per full pass
    const split = prepareModule(command(src), { splitAtBrIf: true })
    const runner = new JobRunner()
    runner.load('split', { module: new WebAssembly.Module(split.bytes), memory: split.memory, start: split.start, metering: split.metering })
    const r = runner.run('split', new Uint8Array(0), caps)
    assert.is(r.fuel, 4 * (n + 1) + 5 * n, `split, N = ${n}`)
  }
})

test('if/else arms, calls and the code after them', () => {
  const bytes = wat(`(module
    (memory (export "memory") 1)
    (func $pick (param i32) (result i32)
      (if (result i32) (local.get 0) (then (i32.const 10)) (else (i32.const 20))))
    (func (export "_start") (drop (call $pick (i32.const 1))) (drop (call $pick (i32.const 0)))))`)
  // _start: 6 (const, call, drop twice); $pick: local.get + if = 2, then one arm of 1
  assert.is(fuelOf(bytes), 6 + 3 + 3)
})

test('dead code after an unconditional branch costs nothing', () => {
  const bytes = command(`(block $b (br $b) (drop (i32.const 1)) (drop (i32.const 2)) (nop)) (drop (i32.const 3))`)
  assert.is(fuelOf(bytes), 1 + 2)
})

test('fuel on an error: exact up to an explicit trap or exit; after an engine trap, up to the last loop pass or call', () => {
  const loop = (n: number, tail: string) =>
    command(`(local $i i32)
      (loop $l
        (local.set $i (i32.add (local.get $i) (i32.const 1)))
        (br_if $l (i32.lt_u (local.get $i) (i32.const ${n}))))
      ${tail}`)
  const errorFuel = (bytes: Uint8Array) => {
    const r = run(bytes)
    if (r.ok) throw new Error('expected an error')
    return [r.code, r.fuel]
  }
  // `unreachable` is the module's own trap: the count is written out before it
  assert.equal(errorFuel(loop(100, '(drop (i32.const 1)) unreachable')), ['trap', 800 + 3])
  // a division by zero traps inside V8: the last stretch after the loop (4) is not counted
  assert.equal(errorFuel(loop(100, '(drop (i32.div_u (i32.const 1) (i32.const 0)))')), ['trap', 800])
  // same for a trap in the middle of a loop body: the passes before it all count
  const midLoop = command(`(local $i i32)
    (loop $l
      (local.set $i (i32.add (local.get $i) (i32.const 1)))
      (drop (i32.div_u (i32.const 1) (i32.sub (i32.const 50) (local.get $i))))
      (br $l))`)
  assert.equal(errorFuel(midLoop), ['trap', 50 * 11])
})

test('memory.grow: 1, plus 1024 per page added; a refused grow costs 1 and the job may go on', () => {
  assert.is(fuelOf(command('(drop (memory.grow (i32.const 3)))')), 3 + 3 * GROW_PAGE_FUEL)
  assert.is(fuelOf(command('(drop (memory.grow (i32.const 0)))')), 3)
  // a 1 MiB cap is 16 pages; asking for 100 more fails inside the module
  const grows = command('(if (i32.ne (memory.grow (i32.const 100)) (i32.const -1)) (then unreachable))')
  const r = run(grows, '', { memoryMiB: 1 })
  if (!r.ok) throw new Error(`${r.code}: ${r.message}`)
  assert.is(r.fuel, 5) // i32.const, memory.grow, i32.const, i32.ne, if; nothing for the pages it did not get
})

test('bulk memory: 1 + ceil(n / 64) per operation', () => {
  const ops = (n: number) =>
    command(`(memory.fill (i32.const 0) (i32.const 7) (i32.const ${n}))
             (memory.copy (i32.const 100) (i32.const 0) (i32.const ${n}))
             (memory.init $d (i32.const 0) (i32.const 0) (i32.const 4)) (data.drop $d)`,
      '(data $d "abcd")')
  // fill 4 + c, copy 4 + c, init 4 + 1, data.drop 1
  const c = (n: number) => Math.ceil(n / 64)
  for (const n of [0, 1, 64, 65, 1000, 60_000]) assert.is(fuelOf(ops(n)), 4 + c(n) + 4 + c(n) + 5 + 1, `n = ${n}`)
})

test('table bulk operations: 1 + n elements', () => {
  const bytes = command(
    `(drop (table.grow $t (ref.null func) (i32.const 5)))
     (table.fill $t (i32.const 0) (ref.null func) (i32.const 4))
     (table.copy $t $t (i32.const 0) (i32.const 1) (i32.const 3))
     (table.init $t $e (i32.const 0) (i32.const 0) (i32.const 2))`,
    '(table $t 1 funcref) (func $a) (func $b) (elem $e func $a $b)',
  )
  // grow: ref.null, const, grow, drop = 4 + 5; fill: 4 + 4; copy: 4 + 3; init: 4 + 2
  assert.is(fuelOf(bytes), 9 + 8 + 7 + 6)
})

// ---- the rewrite keeps modules working ---------------------------------------------

test('indirect calls, ref.func, element segments and exports are renumbered', () => {
  const bytes = wat(`(module
    (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (type $v (func (result i32)))
    (table 3 funcref)
    (elem (i32.const 0) $one $two)
    (elem declare func $three)
    (global $g funcref (ref.func $three))
    (func $one (result i32) (i32.const 49))
    (func $two (result i32) (i32.const 50))
    (func $three (result i32) (i32.const 51))
    (func $put (param i32)
      (i32.store8 (i32.const 100) (local.get 0))
      (i32.store (i32.const 0) (i32.const 100))
      (i32.store (i32.const 4) (i32.const 1))
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8))))
    (func $main
      (table.set (i32.const 2) (global.get $g))
      (call $put (call_indirect (type $v) (i32.const 0)))
      (call $put (call_indirect (type $v) (i32.const 1)))
      (call $put (call_indirect (type $v) (i32.const 2)))
      (call $put (call_indirect (type $v) (table.get (i32.const 2)) (drop) (i32.const 1))))
    (export "_start" (func $main)))`)
  const r = run(bytes)
  if (!r.ok) throw new Error(`${r.code}: ${r.message}`)
  assert.is(text(r.output), '1232')
})

test('a wasm start function runs first, metered, before _start', () => {
  const bytes = wat(`(module
    (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
    (memory (export "memory") 1)
    (func $init (i32.store8 (i32.const 100) (i32.const 79)) (i32.store8 (i32.const 101) (i32.const 75)))
    (start $init)
    (func (export "_start")
      (i32.store (i32.const 0) (i32.const 100))
      (i32.store (i32.const 4) (i32.const 2))
      (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))))`)
  const p = prepareModule(bytes)
  assert.ok(p.start)
  const r = run(bytes)
  if (!r.ok) throw new Error(`${r.code}: ${r.message}`)
  assert.is(text(r.output), 'OK')
  assert.is(r.fuel, 6 + 12 + 1) // + 1 for the 2 bytes written (host I/O: ceil(bytes / 64))
})

test('host I/O is charged by the bytes moved: fd_write, fd_read, random_get at 1 per 64 bytes', () => {
  const io = (n: number) =>
    wat(`(module
      (import "wasi_snapshot_preview1" "fd_write" (func $fd_write (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "fd_read" (func $fd_read (param i32 i32 i32 i32) (result i32)))
      (import "wasi_snapshot_preview1" "random_get" (func $random_get (param i32 i32) (result i32)))
      (memory (export "memory") 1)
      (func (export "_start")
        (i32.store (i32.const 0) (i32.const 100))
        (i32.store (i32.const 4) (i32.const ${n}))
        (drop (call $fd_read (i32.const 0) (i32.const 0) (i32.const 1) (i32.const 8)))
        (i32.store (i32.const 4) (i32.load (i32.const 8)))
        (drop (call $fd_write (i32.const 1) (i32.const 0) (i32.const 1) (i32.const 8)))
        (drop (call $random_get (i32.const 100) (i32.const ${n})))))`)
  // instructions: 3 + 3 + 6 + 4 + 6 + 4 = 26; then three transfers of the bytes actually moved
  const input = 'x'.repeat(1000)
  const r = run(io(4000), input)
  if (!r.ok) throw new Error(`${r.code}: ${r.message}`)
  assert.is(text(r.output), input)
  assert.is(r.fuel, 26 + 16 + 16 + 63) // read 1000, wrote 1000, 4000 random bytes
  const none = run(io(0), '')
  assert.is(none.fuel, 26)
})

test('the count is tested at entries and loop heads: a job that crosses zero in a straight stretch and exits is still fuel_exhausted', () => {
  const bytes = wat(`(module
    (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32)))
    (memory (export "memory") 1)
    (func (export "_start")
      (if (i32.const 1) (then ${'(drop (i32.const 0)) '.repeat(10)}))
      (call $exit (i32.const 0))))`)
  // entry: i32.const, if = 2 (tested: 5 - 2 >= 0); the arm: 20 (not tested: -17); then the exit
  const r = run(bytes, '', { fuel: 5 })
  assert.equal([r.ok, r.ok ? '' : r.code, r.fuel], [false, 'fuel_exhausted', 5])
  assert.ok(run(bytes, '', { fuel: 24 }).ok)
  assert.is(run(bytes, '', { fuel: 23 }).ok, false)
})

test('post-MVP features our toolchains emit: multi-value, sign extension, saturating conversions, SIMD, exceptions', () => {
  const bytes = wat(`(module
    (memory (export "memory") 1)
    (func $pair (result i32 i32) (i32.const 1) (i32.const 2))
    (func (export "_start") (local $v v128)
      call $pair
      block (param i32 i32) (result i32)
        i32.add
      end
      drop
      (drop (i32.extend8_s (i32.const 255)))
      (drop (i32.trunc_sat_f64_s (f64.const 1e300)))
      (local.set $v (i32x4.add (v128.const i32x4 1 2 3 4) (v128.const i32x4 1 1 1 1)))
      (drop (i32x4.extract_lane 3 (local.get $v)))
      (drop (i8x16.shuffle 0 1 2 3 4 5 6 7 8 9 10 11 12 13 14 15 (local.get $v) (local.get $v)))
      (v128.store offset=16 (i32.const 0) (local.get $v))
      (try (do (nop)) (catch_all))))`, { exceptions: true, simd: true })
  // _start: 3 + 3 + 3 + 4 + 3 + 4 + 3 (try, nop, catch_all and end are free); $pair: 2
  assert.is(fuelOf(bytes), 23 + 2)
})

test('refuses instructions it cannot meter with a clear invalid_module', () => {
  // typed function references (call_ref) and atomics past the known set, hand-encoded
  const body = (code: number[]) => {
    const fn = [0x00, ...code, 0x0b]
    return new Uint8Array([
      0x00, 0x61, 0x73, 0x6d, 0x01, 0x00, 0x00, 0x00,
      0x01, 0x04, 0x01, 0x60, 0x00, 0x00, // type () -> ()
      0x03, 0x02, 0x01, 0x00, // one function
      0x05, 0x03, 0x01, 0x00, 0x01, // memory 1
      0x07, 0x13, 0x02, 0x06, ...Buffer.from('_start'), 0x00, 0x00, 0x06, ...Buffer.from('memory'), 0x02, 0x00,
      0x0a, fn.length + 2, 0x01, fn.length, ...fn,
    ])
  }
  assert.ok(prepareModule(body([0x01])).bytes.length > 0)
  const callRef = refusal(body([0xd0, 0x70, 0x14, 0x00]))
  assert.equal([callRef.code, callRef.shortMessage], ['invalid_module', 'module uses typed function references, which the job host does not support'])
  assert.match(refusal(body([0xfb, 0x00])).shortMessage, 'GC instructions')
  assert.match(refusal(body([0xfc, 0x20])).shortMessage, 'instruction 0xfc 32')
  assert.match(refusal(body([0xfe, 0x7f])).shortMessage, 'atomic instruction 0xfe 127')
  assert.match(refusal(body([0x1f])).shortMessage, 'exnref')
  // relaxed SIMD: i32x4.relaxed_trunc_f32x4_s (0xfd 0x101) on a splat
  const relaxed = refusal(body([0x41, 0x00, 0xfd, 0x11, 0xfd, 0x81, 0x02, 0x1a]))
  assert.equal([relaxed.code, relaxed.shortMessage], ['invalid_module', 'module uses relaxed SIMD (0xfd 257), whose results differ between machines: jobs must be deterministic'])
})

// ---- refusals -----------------------------------------------------------------

test('refuses memory64, shared memory, two memories, no memory (invalid_module / not_a_command)', () => {
  const m64 = refusal(wat('(module (memory (export "memory") i64 1) (func (export "_start")))', { memory64: true }))
  assert.equal([m64.code, m64.shortMessage], ['invalid_module', 'module uses a 64-bit memory (memory64); jobs are wasm32'])
  const shared = refusal(wat('(module (memory (export "memory") 1 1 shared) (func (export "_start")))', { threads: true }))
  assert.equal([shared.code, shared.shortMessage], ['invalid_module', 'module uses a shared memory (threads); jobs are single-threaded'])
  const two = refusal(wat('(module (memory (export "memory") 1) (memory 1) (func (export "_start")))', { multi_memory: true }))
  assert.equal([two.code, two.shortMessage], ['invalid_module', 'module defines 2 memories; a job has exactly one'])
  const none = refusal(wat('(module (func (export "_start")))'))
  assert.equal([none.code, none.shortMessage], ['not_a_command', 'module defines no memory'])
})

test('refuses an imported memory and anything imported from "fogmesh" (link_error), and fogmesh_ exports', () => {
  const mem = refusal(wat('(module (import "env" "memory" (memory 1)) (export "memory" (memory 0)) (func (export "_start")))'))
  assert.equal([mem.code, mem.shortMessage], ['link_error', 'module imports memory env.memory; the job host provides the memory itself'])
  const fuel = refusal(wat(`(module (import "fogmesh" "out_of_fuel" (func)) (memory (export "memory") 1) (func (export "_start")))`))
  assert.is(fuel.code, 'link_error')
  assert.match(fuel.shortMessage, 'fogmesh.out_of_fuel')
  const global = refusal(wat(`(module (import "fogmesh" "fuel" (global (mut i64))) (memory (export "memory") 1) (func (export "_start")))`))
  assert.is(global.code, 'link_error')
  const exported = refusal(command('', '(global (export "fogmesh_fuel") (mut i64) (i64.const 1))'))
  assert.equal([exported.code, exported.shortMessage], ['link_error', 'module exports fogmesh_fuel: names starting with fogmesh_ are reserved'])
})

test('through compileJob: the original is checked first, then prepared', () => {
  const bad = (bytes: Uint8Array) => {
    try {
      compileJob(sha(bytes), bytes)
    } catch (err) {
      if (err instanceof JobError) return err
      throw err
    }
    throw new Error('expected a refusal')
  }
  assert.is(bad(wat('(module (memory (export "memory") i64 1) (func (export "_start")))', { memory64: true })).code, 'invalid_module')
  assert.is(bad(fx.noStart().bytes).code, 'not_a_command')
  assert.is(bad(fx.hostImport().bytes).code, 'link_error')
  assert.is(bad(new Uint8Array([0, 97, 115, 109, 1, 0, 0, 0, 1, 5])).code, 'invalid_module')
})

test('malformed bytes are invalid_module, never a crash', () => {
  const good = readFileSync(new URL('../../../wasm-modules/dist/rolling-stats.wasm', import.meta.url))
  let refused = 0
  for (let cut = 8; cut < good.length; cut += 97) {
    try {
      prepareModule(good.subarray(0, cut))
    } catch (err) {
      assert.instance(err, JobError)
      // a cut at a section boundary is a well-formed module missing its memory
      assert.ok(['invalid_module', 'not_a_command'].includes((err as JobError).code))
      refused++
    }
  }
  assert.ok(refused > 0)
  const flipped = Uint8Array.from(good)
  for (let i = 20; i < flipped.length; i += 131) flipped[i] = (flipped[i] as number) ^ 0xff
  try {
    new WebAssembly.Module(prepareModule(flipped).bytes)
  } catch (err) {
    assert.ok(err instanceof JobError || err instanceof WebAssembly.CompileError, String(err))
  }
})

// ---- component cores: one imported counter, memories left to their definer ----------

/** Instantiates a componentCore-prepared module with the shared `fogmesh` imports. */
function instantiateCore(bytes: Uint8Array, fogmesh: Record<string, unknown>, imports: WebAssembly.Imports = {}): WebAssembly.Instance {
  const p = prepareModule(bytes, { componentCore: true })
  return new WebAssembly.Instance(new WebAssembly.Module(p.bytes), { ...imports, fogmesh: fogmesh as WebAssembly.ModuleImports })
}

test('componentCore: instances sharing one imported counter burn one budget, exactly, across calls between them', () => {
  // A defines the memory and has globals of its own (imported, defined, exported, in a data offset)
  const a = wat(`(module
    (import "env" "base" (global $base i32))
    (global $g (mut i32) (i32.const 5))
    (global $h (export "h") i32 (global.get $base))
    (memory (export "memory") 1)
    (data (global.get $base) "xy")
    (func (export "loop") (param $n i32)
      (loop $l
        (local.set $n (i32.sub (local.get $n) (i32.const 1)))
        (br_if $l (local.get $n))))
    (func (export "bump") (result i32)
      (global.set $g (i32.add (global.get $g) (i32.const 1)))
      (global.get $g)))`)
  // B imports A's memory and calls into A directly and through the host (which calls A again)
  const b = wat(`(module
    (import "a" "memory" (memory 1))
    (import "a" "loop" (func $loop (param i32)))
    (import "js" "hop" (func $hop (param i32)))
    (func (export "main")
      (call $loop (i32.const 10))
      (call $hop (i32.const 7))
      (drop (i32.load8_u (i32.const 100)))))`)
  // C has no memory at all (like jco's shims)
  const c = wat('(module (func (export "one") (result i32) (i32.const 1)))')
  assert.equal(
    [a, b, c].map((m) => prepareModule(m, { componentCore: true }).memoryFrom),
    ['host', 'module', 'none'],
  )

  const fuel = new WebAssembly.Global({ value: 'i64', mutable: true }, 1000n)
  let outOfFuel = 0
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 2 })
  const fogmesh = { fuel, memory, out_of_fuel: () => void outOfFuel++, grow_failed: () => {} }
  const ia = instantiateCore(a, fogmesh, { env: { base: 100 } })
  const loop = ia.exports['loop'] as (n: number) => void
  const ib = instantiateCore(b, fogmesh, { a: { memory: ia.exports['memory'] as WebAssembly.Memory, loop }, js: { hop: (n: number) => loop(n) } })
  const ic = instantiateCore(c, fogmesh)
  assert.is(ia.exports['memory'], memory, 'the defining core exports the host memory')
  assert.is(ia.exports['fogmesh_fuel'], undefined, 'the counter is not exported')
  // the module's own globals still work, renumbered around the imported counter
  assert.is((ia.exports['h'] as WebAssembly.Global).value, 100)
  assert.equal([...new Uint8Array(memory.buffer, 100, 2)], [120, 121])
  const bump = ia.exports['bump'] as () => number
  assert.equal([bump(), bump()], [6, 7])
  assert.is(fuel.value, 1000n - 10n)

  // main: 7; loop(10) in A: 6 per pass; loop(7) in A, called by the host that main called
  fuel.value = 1000n
  ;(ib.exports['main'] as () => void)()
  assert.is(fuel.value, 1000n - (7n + 60n + 42n))
  ;(ic.exports['one'] as () => number)()
  assert.is(fuel.value, 1000n - 109n - 1n)

  // out of fuel inside A, called from B: the trap unwinds both; the host was told
  fuel.value = 50n
  assert.throws(() => (ib.exports['main'] as () => void)(), (e: unknown) => e instanceof WebAssembly.RuntimeError)
  assert.is(outOfFuel, 1)
  assert.ok((fuel.value as bigint) < 0n)
})

test('componentCore: growth of an imported memory is charged and a refused grow is reported', () => {
  const grower = wat(`(module
    (import "a" "memory" (memory 1))
    (func (export "grow") (param i32) (result i32) (memory.grow (local.get 0))))`)
  const fuel = new WebAssembly.Global({ value: 'i64', mutable: true }, 100_000n)
  let failed = 0
  const memory = new WebAssembly.Memory({ initial: 1, maximum: 3 })
  const i = instantiateCore(grower, { fuel, out_of_fuel: () => {}, grow_failed: () => void failed++ }, { a: { memory } })
  const grow = i.exports['grow'] as (n: number) => number
  assert.is(grow(2), 1)
  assert.is(fuel.value, 100_000n - 2n - 2n * BigInt(GROW_PAGE_FUEL)) // local.get, memory.grow; 2 pages
  assert.is(grow(1), -1, 'the maximum of the imported memory holds')
  assert.is(failed, 1)
})

test('componentCore: refusals stay (fogmesh imports, two memories); without it an imported memory is refused', () => {
  const two = wat('(module (import "a" "memory" (memory 1)) (memory 1))', { multi_memory: true })
  const e = (() => {
    try {
      prepareModule(two, { componentCore: true })
    } catch (err) {
      return err as JobError
    }
    throw new Error('expected a refusal')
  })()
  assert.equal([e.code, e.shortMessage], ['invalid_module', 'module has 2 memories (multi-memory); a job has at most one per module'])
  const fuelImport = wat('(module (import "fogmesh" "fuel" (global (mut i64))) (func (export "f")))')
  assert.is(refusal(fuelImport, { componentCore: true }).code, 'link_error')
  assert.is(refusal(wat('(module (import "a" "memory" (memory 1)))')).code, 'link_error')
  assert.is(refusal(wat('(module (func (export "f")))')).code, 'not_a_command')
})

test('componentCore: deterministic, and the default mode is unchanged by it', () => {
  const bytes = readFileSync(new URL('../../../wasm-modules/dist/rolling-stats.wasm', import.meta.url))
  const a = prepareModule(bytes, { componentCore: true })
  const b = prepareModule(Uint8Array.from(bytes), { componentCore: true })
  assert.is(sha(a.bytes), sha(b.bytes))
  assert.equal([a.memoryFrom, a.metering, prepareModule(bytes).memoryFrom], ['host', METERING_VERSION, 'host'])
  const imports = WebAssembly.Module.imports(new WebAssembly.Module(a.bytes)).filter((i) => i.module === 'fogmesh')
  assert.equal(imports.map((i) => `${i.name}:${i.kind}`), ['memory:memory', 'out_of_fuel:function', 'grow_failed:function', 'fuel:global'])
})

// ---- determinism of the rewrite ----------------------------------------------------

test('prepareModule is deterministic: same bytes in, same bytes out', () => {
  const inputs = [
    readFileSync(new URL('../../../wasm-modules/dist/rolling-stats.wasm', import.meta.url)),
    readFileSync(new URL('../../../wasm-modules/dist/echo.wasm', import.meta.url)),
    fx.swallowExit().bytes,
    fx.linksEverything().bytes,
  ]
  for (const bytes of inputs) {
    const a = prepareModule(bytes)
    const b = prepareModule(Uint8Array.from(bytes))
    assert.is(sha(a.bytes), sha(b.bytes))
    assert.equal(a.memory, b.memory)
    assert.is(a.metering, METERING_VERSION)
  }
})

test.run()
