import { createHash } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as fx from '../../../test/fixtures/engine/modules.ts'
import { JOB_MODULES, loadModule } from '../../../wasm-modules/index.ts'
import type { RunLimits, RunOutcome, RunRequest } from '../executor.ts'
import { compileJob } from '../runner/prepare-job.ts'
import { InlineSlice, INLINE_MAX_INITIAL_PAGES, INLINE_MISS_LIMIT } from './inline-slice.ts'
import { createWorkerPool } from './pool.ts'
import type { WorkerPool } from './pool.ts'

const SLICE = 20_000
const base: RunLimits = { timeoutMs: 5000, outputBytes: 1 << 20, stderrBytes: 4096, deterministic: true }
const enc = (s: string) => new TextEncoder().encode(s)

/** Every test module: the WAT fixtures and the built job modules (AssemblyScript, ...). */
const modules: Record<string, { sha256: string; bytes: Uint8Array }> = {
  echo: fx.echo(),
  fail: fx.failWithStderr(),
  trap: fx.trap(),
  stackOverflow: fx.stackOverflow(),
  flood: fx.flood(),
  passwd: fx.openPasswd(),
  clocks: fx.randomAndClocks(),
  exitZero: fx.exitZero(),
  swallowExit: fx.swallowExit(),
  linksEverything: fx.linksEverything(),
  slow: fx.slowDone(50_000),
  // a big declared memory: never tried inline (its allocation would cost the main thread more than the hop)
  // grows 300 pages (over the try's lowered cap, under the default job cap): exit 3 only when refused
  growBig: fx.compileWat(`(module (import "wasi_snapshot_preview1" "proc_exit" (func $exit (param i32))) (memory (export "memory") 1)
  (func (export "_start") (if (i32.eq (memory.grow (i32.const 300)) (i32.const -1)) (then (call $exit (i32.const 3))))))`),
  bigMemory: fx.compileWat(`(module (memory (export "memory") ${INLINE_MAX_INITIAL_PAGES + 1}) (func (export "_start")))`),
}
for (const name of JOB_MODULES) {
  const bytes = await loadModule(name)
  modules[`dist/${name}`] = { bytes, sha256: createHash('sha256').update(bytes).digest('hex') }
}

/** Input each case runs with, and limits beyond `base`. */
const cases: Array<{ name: string; input: string; limits?: Partial<RunLimits> }> = [
  ...Object.keys(modules).map((name) => ({ name, input: name.startsWith('dist/') ? '1 2 3 4 5 6 7 8\n' : 'hello inline' })),
  { name: 'echo', input: 'x'.repeat(70_000), limits: { outputBytes: 1000 } }, // output_limit
  { name: 'echo', input: 'y'.repeat(300), limits: { fuel: 50 } }, // budget under the slice: fuel_exhausted kept
  { name: 'slow', input: '', limits: { fuel: SLICE * 4 } }, // budget over the slice, job over it too: the worker decides
  { name: 'slow', input: '', limits: { fuel: 1000 } }, // budget under the slice, job over it
  { name: 'flood', input: '', limits: { outputBytes: 200_000 } },
  { name: 'clocks', input: '', limits: { deterministic: false } },
  { name: 'fail', input: '', limits: { stderrBytes: 5 } },
  { name: 'echo', input: 'mem', limits: { memoryMiB: 1 / 32 } }, // needs a page more than the cap: memory_limit
  { name: 'growBig', input: '', limits: { memoryMiB: 8 } }, // refused under its own cap: memory_limit
]

const request = (c: (typeof cases)[number], i: number): RunRequest => ({
  jobId: `job-${i}`,
  module: modules[c.name]!.sha256,
  input: enc(c.input),
  limits: { ...base, ...c.limits },
})

/** An outcome without its timing, which no two runs share. */
const comparable = (o: RunOutcome) => {
  const { durationMs: _, ...rest } = o
  return o.status === 'ok' ? { ...rest, output: Buffer.from(o.output).toString('hex') } : rest
}

let workers: WorkerPool
let inlined: WorkerPool
test.before(async () => {
  workers = createWorkerPool({ size: 1 })
  inlined = createWorkerPool({ size: 1, inlineFuel: SLICE })
  for (const m of Object.values(modules)) {
    await workers.load(m.sha256, m.bytes)
    await inlined.load(m.sha256, m.bytes)
  }
})
test.after(async () => {
  await workers.close()
  await inlined.close()
})

test('the same outcome (output, fuel, error code, message, stderr) with and without the inline try, for every test module', async () => {
  for (const [i, c] of cases.entries()) {
    const truth = comparable(await workers.run(request(c, i)))
    const got = comparable(await inlined.run(request(c, i)))
    if (c.limits?.deterministic === false) {
      // real random and clock: compare the layout (errnos), not the values
      assert.is(got.status, truth.status, c.name)
      continue
    }
    assert.equal(got, truth, `${c.name} (${JSON.stringify(c.limits ?? {})})`)
  }
})

