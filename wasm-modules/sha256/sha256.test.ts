// Known-answer tests for wasm-modules/sha256 (SHA-256 of stdin), run under node:wasi.
//   node --import tsx wasm-modules/sha256/sha256.test.ts
import { createHash } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ModuleUnderTest } from '../node-wasi.ts'
import { mulberry32 } from '../../test/support/rng.ts' // deterministic, so failures reproduce

const mod = new ModuleUnderTest('sha256')
test.before(() => mod.build())

const run = (input: string | Uint8Array) => mod.run(input)

/** The module's digest of `input`, checked to be exactly 64 lowercase hex digits and "\n". */
async function digest(input: string | Uint8Array): Promise<string> {
  const r = await run(input)
  assert.is(r.exitCode, 0, r.stderr.toString())
  assert.is(r.stderr.length, 0)
  const text = r.stdout.toString('latin1')
  assert.match(text, /^[0-9a-f]{64}\n$/)
  return text.slice(0, 64)
}

const nodeSha256 = (b: string | Uint8Array): string => createHash('sha256').update(b).digest('hex')

test('ABI: only wasi_snapshot_preview1 imports; exports _start and memory', () => {
  const imports = WebAssembly.Module.imports(mod.module).map((i) => `${i.module}.${i.name}`).sort()
  assert.equal(imports, ['wasi_snapshot_preview1.fd_read', 'wasi_snapshot_preview1.fd_write', 'wasi_snapshot_preview1.proc_exit'])
  const exports = WebAssembly.Module.exports(mod.module).map((e) => `${e.kind}:${e.name}`).sort()
  assert.equal(exports, ['function:_start', 'memory:memory'])
  assert.ok(mod.bytes.length < 8 * 1024, `small module (${mod.bytes.length} bytes)`)
})

test('NIST FIPS 180-4 / CSRC example vectors', async () => {
  assert.is(await digest(''), 'e3b0c44298fc1c149afbf4c8996fb92427ae41e4649b934ca495991b7852b855')
  assert.is(await digest('abc'), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
  assert.is(await digest('abcdbcdecdefdefgefghfghighijhijkijkljklmklmnlmnomnopnopq'),
    '248d6a61d20638b8e5c026930c3e6039a33ce45964ff2167f6ecedd419db06c1')
  assert.is(await digest('abcdefghbcdefghicdefghijdefghijkefghijklfghijklmghijklmnhijklmnoijklmnopjklmnopqklmnopqrlmnopqrsmnopqrstnopqrstu'),
    'cf5b16a778af8380036ce59e7b0492370b249b11e8f07a51afac45037afee9d1')
  const r = await run('a'.repeat(1_000_000))
  assert.is(r.stdout.toString(), 'cdc76e5c9914fb9281a1c7e284d73e67f1809a48a497200e046d39ccc7112cd0\n')
  assert.ok((r.calls['fd_read'] ?? 0) >= 17, `1,000,000 bytes take several 64 KiB reads (${r.calls['fd_read']})`)
})

test('1,000 random inputs of 0..5000 bytes (with the padding edges) match node:crypto', async () => {
  const random = mulberry32(256)
  // padding edges: 55 bytes fits the length in the same block, 56..63 need a second one;
  // 64 is exactly one block; and the same one and two blocks further on
  const edges = [0, 1, 55, 56, 57, 63, 64, 65, 119, 120, 127, 128, 129, 183, 184, 191, 192, 4096, 5000]
  const lengths = [...edges, ...Array.from({ length: 1000 - edges.length }, () => Math.floor(random() * 5001))]
  for (const len of lengths) {
    const input = new Uint8Array(len)
    for (let i = 0; i < len; i++) input[i] = Math.floor(random() * 256)
    assert.is(await digest(input), nodeSha256(input), `length ${len}`)
  }
})

test('inputs that cross read boundaries (64 KiB chunks) at every block offset', async () => {
  const random = mulberry32(9)
  for (const len of [65535, 65536, 65537, 65536 + 55, 65536 + 56, 131072 - 1, 131072 + 63, 200_003]) {
    const input = new Uint8Array(len)
    for (let i = 0; i < len; i++) input[i] = Math.floor(random() * 256)
    assert.is(await digest(input), nodeSha256(input), `length ${len}`)
  }
})

test('streams: 16 MiB in 64 KiB reads, in the same memory as 1 MiB', async () => {
  // The module's speed is a benchmark's business (printed here, not asserted: a loaded machine
  // runs it any number of times slower); what the test holds it to is that it streams.
  const mib = new Uint8Array(1 << 20).map((_, i) => (i * 31 + (i >> 8)) & 255)
  await digest(mib) // warm up
  const runs = 5
  let started = performance.now()
  for (let i = 0; i < runs; i++) assert.is(await digest(mib), nodeSha256(mib))
  const perMiB = (performance.now() - started) / runs
  const small = await run(mib)
  const big = new Uint8Array(16 << 20).map((_, i) => (i * 7) & 255)
  started = performance.now()
  const r = await run(big)
  const ms16 = performance.now() - started
  assert.is(r.exitCode, 0, r.stderr.toString())
  assert.is(r.stdout.toString('latin1'), `${nodeSha256(big)}\n`)
  console.log(`    sha256 under node:wasi (incl. temp files): 1 MiB ${perMiB.toFixed(1)} ms, 16 MiB ${ms16.toFixed(0)} ms (${(16 / (ms16 / 1000)).toFixed(0)} MiB/s)`)
  assert.ok((r.calls['fd_read'] ?? 0) >= 256, `16 MiB take at least 256 reads of 64 KiB (${r.calls['fd_read']})`)
  assert.is(r.memoryBytes, small.memoryBytes, `memory for 16 MiB (${r.memoryBytes} bytes) is that for 1 MiB`)
  assert.ok(r.memoryBytes <= 4 * 65536, `a few pages of memory (${r.memoryBytes} bytes)`)
})

test.run()
