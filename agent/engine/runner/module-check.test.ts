import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { JobError } from '../../../protocol/errors.ts'
import * as fx from '../../../test/fixtures/engine/modules.ts'
import { checkModule } from './module-check.ts'

function refusal(fixture: fx.Fixture): JobError {
  try {
    checkModule(fixture.sha256, fixture.module)
  } catch (err) {
    if (err instanceof JobError) return err
    throw err
  }
  throw new Error('expected checkModule to refuse the module')
}

test('a WASI command passes and lists its imports', () => {
  const echo = fx.echo()
  assert.equal(checkModule(echo.sha256, echo.module), {
    sha256: echo.sha256,
    kind: 'wasi-command',
    imports: ['wasi_snapshot_preview1.fd_read', 'wasi_snapshot_preview1.fd_write'],
  })
  const all = fx.linksEverything()
  assert.is(checkModule(all.sha256, all.module).imports.length, 46)
})

test('no _start: not_a_command', () => {
  const e = refusal(fx.noStart())
  assert.equal([e.code, e.shortMessage], ['not_a_command', 'module does not export a _start function'])
})

test('no exported memory: not_a_command', () => {
  const e = refusal(fx.compileWat('(module (func (export "_start")))'))
  assert.is(e.code, 'not_a_command')
  assert.match(e.shortMessage, /memory/)
})

test('an import the host does not provide: link_error naming it', () => {
  const e = refusal(fx.hostImport())
  assert.is(e.code, 'link_error')
  assert.match(e.shortMessage, 'env.host_fn')
  const unknownWasi = refusal(
    fx.compileWat(`(module (import "wasi_snapshot_preview1" "fd_teleport" (func (param i32) (result i32)))
      (memory (export "memory") 1) (func (export "_start")))`),
  )
  assert.match(unknownWasi.shortMessage, 'wasi_snapshot_preview1.fd_teleport')
  const memoryImport = refusal(
    fx.compileWat(`(module (import "env" "memory" (memory 1)) (export "memory" (memory 0)) (func (export "_start")))`),
  )
  assert.is(memoryImport.code, 'link_error')
  assert.match(memoryImport.shortMessage, 'memory env.memory')
})

test('the fogmesh namespace and fogmesh_ exports belong to the job host: link_error', () => {
  const hook = refusal(
    fx.compileWat(`(module (import "fogmesh" "out_of_fuel" (func)) (memory (export "memory") 1) (func (export "_start")))`),
  )
  assert.equal([hook.code, hook.shortMessage], ['link_error', 'module imports fogmesh.out_of_fuel: the "fogmesh" namespace is reserved for the job host'])
  const memory = refusal(fx.compileWat(`(module (import "fogmesh" "memory" (memory 1)) (export "memory" (memory 0)) (func (export "_start")))`))
  assert.is(memory.code, 'link_error')
  const exported = refusal(
    fx.compileWat(`(module (memory (export "memory") 1) (global (export "fogmesh_fuel") i64 (i64.const 0)) (func (export "_start")))`),
  )
  assert.equal([exported.code, exported.shortMessage], ['link_error', 'module exports fogmesh_fuel: names starting with fogmesh_ are reserved'])
})

test('checks the module as built, not as the host rewrites it', async () => {
  // the rewrite imports fogmesh.memory and exports fogmesh_fuel: checking it instead of the original would refuse every job
  const { prepareModule } = await import('../instrument/meter.ts')
  const echo = fx.echo()
  const rewritten = new WebAssembly.Module(prepareModule(echo.bytes).bytes)
  assert.is(checkModule(echo.sha256, echo.module).imports.length, 2)
  assert.throws(() => checkModule(echo.sha256, rewritten), (e: JobError) => e.code === 'link_error')
})

test.run()
