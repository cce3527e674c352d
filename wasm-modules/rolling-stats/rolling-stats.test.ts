// Known-answer tests for wasm-modules/rolling-stats, run under Node's own WASI host.
//   node --import tsx wasm-modules/rolling-stats/rolling-stats.test.ts
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ModuleUnderTest } from '../node-wasi.ts'
import { mulberry32 } from '../../test/support/rng.ts' // deterministic, so failures reproduce

interface Stats {
  count: number
  mean: number
  min: number
  max: number
  stddev: number
  last: number
}

const mod = new ModuleUnderTest('rolling-stats')
test.before(() => mod.build())

const run = (input: string | Uint8Array) => mod.run(input)

async function stats(input: string): Promise<{ stats: Stats; text: string }> {
  const r = await run(input)
  assert.is(r.stderr.toString(), '', 'no stderr on success')
  assert.is(r.exitCode, 0, 'exit code 0')
  const text = r.stdout.toString()
  assert.ok(text.endsWith('}\n'), `one line of JSON: ${JSON.stringify(text)}`)
  assert.is(text.indexOf('\n'), text.length - 1, 'exactly one line')
  return { stats: JSON.parse(text) as Stats, text }
}

async function failure(input: string | Uint8Array): Promise<string> {
  const r = await run(input)
  assert.is(r.exitCode, 1, `exit code 1 for ${JSON.stringify(String(input).slice(0, 60))}`)
  assert.is(r.stdout.length, 0, 'nothing on stdout')
  const message = r.stderr.toString()
  assert.ok(message.startsWith('rolling-stats: '), `stderr message: ${JSON.stringify(message)}`)
  assert.ok(message.endsWith('\n'))
  return message
}

/** The same algorithm in JavaScript (Welford, population stddev): identical IEEE operations. */
function welford(xs: readonly number[]): Stats {
  let mean = 0
  let m2 = 0
  let min = Infinity
  let max = -Infinity
  xs.forEach((x, i) => {
    const delta = x - mean
    mean += delta / (i + 1)
    m2 += delta * (x - mean)
    if (x < min) min = x
    if (x > max) max = x
  })
  return { count: xs.length, mean, min, max, stddev: Math.sqrt(m2 / xs.length), last: xs[xs.length - 1] ?? NaN }
}

/** Independent check: two-pass mean and population variance. */
function twoPass(xs: readonly number[]): { mean: number; stddev: number } {
  const mean = xs.reduce((a, b) => a + b, 0) / xs.length
  const variance = xs.reduce((a, x) => a + (x - mean) ** 2, 0) / xs.length
  return { mean, stddev: Math.sqrt(variance) }
}

/** JSON exactly as JavaScript would print these statistics. */
function expectedJson(s: Stats): string {
  return JSON.stringify({ count: s.count, mean: s.mean, min: s.min, max: s.max, stddev: s.stddev, last: s.last }) + '\n'
}

function close(actual: number, expected: number, what: string): void {
  const tol = 1e-12 * Math.max(1, Math.abs(expected))
  assert.ok(Math.abs(actual - expected) <= tol, `${what}: ${actual} vs ${expected}`)
}

test('ABI: only wasi_snapshot_preview1 imports; exports _start and memory', () => {
  const imports = WebAssembly.Module.imports(mod.module)
  assert.ok(imports.length > 0)
  for (const imp of imports) assert.is(imp.module, 'wasi_snapshot_preview1', `${imp.module}.${imp.name}`)
  const exports = WebAssembly.Module.exports(mod.module).map((e) => `${e.kind}:${e.name}`).sort()
  assert.equal(exports, ['function:_start', 'memory:memory'])
  assert.ok(mod.bytes.length < 16 * 1024, `small module (${mod.bytes.length} bytes)`)
})

test('the example from the spec', async () => {
  const { stats: s, text } = await stats('21.5\n22.1\n21.9')
  assert.is(s.count, 3)
  assert.is(s.mean, 21.833333333333332)
  assert.is(s.min, 21.5)
  assert.is(s.max, 22.1)
  assert.is(s.last, 21.9)
  // population stddev, independently: sqrt(sum((x - mean)^2) / n)
  close(s.stddev, twoPass([21.5, 22.1, 21.9]).stddev, 'stddev')
  close(s.stddev, 0.2494438257849294, 'stddev (hand value sqrt(0.18667/3))')
  assert.is(text, expectedJson(welford([21.5, 22.1, 21.9])))
  assert.is(
    text,
    '{"count":3,"mean":21.833333333333332,"min":21.5,"max":22.1,"stddev":0.24944382578492988,"last":21.9}\n',
  )
})

