// Tests for wasm-modules/echo (stdin copied to stdout), run under Node's own WASI host.
//   node --import tsx wasm-modules/echo/echo.test.ts
import { createHash, randomBytes } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ModuleUnderTest } from '../node-wasi.ts'

const mod = new ModuleUnderTest('echo')
test.before(() => mod.build())

async function roundTrip(input: Uint8Array): Promise<Record<string, number>> {
  const r = await mod.run(input)
  assert.is(r.exitCode, 0, r.stderr.toString())
  assert.is(r.stderr.length, 0)
  assert.is(r.stdout.length, input.length, 'same length')
  const hash = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
  assert.is(hash(r.stdout), hash(input), 'same bytes')
  return r.calls
}

test('ABI and size: wasi_snapshot_preview1 imports only, _start + memory, under 1 KB', () => {
  for (const imp of WebAssembly.Module.imports(mod.module)) assert.is(imp.module, 'wasi_snapshot_preview1', imp.name)
  const exports = WebAssembly.Module.exports(mod.module).map((e) => `${e.kind}:${e.name}`).sort()
  assert.equal(exports, ['function:_start', 'memory:memory'])
  assert.ok(mod.bytes.length < 1024, `${mod.bytes.length} bytes`)
})

test('text in = text out', async () => {
  await roundTrip(Buffer.from('hello, fogmesh\n'))
  await roundTrip(Buffer.from('21.5\n22.1\n21.9'))
  await roundTrip(Buffer.from('snowman \u2603, emoji \u{1F600}, no trailing newline'))
})

test('empty input gives empty output', async () => {
  const calls = await roundTrip(new Uint8Array(0))
  assert.is(calls['fd_write'] ?? 0, 0)
})

test('binary: every byte value, NULs and invalid UTF-8', async () => {
  const all = new Uint8Array(256 * 4)
  for (let i = 0; i < all.length; i++) all[i] = i & 0xff
  await roundTrip(all)
  await roundTrip(new Uint8Array([0, 0, 0, 0xff, 0xfe, 0xc3, 0x28, 0x0a, 0x0d]))
})

test('1 MiB of random bytes, streamed in 64 KiB chunks', async () => {
  const input = randomBytes(1024 * 1024)
  const calls = await roundTrip(input)
  assert.ok((calls['fd_read'] ?? 0) >= 17, `fd_read x${calls['fd_read']}: 16 chunks + EOF`)
  assert.ok((calls['fd_write'] ?? 0) >= 16, `fd_write x${calls['fd_write']}`)
})

test('odd sizes around the chunk boundary', async () => {
  for (const size of [1, 65535, 65536, 65537, 3 * 65536 + 7]) {
    await roundTrip(randomBytes(size))
  }
})

test.run()
