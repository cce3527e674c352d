// Known-answer tests for wasm-modules/zscore, run under Node's own WASI host.
//   node --import tsx wasm-modules/zscore/zscore.test.ts
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ModuleUnderTest } from '../node-wasi.ts'
import { mulberry32 } from '../../test/support/rng.ts' // deterministic, so failures reproduce

interface Anomaly {
  index: number
  value: number
  z: number
}
interface Result {
  count: number
  window: number
  threshold: number
  anomalies: Anomaly[]
}

const mod = new ModuleUnderTest('zscore')
test.before(() => mod.build())

const run = (input: string | Uint8Array) => mod.run(input)

async function zscore(input: string): Promise<{ result: Result; text: string }> {
  const r = await run(input)
  assert.is(r.stderr.toString(), '', 'no stderr on success')
  assert.is(r.exitCode, 0, 'exit code 0')
  const text = r.stdout.toString()
  assert.ok(text.endsWith('}\n') && text.indexOf('\n') === text.length - 1, `one line of JSON: ${text.slice(0, 80)}`)
  return { result: JSON.parse(text) as Result, text }
}

async function failure(input: string | Uint8Array): Promise<string> {
  const r = await run(input)
  assert.is(r.exitCode, 1, `exit code 1 for ${JSON.stringify(String(input).slice(0, 60))}`)
  assert.is(r.stdout.length, 0, 'nothing on stdout')
  const message = r.stderr.toString()
  assert.ok(message.startsWith('zscore: ') && message.endsWith('\n'), `stderr message: ${JSON.stringify(message)}`)
  return message
}

/**
 * The module's algorithm in JavaScript, operation for operation (so the doubles are
 * identical): statistics of x - k (k = the window's first reading at each recomputation),
 * Welford add/remove sliding update, exact two-pass recomputation every W readings,
 * constant windows (stddev 0) skipped.
 */
function reference(xs: readonly number[], w = 30, threshold = 3): Result {
  const anomalies: Anomaly[] = []
  const x = (i: number): number => xs[i] as number
  if (xs.length > w) {
    let k = 0
    let mean = 0
    let m2 = 0
    const recompute = (start: number): void => {
      k = x(start)
      let s = 0
      for (let j = start; j < start + w; j++) s += x(j) - k
      const mu = s / w
      let q = 0
      for (let j = start; j < start + w; j++) {
        const d = (x(j) - k) - mu
        q += d * d
      }
      mean = mu
      m2 = q
    }
    let run = 1
    for (let j = 1; j < w; j++) run = x(j) === x(j - 1) ? run + 1 : 1
    for (let i = w; i < xs.length; i++) {
      if ((i - w) % w === 0) recompute(i - w)
      else {
        const xo = x(i - w - 1) - k
        const xn = x(i - 1) - k
        const newMean = mean + (xn - xo) / w
        m2 += (xn - xo) * (xn - newMean + xo - mean)
        mean = newMean
      }
      if (i > w) run = x(i - 1) === x(i - 2) ? run + 1 : 1
      if (run >= w || m2 <= 0) continue
      const z = (x(i) - k - mean) / Math.sqrt(m2 / w)
      if (Math.abs(z) > threshold) anomalies.push({ index: i, value: x(i), z })
    }
  }
  return { count: xs.length, window: w, threshold, anomalies }
}

/** Independent check: z of reading i from a fresh two-pass over its window. */
function twoPassZ(xs: readonly number[], i: number, w: number): number {
  const win = xs.slice(i - w, i)
  const mean = win.reduce((a, b) => a + b, 0) / w
  const sd = Math.sqrt(win.reduce((a, v) => a + (v - mean) ** 2, 0) / w)
  return ((xs[i] as number) - mean) / sd
}

const json = (r: Result): string => JSON.stringify(r) + '\n'

/** 10, 12, 10, 12, ...: every even-sized window has mean 11 and stddev exactly 1. */
const zigzag = (n: number, lo = 10, hi = 12): number[] => Array.from({ length: n }, (_, i) => (i % 2 ? hi : lo))