test('literal known answers', async () => {
  const a = await stats('1\n2\n3\n4\n5\n6\n7\n8\n9\n10\n')
  assert.equal(a.stats, { count: 10, mean: 5.5, min: 1, max: 10, stddev: 2.8722813232690143, last: 10 })
  // the textbook example: mean 5, population stddev exactly 2
  const b = await stats('2 4 4 4 5 5 7 9')
  assert.equal(b.stats, { count: 8, mean: 5, min: 2, max: 9, stddev: 2, last: 9 })
  assert.is(b.text, '{"count":8,"mean":5,"min":2,"max":9,"stddev":2,"last":9}\n')
  const c = await stats('42')
  assert.equal(c.stats, { count: 1, mean: 42, min: 42, max: 42, stddev: 0, last: 42 })
  const d = await stats('-3.5, -1.5')
  assert.equal(d.stats, { count: 2, mean: -2.5, min: -3.5, max: -1.5, stddev: 1, last: -1.5 })
  const e = await stats('0.1 0.2')
  assert.is(e.text, expectedJson(welford([0.1, 0.2])))
  assert.is(e.stats.mean, 0.15000000000000002) // printed like JSON.stringify, not "0.15000000000000005"
})

test('window=N uses only the last N readings', async () => {
  const a = await stats('window=3\n1,2,3,4,5')
  assert.equal(a.stats, { count: 3, mean: 4, min: 3, max: 5, stddev: Math.sqrt(2 / 3), last: 5 })
  const b = await stats('window=1\n7\n8\n9')
  assert.equal(b.stats, { count: 1, mean: 9, min: 9, max: 9, stddev: 0, last: 9 })
  const c = await stats('window=100\n1\n2\n3') // larger than the data: all readings
  assert.equal(c.stats, { count: 3, mean: 2, min: 1, max: 3, stddev: Math.sqrt(2 / 3), last: 3 })
  const d = await stats('window=2\r\n10\r\n20\r\n30\r\n')
  assert.equal(d.stats, { count: 2, mean: 25, min: 20, max: 30, stddev: 5, last: 30 })
  const e = await stats('\n  window=4  \n5 6 7 8 9 10')
  assert.equal(e.stats, welford([7, 8, 9, 10]))
  const f = await stats('window=99999999999999999999\n1 2') // huge N: no limit
  assert.is(f.stats.count, 2)
})

test('separators: newlines, commas, spaces, tabs, CRLF, runs of them', async () => {
  const ref = await stats('1\n2\n3\n4\n5\n6')
  const mixed = await stats('1,2 3\t4\r\n5\n\n, ,6 ,\n')
  assert.is(mixed.text, ref.text)
  const bom = await stats('\uFEFF1 2 3 4 5 6')
  assert.is(bom.text, ref.text)
})

test('number syntax: signs, exponents, leading/trailing dots', async () => {
  const tokens = ['+1', '-2.5', '.5', '5.', '1e3', '1E-3', '-0', '0.000001', '1.5e+2', '007']
  const { stats: s, text } = await stats(tokens.join(' '))
  const values = tokens.map(Number)
  assert.is(text, expectedJson(welford(values)))
  assert.is(s.min, -2.5)
  assert.is(s.max, 1000)
})

test('parsing is correctly rounded (matches JavaScript Number())', async () => {
  const hard = [
    '0.1', '21.9', '9007199254740993', '798432592.260326317e34', '2.2250738585072011e-308',
    '2.4703282292062328e-324', '1.7976931348623157e308', '123456789012345678901234567890',
    '0.' + '0'.repeat(300) + '17976931348623157', '1' + '0'.repeat(400) + 'e-390',
    '4.9406564584124654e-324', '1e-400', '8.98846567431158e307', '3.141592653589793238462643383279',
  ]
  const random = mulberry32(7)
  for (let i = 0; i < 60; i++) {
    let digits = ''
    const n = 1 + Math.floor(random() * 30)
    for (let j = 0; j < n; j++) digits += Math.floor(random() * 10)
    const dot = Math.floor(random() * (n + 1))
    const exp = Math.floor(random() * 600) - 300
    hard.push(`${random() < 0.5 ? '-' : ''}${digits.slice(0, dot)}.${digits.slice(dot)}e${exp}`)
  }
  for (const token of hard) {
    const expected = Number(token)
    const { stats: s, text } = await stats(token)
    assert.ok(s.last === expected, `${token}: ${s.last} vs ${expected}`)
    assert.is(text, expectedJson(welford([expected])), token)
  }
})

