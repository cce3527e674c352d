// Proves the C route of the job ABI: builds sum.c with clang + wasi-libc (build.sh) and runs
// it under node:wasi and under the mesh's own WASI host. Skipped when clang or wasi-libc is
// not installed (it is not an npm dependency; see wasm-modules/README.md) — except under CI,
// where .ci/run installs them and their absence fails.
//   node --import tsx wasm-modules/c-example/sum.test.ts
import { execFileSync } from 'node:child_process'
import { existsSync, readFileSync } from 'node:fs'
import { fileURLToPath } from 'node:url'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { JobRunner } from '../../agent/engine/runner/job-runner.ts'
import { runWithNodeWasi } from '../node-wasi.ts'

const here = fileURLToPath(new URL('.', import.meta.url))

function toolchainAvailable(): boolean {
  try {
    execFileSync('clang', ['--version'], { stdio: 'ignore' })
  } catch {
    return false
  }
  const sysroot = process.env['WASI_SYSROOT']
  return sysroot ? existsSync(sysroot) : existsSync('/usr/lib/wasm32-wasi/libc.a')
}

const available = toolchainAvailable()
if (!available && process.env['CI']) {
  test('the C toolchain is installed (required under CI)', () => {
    assert.unreachable('clang + wasi-libc missing: .ci/run must apt-get install clang lld wasi-libc libclang-rt-dev-wasm32')
  })
}
const it = available ? test : test.skip
let wasm: WebAssembly.Module | null = null

async function sum(input: string): Promise<{ code: number; out: string; err: string }> {
  if (!wasm) {
    execFileSync('sh', [`${here}build.sh`], { stdio: 'pipe' })
    wasm = await WebAssembly.compile(readFileSync(`${here}sum.wasm`))
  }
  const r = await runWithNodeWasi(wasm, input)
  return { code: r.exitCode, out: r.stdout.toString(), err: r.stderr.toString() }
}

it('builds to a WASI preview1 command: wasi_snapshot_preview1 imports only, _start + memory', async () => {
  await sum('1')
  if (!wasm) throw new Error('not built')
  for (const imp of WebAssembly.Module.imports(wasm)) assert.is(imp.module, 'wasi_snapshot_preview1', imp.name)
  const exports = WebAssembly.Module.exports(wasm).map((e) => e.name)
  assert.ok(exports.includes('_start') && exports.includes('memory'), exports.join(','))
})

it('sums numbers from stdin', async () => {
  assert.equal(await sum('1.5, 2\n3'), { code: 0, out: '6.5\n', err: '' })
  assert.equal(await sum('0.1 0.2'), { code: 0, out: '0.30000000000000004\n', err: '' })
  const xs = Array.from({ length: 20_000 }, (_, i) => (i % 100) / 4) // > 64 KiB: several reads
  assert.equal(await sum(xs.join('\n')), { code: 0, out: `${xs.reduce((a, b) => a + b, 0)}\n`, err: '' })
})

it('bad input: exit code 1 with a message', async () => {
  for (const input of ['', 'abc', '1 nan', '0x10', '1e999']) {
    const r = await sum(input)
    assert.is(r.code, 1, input)
    assert.is(r.out, '')
    assert.match(r.err, /^sum: /)
  }
})

it('runs the same under the mesh\'s own WASI host (what an agent does)', async () => {
  await sum('1')
  const runner = new JobRunner()
  runner.load('sum', wasm!)
  const caps = { outputBytes: 1 << 20, stderrBytes: 4096 }
  const ok = runner.run('sum', Buffer.from('1.5, 2\n3'), caps)
  assert.ok(ok.ok)
  if (ok.ok) assert.is(Buffer.from(ok.output).toString(), '6.5\n')
  const bad = runner.run('sum', Buffer.from('abc'), caps)
  assert.not.ok(bad.ok)
  if (!bad.ok) {
    assert.is(bad.code, 'exit_nonzero')
    assert.match(bad.stderr, /^sum: /)
  }
})

test.run()