test('ABI: only wasi_snapshot_preview1 imports; exports _start and memory', () => {
  for (const imp of WebAssembly.Module.imports(mod.module)) assert.is(imp.module, 'wasi_snapshot_preview1', imp.name)
  const exports = WebAssembly.Module.exports(mod.module).map((e) => `${e.kind}:${e.name}`).sort()
  assert.equal(exports, ['function:_start', 'memory:memory'])
  assert.ok(mod.bytes.length < 16 * 1024, `small module (${mod.bytes.length} bytes)`)
})

test('one spike in a steady series is flagged with its exact z', async () => {
  // window 10 12 10 12: mean 11, population stddev 1, so z(20) = (20 - 11) / 1 = 9
  const { text } = await zscore('window=4\n10 12 10 12 20 10 12 10 12')
  assert.is(text, '{"count":9,"window":4,"threshold":3,"anomalies":[{"index":4,"value":20,"z":9}]}\n')
  // a dip: z(2) = -9
  const dip = await zscore('window=4\n10 12 10 12 2 10 12 10 12')
  assert.equal(dip.result.anomalies, [{ index: 4, value: 2, z: -9 }])
  // default window (30) and threshold (3): 100/102 zigzag, a spike of 120 at index 37, so
  // z = (120 - 101) / 1 = 19; the windows that contain the spike have a large stddev, so
  // nothing after it is flagged
  const xs = zigzag(150, 100, 102)
  xs[37] = 120
  const big = await zscore(xs.join('\n'))
  assert.is(big.text, '{"count":150,"window":30,"threshold":3,"anomalies":[{"index":37,"value":120,"z":19}]}\n')
})

test('a series without anomalies', async () => {
  const { text } = await zscore('window=4\n' + zigzag(100).join(','))
  assert.is(text, '{"count":100,"window":4,"threshold":3,"anomalies":[]}\n')
  // a smooth sine: every point is close to its window's spread
  const sine = Array.from({ length: 300 }, (_, i) => Math.round(Math.sin(i / 5) * 1000) / 100)
  const r = await zscore(sine.join('\n'))
  assert.equal(r.result.anomalies, [])
  assert.is(r.text, json(reference(sine)))
})

test('window larger than the input, or equal to it: no anomalies', async () => {
  assert.is((await zscore('1 2 3 1000')).text, '{"count":4,"window":30,"threshold":3,"anomalies":[]}\n')
  assert.is((await zscore('window=4\n1 2 3 1000')).text, '{"count":4,"window":4,"threshold":3,"anomalies":[]}\n')
  assert.is((await zscore('window=4\n1 2 3 1 1000')).result.anomalies.length, 1)
})

test('threshold: |z| must be strictly greater; settings in any order, on one line or several', async () => {
  // z(14) = (14 - 11) / 1 = 3 exactly
  assert.equal((await zscore('window=4\n10 12 10 12 14')).result.anomalies, [])
  const r = await zscore('threshold=2.5 window=4\n10 12 10 12 14')
  assert.equal(r.result.anomalies, [{ index: 4, value: 14, z: 3 }])
  assert.is(r.result.threshold, 2.5)
  const r2 = await zscore('window=4\nthreshold=2.5\n10 12 10 12 14')
  assert.is(r2.text, r.text)
  const r3 = await zscore('\uFEFFthreshold=2.5,window=4\r\n10\r\n12\r\n10\r\n12\r\n14\r\n')
  assert.is(r3.text, r.text)
})

test('stddev 0: z is not computed for the reading after a constant window', async () => {
  // 30 equal readings then a jump: the window's stddev is 0, so no z and no anomaly
  const flat = Array.from({ length: 30 }, () => 5)
  assert.equal((await zscore([...flat, 9].join(' '))).result.anomalies, [])
  // once the window holds the 9 its stddev is > 0 and readings are scored again
  const r = await zscore([...flat, 9, 5, 5, 100].join(' '))
  assert.is(r.result.anomalies.length, 1)
  assert.is(r.result.anomalies[0]?.index, 33)
  assert.is(r.text, json(reference([...flat, 9, 5, 5, 100])))
  // a window that becomes constant by sliding: the sliding update leaves M2 = 4.2e-17 there
  // (not 0), which would give z = 1.9e8 for the 0.9; the module knows the window is constant
  const xs = [0.1, 0.1, 0.7, 0.3, 0.3, 0.3, 0.3, 0.9]
  assert.equal((await zscore('window=4\n' + xs.join(' '))).result.anomalies, [])
})

