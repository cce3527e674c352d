// Components under the same fuel and memory limits as preview1 jobs: every core module
// metered (one shared budget per run), the memory made by the host under the job's cap.
// Needs @bytecodealliance/jco: skipped without it, except under CI, where its absence fails.
//   node --import tsx agent/engine/component/component-limits.test.ts
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import * as fx from '../../../test/fixtures/engine/modules.ts'
import { METERING_VERSION } from '../instrument/costs.ts'
import { JobRunner } from '../runner/job-runner.ts'
import type { RunnerResult } from '../runner/runner-result.ts'
import { ComponentRunner } from './component-runner.ts'
import type { RunnerLimits } from '../runner/runner-result.ts'
import type { ComponentRunnerOptions } from './component-runner.ts'
import { jcoAvailable } from './jco.ts'
import { forgetComponent, prepareComponent } from './prepare.ts'
import { commandComponent, echoJob, echoJobWithMemory, growJob, spinJob, type TestComponent } from '../../../test/support/components.ts'

const available = await jcoAvailable()
if (!available && process.env['CI']) {
  test('jco is installed (required under CI)', () => {
    assert.unreachable('@bytecodealliance/jco is missing: it is a dependency of this package')
  })
}
const it = available ? test : test.skip

const root = fileURLToPath(new URL('../../..', import.meta.url))
const caps = { outputBytes: 1 << 22, stderrBytes: 4096 }
const enc = (s: string) => new TextEncoder().encode(s)
const text = (b: Uint8Array) => new TextDecoder().decode(b)
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

function expectOk(r: RunnerResult): Extract<RunnerResult, { ok: true }> {
  if (!r.ok) throw new Error(`expected ok, got ${r.code}: ${r.message} ${r.stderr}`)
  return r
}

function expectError(r: RunnerResult): Extract<RunnerResult, { ok: false }> {
  if (r.ok) throw new Error(`expected an error, got output ${JSON.stringify(text(r.output).slice(0, 80))} (fuel ${r.fuel})`)
  return r
}

async function loaded(c: TestComponent | Promise<TestComponent>, options: ComponentRunnerOptions = {}) {
  const component = await c
  const runner = new ComponentRunner(options)
  await runner.load(component.sha256, component.bytes)
  return {
    runner,
    sha256: component.sha256,
    run: (input: string | Uint8Array = '', limits: RunnerLimits = {}) =>
      runner.run(component.sha256, typeof input === 'string' ? enc(input) : input, caps, limits),
  }
}

/** The csv-to-json component, built from source if out of date (as its own tests do). */
let hello: TestComponent | undefined
function helloComponent(): TestComponent {
  if (hello === undefined) {
    execFileSync(process.execPath, [...process.execArgv, 'bin/build-components.js', 'hello-component'], { cwd: root, stdio: 'pipe' })
    const bytes = new Uint8Array(readFileSync(`${root}wasm-modules/dist/hello-component.wasm`))
    hello = { bytes, sha256: sha(bytes) }
  }
  return hello
}

const CSV = 'sensor,temp,unit\nkitchen,21.5,C\nhall,-0.25e1,C\n"porch, north",7,"C"\n'

// ---- fuel ---------------------------------------------------------------------------------------

it('an infinite loop in a job-world component: fuel_exhausted with fuel = budget', async () => {
  const { run } = await loaded(spinJob())
  for (const budget of [0, 1, 1000, 20_000_000]) {
    const t = performance.now()
    const r = expectError(run('x', { fuel: budget }))
    const ms = performance.now() - t
    assert.equal([r.code, r.message, r.fuel], ['fuel_exhausted', `fuel limit of ${budget} exhausted`, budget])
    if (budget === 20_000_000) console.log(`    20M fuel of an empty loop: ${ms.toFixed(0)} ms`)
  }
})