test('which tries are kept: success, exits, caps and a whole budget; the rest runs again on a worker', () => {
  const slice = new InlineSlice(SLICE)
  for (const m of Object.values(modules)) {
    try {
      slice.load(m.sha256, compileJob(m.sha256, m.bytes).job)
    } catch {
      // not a preview1 command (none here): would never reach the slice
    }
  }
  const kept = (name: string, input: string, limits: Partial<RunLimits> = {}) =>
    slice.tryRun(request({ name, input, limits }, 0))?.status ?? 'worker'
  assert.is(kept('echo', 'hi'), 'ok')
  assert.is(kept('fail', ''), 'error', 'a non-zero exit is the module\'s own')
  assert.is(kept('echo', 'x'.repeat(5000), { outputBytes: 10 }), 'error', 'output_limit')
  assert.is(kept('echo', 'y'.repeat(300), { fuel: 50 }), 'error', 'fuel_exhausted within a whole budget')
  assert.is(kept('trap', ''), 'worker', 'a trap is answered by a worker')
  assert.is(kept('stackOverflow', ''), 'worker', 'a stack overflow depends on the thread')
  assert.is(kept('echo', 'mem', { memoryMiB: 1 / 32 }), 'worker', 'memory faults go to a worker')
  assert.is(kept('echo', 'short', { timeoutMs: 10 }), 'worker', 'a deadline too short for a try')
  const before = slice.tried
  assert.is(kept('bigMemory', ''), 'worker', 'a module declaring a big memory is not tried')
  assert.is(slice.tried, before, 'not even started')
  assert.is(kept('growBig', ''), 'worker', 'a grow refused only under the try\'s lowered memory cap: the worker answers')
  assert.is(kept('growBig', '', { memoryMiB: 8 }), 'worker', 'refused under the job\'s own cap: a memory fault, to a worker as before')
  assert.is(kept('dist/echo', 'from assemblyscript'), 'ok')
  assert.is(kept('dist/sha256', 'abc'), 'ok')
  // slow work: out of the slice, to a worker; after INLINE_MISS_LIMIT such in a row the module is no longer tried
  const tried = slice.tried
  for (let i = 0; i < INLINE_MISS_LIMIT + 3; i++) assert.is(kept('slow', ''), 'worker')
  assert.is(slice.tried - tried, INLINE_MISS_LIMIT)
  assert.is(kept('echo', 'still tried'), 'ok', 'other modules are still tried')
})

test('a try runs under a lowered memory cap: a big grow is not made on this thread, the worker answers', () => {
  const slice = new InlineSlice(1_000_000) // a slice the 300-page grow's fuel fits in
  const m = modules.growBig!
  slice.load(m.sha256, compileJob(m.sha256, m.bytes).job)
  assert.is(slice.tryRun(request({ name: 'growBig', input: '' }, 0)), undefined, 'refused under the try\'s cap only: not kept')
  const small = slice.tryRun(request({ name: 'growBig', input: '', limits: { memoryMiB: 32 } }, 1))
  assert.is(small, undefined, 'over the lowered cap still')
  // a cap at most the lowered one is the job's own: a success there is kept
  const e = modules.echo!
  slice.load(e.sha256, compileJob(e.sha256, e.bytes).job)
  assert.is(slice.tryRun(request({ name: 'echo', input: 'x', limits: { memoryMiB: 16 } }, 2))?.status, 'ok')
})

test('a kept try costs no worker: the pool answers tiny jobs without posting them', async () => {
  const pool = createWorkerPool({ size: 1, inlineFuel: SLICE, warm: 0 })
  const echo = modules.echo!
  await pool.load(echo.sha256, echo.bytes)
  const outs = await Promise.all([1, 2, 3].map((i) => pool.run(request({ name: 'echo', input: `n${i}` }, i))))
  assert.equal(outs.map((o) => (o.status === 'ok' ? new TextDecoder().decode(o.output) : o.code)), ['n1', 'n2', 'n3'])
  assert.equal([pool.stats().workers, pool.stats().completed], [0, 3], 'no worker was even started')
  // slow work still reaches a worker, with its deadline enforced from outside
  const spin = fx.spin()
  await pool.load(spin.sha256, spin.bytes)
  const o = await pool.run({ jobId: 's', module: spin.sha256, input: enc(''), limits: { ...base, timeoutMs: 150 } })
  assert.equal(o.status === 'error' ? o.code : 'ok', 'deadline')
  await pool.close()
})

test.run()