test('random data: exactly the JavaScript reference, and close to a fresh two-pass z', async () => {
  const random = mulberry32(2024)
  for (const [w, n] of [[30, 1000], [5, 400], [2, 200], [64, 700], [7, 500]] as const) {
    const xs = Array.from({ length: n }, () => Math.round((20 + random() * 2) * 100) / 100)
    // some spikes and dips, at random places
    for (let k = 0; k < n / 50; k++) xs[Math.floor(random() * n)] = Math.round((random() < 0.5 ? 10 : 30) * 100) / 100
    const expected = reference(xs, w, 3)
    const { text, result } = await zscore(`window=${w}\n${xs.join('\n')}`)
    assert.is(text, json(expected), `window ${w}`)
    assert.ok(result.anomalies.length > 0, `window ${w}: some anomalies`)
    for (const a of result.anomalies) {
      const z = twoPassZ(xs, a.index, w)
      assert.ok(Math.abs(a.z - z) <= 1e-9 * Math.abs(z), `index ${a.index}: ${a.z} vs two-pass ${z}`)
    }
  }
  // large offset: the sliding update stays accurate (recomputed every window)
  const off = Array.from({ length: 2000 }, (_, i) => 1e9 + (i % 2) + (i === 1500 ? 50 : 0))
  const r = await zscore(off.join(' '))
  assert.equal(r.result.anomalies.map((a) => a.index), [1500])
  assert.ok(Math.abs((r.result.anomalies[0]?.z ?? 0) - twoPassZ(off, 1500, 30)) < 1e-6)
})

test('bad token: exit code 1 and a message naming it', async () => {
  const m = await failure('1\n2\nabc\n4')
  assert.match(m, /not a number "abc" \(reading 3, line 3\)/)
  for (const bad of ['NaN', 'Infinity', '0x10', '1e', '1.2.3', '12abc']) assert.match(await failure(`1 ${bad} 2`), /not a number/, bad)
  assert.match(await failure('5\n1e999'), /number out of range "1e999" \(reading 2, line 2\)/)
  // a setting after the first reading is just a bad token
  assert.match(await failure('1\nwindow=3\n2'), /not a number "window=3"/)
})

test('bad settings and no readings: exit code 1', async () => {
  for (const input of ['window=1\n1', 'window=0\n1', 'window=\n1', 'window=abc\n1', 'window=-3\n1', 'window=2.5\n1']) {
    assert.match(await failure(input), /invalid setting: expected window=N/, input)
  }
  for (const input of ['threshold=0\n1', 'threshold=-1\n1', 'threshold=x\n1', 'threshold=\n1', 'threshold=1e999\n1']) {
    assert.match(await failure(input), /invalid setting: expected threshold=T/, input)
  }
  assert.match(await failure('window=3 window=4\n1'), /window= is given twice/)
  assert.match(await failure('threshold=3\nthreshold=4\n1'), /threshold= is given twice \(line 2\)/)
  assert.match(await failure('windows=3\n1'), /unknown setting .* "windows=3" \(line 1\)/)
  assert.match(await failure(''), /no readings in input/)
  assert.match(await failure('window=5\n'), /no readings in input/)
})

test('results that overflow are refused, never printed as NaN/Infinity', async () => {
  assert.match(await failure('window=2\n1e308 -1e308 1 2 3'), /not finite/)
})

test('100,000 readings match the reference', async () => {
  const random = mulberry32(5)
  const xs = Array.from({ length: 100_000 }, () => Math.round((random() * 10 + 20) * 1000) / 1000)
  const input = 'window=50\n' + xs.join('\n')
  const started = performance.now()
  const { text } = await zscore(input)
  const ms = performance.now() - started
  assert.is(text, json(reference(xs, 50, 3)))
  // printed, not asserted: a loaded machine runs it any number of times slower
  console.log(`    zscore, 100,000 readings (${(input.length / 1e6).toFixed(1)} MB): ${ms.toFixed(1)} ms under node:wasi`)
})

test.run()