it('hello-component: the same non-zero fuel on 20 runs and in two runners; outputs as unmetered', async () => {
  const c = helloComponent()
  const a = await loaded(c)
  const b = await loaded(c)
  const plain = await loaded(c, { meter: false })
  const inputs = [CSV, 'a,b\n1,2\n', 'id,name,id\n', 'x'.repeat(5000), 'n\n' + '1\n'.repeat(3000), '']
  const fuels: number[] = []
  for (const input of inputs) {
    const reference = plain.run(input)
    assert.is(reference.fuel, 0, 'meter: false is not metered')
    const first = a.run(input)
    assert.ok(first.fuel > 0, `fuel of ${JSON.stringify(input.slice(0, 20))}`)
    fuels.push(first.fuel)
    for (let i = 0; i < 20; i++) {
      for (const r of [a.run(input), b.run(input)]) {
        assert.equal([r.ok, r.fuel], [first.ok, first.fuel])
        if (r.ok && reference.ok) assert.equal(r.output, reference.output)
        if (!r.ok && !reference.ok) assert.equal([r.code, r.message, r.stderr], [reference.code, reference.message, reference.stderr])
        assert.is(r.ok, reference.ok)
      }
    }
  }
  assert.is(text(expectOk(a.run(CSV)).output), '[{"sensor":"kitchen","temp":21.5,"unit":"C"},{"sensor":"hall","temp":-0.25e1,"unit":"C"},{"sensor":"porch, north","temp":7,"unit":"C"}]\n')
  assert.is(new Set(fuels).size, fuels.length, 'other inputs, other fuel')
  console.log(`    hello-component fuel: ${fuels.join(', ')}`)
})

it('the budget is exact: fuel used is enough, one less is fuel_exhausted (job world and a 4-instance command)', async () => {
  const h = await loaded(helloComponent())
  const used = expectOk(h.run(CSV)).fuel
  assert.is(expectOk(h.run(CSV, { fuel: used })).fuel, used)
  assert.equal(Object.values(pick(expectError(h.run(CSV, { fuel: used - 1 })))), ['fuel_exhausted', used - 1])
  // main module, preview1 adapter, jco's two shims: four core instances, one counter
  const e = await loaded(commandComponent(fx.echo().bytes))
  const input = 'through the adapter\n'.repeat(50)
  const r = expectOk(e.run(input))
  assert.is(text(r.output), input)
  assert.is(expectOk(e.run(input, { fuel: r.fuel })).fuel, r.fuel)
  assert.equal(Object.values(pick(expectError(e.run(input, { fuel: r.fuel - 1 })))), ['fuel_exhausted', r.fuel - 1])
  // the same core as a preview1 job costs less: the adapter's work is metered too
  const p1 = new JobRunner()
  const echo = fx.echo()
  p1.load(echo.sha256, echo.bytes)
  const direct = p1.run(echo.sha256, enc(input), caps)
  assert.ok(direct.ok && direct.fuel > 0 && r.fuel > direct.fuel, `component ${r.fuel}, preview1 ${direct.fuel}`)
  console.log(`    echo of ${input.length} bytes: ${r.fuel} fuel as a component, ${direct.fuel} as a preview1 job`)
})

const pick = (r: Extract<RunnerResult, { ok: false }>) => ({ code: r.code, fuel: r.fuel })

it('a WASI command component is metered: deterministic fuel, an infinite loop is fuel_exhausted', async () => {
  const e = await loaded(commandComponent(fx.echo().bytes))
  const fuels = new Set<number>()
  for (let i = 0; i < 20; i++) fuels.add(expectOk(e.run('hello\n')).fuel)
  assert.is(fuels.size, 1)
  const [one] = fuels
  assert.ok((one ?? 0) > 0)
  // more input, more fuel: the loop runs longer and the host moves more bytes
  assert.ok(expectOk(e.run('hello\n'.repeat(1000))).fuel > (one ?? 0))

  const spin = await loaded(commandComponent(fx.spin().bytes))
  const t = performance.now()
  const r = expectError(spin.run('', { fuel: 10_000_000 }))
  assert.equal([r.code, r.fuel], ['fuel_exhausted', 10_000_000])
  assert.ok(performance.now() - t < 5000)

  // deterministic clock and random: the same fuel for the same job id (random bytes are charged)
  const rc = await loaded(commandComponent(fx.randomAndClocks().bytes))
  const det = (jobId: string) => rc.run('', { deterministic: true, jobId })
  assert.is(expectOk(det('job-1')).fuel, expectOk(det('job-1')).fuel)
})

