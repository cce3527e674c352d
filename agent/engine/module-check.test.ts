import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { JobError } from '../../protocol/errors.ts'
import * as fx from '../../test/fixtures/engine/modules.ts'
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

test.run()