test('random data: exactly the JavaScript reference, close to the two-pass values', async () => {
  const random = mulberry32(42)
  const cases: number[][] = [
    Array.from({ length: 100 }, () => Math.round((20 + random() * 5) * 100) / 100), // sensor-like
    Array.from({ length: 100 }, () => (random() - 0.5) * 1e6),
    Array.from({ length: 50 }, () => random() * 1e-9),
    Array.from({ length: 50 }, () => (random() - 0.5) * 10 ** Math.floor(random() * 40 - 20)),
    Array.from({ length: 30 }, () => 1e9 + random()), // large offset: Welford stays stable
  ]
  for (const xs of cases) {
    const input = xs.map((x) => String(x)).join('\n')
    const { stats: s, text } = await stats(input)
    assert.is(text, expectedJson(welford(xs)))
    const ref = twoPass(xs)
    close(s.mean, ref.mean, 'mean')
    const spread = Math.max(...xs.map(Math.abs))
    assert.ok(Math.abs(s.stddev - ref.stddev) <= 1e-9 * spread, `stddev ${s.stddev} vs ${ref.stddev}`)
    assert.is(s.min, Math.min(...xs))
    assert.is(s.max, Math.max(...xs))
  }
})

test('large input: 10,000 readings over several fd_read calls', async () => {
  const random = mulberry32(1234)
  const xs = Array.from({ length: 10_000 }, () => Math.round((random() * 200 - 100) * 1e6) / 1e6)
  const input = xs.join('\n') + '\n'
  assert.ok(input.length > 64 * 1024, `input is ${input.length} bytes, more than one 64 KiB read`)
  const r = await mod.run(input)
  assert.is(r.exitCode, 0, r.stderr.toString())
  assert.is(r.stdout.toString(), expectedJson(welford(xs)))
  assert.ok((r.calls['fd_read'] ?? 0) >= 3, `fd_read called ${r.calls['fd_read']} times (data reads + the EOF read)`)
  const w = await stats('window=100\n' + input)
  assert.is(w.text, expectedJson(welford(xs.slice(-100))))
})

test('bad token: exit code 1 and a message naming it', async () => {
  const m = await failure('1\n2\nabc\n4')
  assert.match(m, /not a number "abc"/)
  assert.match(m, /reading 3, line 3/)
  for (const bad of ['NaN', 'Infinity', '-inf', '0x10', '1_000', '1e', '--1', '1.2.3', '12abc', '½']) {
    const msg = await failure(`1 ${bad} 2`)
    assert.match(msg, /not a number/, bad)
  }
  assert.match(await failure('5\n1e999'), /number out of range "1e999" \(reading 2, line 2\)/)
  assert.match(await failure(new Uint8Array([0x31, 0x0a, 0xff, 0x00, 0x32])), /not a number "\?\?2"/)
})

test('no readings: exit code 1', async () => {
  assert.match(await failure(''), /no readings/)
  assert.match(await failure(' \n\t\r\n,,'), /no readings/)
  assert.match(await failure('window=5\n'), /no readings/)
})

test('bad window header: exit code 1', async () => {
  for (const input of ['window=0\n1', 'window=\n1', 'window=abc\n1', 'window=3 4\n1', 'window=-1\n1', 'window=2.5\n1']) {
    assert.match(await failure(input), /invalid header/, input)
  }
  // not at the start: then it is just a bad token
  assert.match(await failure('1\nwindow=3\n2'), /not a number "window=3"/)
})

test('results that overflow are refused, never printed as NaN/Infinity', async () => {
  assert.match(await failure('1e308 -1e308'), /not finite/)
  assert.match(await failure('1e200 -1e200 1e200'), /not finite/)
})

test('fast enough for a job every 100 ms: 100 readings', async () => {
  const random = mulberry32(99)
  const input = Array.from({ length: 100 }, () => (20 + random() * 3).toFixed(2)).join('\n')
  const runs = 50
  const started = performance.now()
  for (let i = 0; i < runs; i++) {
    const r = await run(input)
    assert.is(r.exitCode, 0)
  }
  const perRun = (performance.now() - started) / runs
  console.log(`    rolling-stats, 100 readings: ${perRun.toFixed(2)} ms per run under node:wasi (incl. temp files)`)
  assert.ok(perRun < 50, `${perRun} ms per run`)
})

test.run()