it('fuel is reported on every outcome: err, trap, output_limit', async () => {
  const fail = await loaded(commandComponent(fx.failWithStderr().bytes))
  const f = expectError(fail.run())
  assert.equal([f.code, f.fuel > 0], ['exit_nonzero', true])
  const flood = await loaded(commandComponent(fx.flood().bytes))
  const o = expectError(flood.runner.run(flood.sha256, enc(''), { outputBytes: 100_000, stderrBytes: 10 }))
  assert.equal([o.code, o.fuel > 0], ['output_limit', true])
  const trap = await loaded(commandComponent(fx.trap().bytes))
  const t = expectError(trap.run())
  assert.equal([t.code, t.fuel > 0], ['trap', true])
  const h = await loaded(helloComponent())
  const e = expectError(h.run('id,name,id\n'))
  assert.equal([e.code, e.fuel > 0], ['exit_nonzero', true])
})

// ---- memory -------------------------------------------------------------------------------------

it('a job-world component growing its memory in a loop: memory_limit at the cap', async () => {
  const { run } = await loaded(growJob())
  const r = expectError(run('', { memoryMiB: 4 }))
  assert.equal([r.code, r.message], ['memory_limit', 'memory limit of 4 MiB reached (then: unreachable)'])
  // it got 1 + 3 * 16 pages before the fourth grow was refused: 1024 fuel per page added
  assert.ok(r.fuel > 48 * 1024 && r.fuel < 49 * 1024, `fuel ${r.fuel}`)
  // a job that handles the refusal is fine: the cap is where growth stops
  const graceful = await loaded(growJob(true))
  for (const memoryMiB of [1, 4, 10.5]) {
    const ok = expectOk(graceful.run('', { memoryMiB }))
    assert.is(new DataView(ok.output.buffer).getUint32(0, true), 1 + 16 * Math.floor((memoryMiB * 16 - 1) / 16), `${memoryMiB} MiB`)
  }
  // with the default cap (256 MiB)
  assert.is(new DataView(expectOk(graceful.run('')).output.buffer).getUint32(0, true), 4081)
})

it('an input too big for the cap: the guest cannot allocate it (jco lowers it through cabi_realloc): memory_limit', async () => {
  const { run } = await loaded(echoJob())
  const big = new Uint8Array(3 << 20)
  assert.is(expectOk(run(big, { memoryMiB: 8 })).output.length, big.length)
  const r = expectError(run(big, { memoryMiB: 2 }))
  assert.equal([r.code, r.message], ['memory_limit', 'memory limit of 2 MiB reached (then: unreachable)'])
})

it('a huge initial memory: memory_limit before any core instance exists', async () => {
  let instances = 0
  const { run } = await loaded(echoJobWithMemory(40_000), {
    instantiateCore: (module, imports) => {
      instances++
      return new WebAssembly.Instance(module, imports)
    },
  })
  const t = performance.now()
  const r = expectError(run('x'))
  assert.equal([r.code, r.message, r.fuel], ['memory_limit', 'module needs 2500 MiB of memory to start; the limit is 256 MiB', 0])
  assert.ok(performance.now() - t < 100)
  assert.is(instances, 0)
  const small = expectError(run('x', { memoryMiB: 2 }))
  assert.is(small.message, 'module needs 2500 MiB of memory to start; the limit is 2 MiB')
  // exactly at the cap is fine
  const fits = await loaded(echoJobWithMemory(32))
  assert.is(text(expectOk(fits.run('fits', { memoryMiB: 2 })).output), 'fits')
  assert.is(expectError(fits.run('fits', { memoryMiB: 1.9 })).code, 'memory_limit')
})

it('a command component (memory defined by the main module, used by the adapter): growth capped, memory_limit', async () => {
  const grows = fx.compileWat(`(module
    (memory (export "memory") 1)
    (func (export "_start")
      (loop $more (br_if $more (i32.ne (memory.grow (i32.const 16)) (i32.const -1))))
      unreachable))`)
  const { run } = await loaded(commandComponent(grows.bytes))
  const r = expectError(run('', { memoryMiB: 3 }))
  assert.equal([r.code, r.message], ['memory_limit', 'memory limit of 3 MiB reached (then: unreachable)'])
  // and the echo command still works under a small cap: the adapter lives in the same memory
  const e = await loaded(commandComponent(fx.echo().bytes))
  assert.is(text(expectOk(e.run('small', { memoryMiB: 1 })).output), 'small')
})

// ---- the prepared form, options, refusals ---------------------------------------------------

it('every core module is metered: the prepared form says how, survives a structured clone, runs the same', async () => {
  const c = await commandComponent(fx.echo().bytes)
  const prepared = await prepareComponent(c.sha256, c.bytes)
  const metering = prepared.metering
  if (metering === undefined) throw new Error('expected a metered component')
  assert.is(metering.version, METERING_VERSION)
  assert.equal(
    metering.cores.map(([name, core]) => [name, core.memoryFrom]),
    [
      ['component.core.wasm', 'host'],
      ['component.core2.wasm', 'module'],
      ['component.core3.wasm', 'none'],
      ['component.core4.wasm', 'none'],
    ],
  )
  for (const [, module] of prepared.cores) {
    const fogmesh = WebAssembly.Module.imports(module).filter((i) => i.module === 'fogmesh').map((i) => i.name)
    assert.ok(fogmesh.includes('fuel') && fogmesh.includes('out_of_fuel'), fogmesh.join(' '))
  }
  const runner = new ComponentRunner()
  runner.add(structuredClone(prepared))
  const here = await loaded(c)
  const a = expectOk(runner.run(c.sha256, enc('cloned'), caps))
  assert.equal([text(a.output), a.fuel], ['cloned', expectOk(here.run('cloned')).fuel])
  assert.is((await prepareComponent(c.sha256, c.bytes, { meter: false })).metering, undefined)
})

it('meter: false runs as before: fuel 0, limits not applied', async () => {
  const { run } = await loaded(echoJob(), { meter: false })
  const big = new Uint8Array(3 << 20)
  const r = expectOk(run(big, { memoryMiB: 1, fuel: 10 }))
  assert.equal([r.fuel, r.output.length], [0, big.length], 'took 3 MiB under a 1 MiB cap it was not given')
})

it('limits are checked like preview1 jobs: invalid_field', async () => {
  const { run } = await loaded(echoJob())
  assert.is(expectError(run('', { fuel: -1 })).code, 'invalid_field')
  assert.is(expectError(run('', { fuel: 1.5 })).code, 'invalid_field')
  assert.is(expectError(run('', { memoryMiB: 0 })).code, 'invalid_field')
})

it('a component with two memory-defining core modules is refused at load (one cap per job)', async () => {
  const c = await commandComponent(fx.echo().bytes)
  forgetComponent(c.sha256)
  const runner = new ComponentRunner({
    // give jco's first shim (no memory of its own) a memory
    rewriteCore: (bytes, core) => (core.name === 'component.core3.wasm' ? withMemory(bytes) : bytes),
  })
  try {
    await runner.load(c.sha256, c.bytes)
    assert.unreachable('expected a refusal')
  } catch (err) {
    const e = err as { code?: string; message?: string }
    assert.equal([e.code, e.message], ['invalid_module', 'component has 2 core modules that define a memory; the job host caps one'])
  }
})

it('a run whose cores would get the capped memory twice fails with invalid_module (checked per instance)', async () => {
  // a doctored prepared form: jco's first shim marked as defining the memory too
  const c = await commandComponent(fx.echo().bytes)
  const prepared = await prepareComponent(c.sha256, c.bytes)
  const metering = prepared.metering
  if (metering === undefined) throw new Error('expected a metered component')
  metering.cores = metering.cores.map(([name, core]) => [name, name === 'component.core3.wasm' ? { ...core, memoryFrom: 'host' } : core])
  const runner = new ComponentRunner()
  runner.add(prepared)
  const r = expectError(runner.run(c.sha256, enc('x'), caps))
  assert.equal([r.code, r.message], ['invalid_module', 'component instantiates its memory-defining core module twice; the job host caps one memory'])
})

/** Adds `(memory 1)` to a core module that has none (the section goes before the first that follows it). */
function withMemory(bytes: Uint8Array): Uint8Array {
  const after = new Set([13, 6, 7, 8, 9, 12, 10, 11]) // tag, global, export, start, element, data count, code, data
  let at = 8
  while (at < bytes.length) {
    const id = bytes[at] as number
    if (after.has(id)) break
    let size = 0
    let shift = 0
    let p = at + 1
    for (;;) {
      const b = bytes[p++] as number
      size |= (b & 0x7f) << shift
      shift += 7
      if ((b & 0x80) === 0) break
    }
    at = p + size
  }
  const section = [0x05, 0x03, 0x01, 0x00, 0x01]
  return Uint8Array.from([...bytes.subarray(0, at), ...section, ...bytes.subarray(at)])
}

test.run()
