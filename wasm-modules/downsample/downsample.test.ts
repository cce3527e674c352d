// Known-answer tests for wasm-modules/downsample, run under Node's own WASI host.
//   node --import tsx wasm-modules/downsample/downsample.test.ts
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ModuleUnderTest } from '../node-wasi.ts'
import { mulberry32 } from '../../test/support/rng.ts' // deterministic, so failures reproduce

interface Buckets {
  count: number
  every: number
  mode: string
  values: number[]
  partial: boolean
}
interface Lttb {
  count: number
  target: number
  mode: 'lttb'
  points: [number, number][]
}

const mod = new ModuleUnderTest('downsample')
test.before(() => mod.build())

const run = (input: string | Uint8Array) => mod.run(input)

async function downsample(input: string): Promise<string> {
  const r = await run(input)
  assert.is(r.stderr.toString(), '', 'no stderr on success')
  assert.is(r.exitCode, 0, 'exit code 0')
  const text = r.stdout.toString()
  assert.ok(text.endsWith('}\n') && text.indexOf('\n') === text.length - 1, `one line of JSON: ${text.slice(0, 80)}`)
  return text
}

async function failure(input: string): Promise<string> {
  const r = await run(input)
  assert.is(r.exitCode, 1, `exit code 1 for ${JSON.stringify(input.slice(0, 60))}`)
  assert.is(r.stdout.length, 0, 'nothing on stdout')
  const message = r.stderr.toString()
  assert.ok(message.startsWith('downsample: ') && message.endsWith('\n'), `stderr message: ${JSON.stringify(message)}`)
  return message
}

/** Fixed buckets in JavaScript (mean: sum in order, then divide). */
function bucketsRef(xs: readonly number[], every: number, mode: 'mean' | 'min' | 'max' | 'last'): Buckets {
  const values: number[] = []
  for (let start = 0; start < xs.length; start += every) {
    const b = xs.slice(start, start + every)
    if (mode === 'mean') values.push(b.reduce((s, v) => s + v, 0) / b.length)
    else if (mode === 'min') values.push(b.reduce((m, v) => (v < m ? v : m)))
    else if (mode === 'max') values.push(b.reduce((m, v) => (v > m ? v : m)))
    else values.push(b[b.length - 1] as number)
  }
  return { count: xs.length, every, mode, values, partial: xs.length % every !== 0 }
}

/**
 * Largest-Triangle-Three-Buckets, transcribed from Sveinn Steinarsson's reference JavaScript
 * implementation (github.com/sveinn-steinarsson/flot-downsample), with x = the index.
 */
function lttbRef(xs: readonly number[], threshold: number): Lttb {
  const data = xs.map((y, x) => [x, y] as [number, number])
  const dataLength = data.length
  if (threshold >= dataLength) return { count: dataLength, target: threshold, mode: 'lttb', points: data }
  const sampled: [number, number][] = []
  let sampledIndex = 0
  const every = (dataLength - 2) / (threshold - 2)
  let a = 0
  let maxAreaPoint: [number, number] = data[0]!
  let maxArea: number
  let area: number
  let nextA = 0
  sampled[sampledIndex++] = data[a]!
  for (let i = 0; i < threshold - 2; i++) {
    let avgX = 0
    let avgY = 0
    let avgRangeStart = Math.floor((i + 1) * every) + 1
    let avgRangeEnd = Math.floor((i + 2) * every) + 1
    avgRangeEnd = avgRangeEnd < dataLength ? avgRangeEnd : dataLength
    const avgRangeLength = avgRangeEnd - avgRangeStart
    for (; avgRangeStart < avgRangeEnd; avgRangeStart++) {
      avgX += data[avgRangeStart]![0] * 1
      avgY += data[avgRangeStart]![1] * 1
    }
    avgX /= avgRangeLength
    avgY /= avgRangeLength
    let rangeOffs = Math.floor((i + 0) * every) + 1
    const rangeTo = Math.floor((i + 1) * every) + 1
    const pointAX = data[a]![0] * 1
    const pointAY = data[a]![1] * 1
    maxArea = area = -1
    for (; rangeOffs < rangeTo; rangeOffs++) {
      area = Math.abs((pointAX - avgX) * (data[rangeOffs]![1] - pointAY) - (pointAX - data[rangeOffs]![0]) * (avgY - pointAY)) * 0.5
      if (area > maxArea) {
        maxArea = area
        maxAreaPoint = data[rangeOffs]!
        nextA = rangeOffs
      }
    }
    sampled[sampledIndex++] = maxAreaPoint
    a = nextA
  }
  sampled[sampledIndex++] = data[dataLength - 1]!
  return { count: dataLength, target: threshold, mode: 'lttb', points: sampled }
}

const json = (x: Buckets | Lttb): string => JSON.stringify(x) + '\n'

test('ABI: only wasi_snapshot_preview1 imports; exports _start and memory', () => {
  for (const imp of WebAssembly.Module.imports(mod.module)) assert.is(imp.module, 'wasi_snapshot_preview1', imp.name)
  const exports = WebAssembly.Module.exports(mod.module).map((e) => `${e.kind}:${e.name}`).sort()
  assert.equal(exports, ['function:_start', 'memory:memory'])
  assert.ok(mod.bytes.length < 16 * 1024, `small module (${mod.bytes.length} bytes)`)
})

test('mean (the default): hand-computed, partial last bucket included and flagged', async () => {
  // 1..10 in buckets of 4: (1+2+3+4)/4, (5+6+7+8)/4, (9+10)/2
  assert.is(await downsample('every=4\n1 2 3 4 5 6 7 8 9 10'),
    '{"count":10,"every":4,"mode":"mean","values":[2.5,6.5,9.5],"partial":true}\n')
  assert.is(await downsample('every=5 mode=mean\n1 2 3 4 5 6 7 8 9 10'),
    '{"count":10,"every":5,"mode":"mean","values":[3,8],"partial":false}\n')
  // one bucket bigger than the input: a single partial bucket
  assert.is(await downsample('every=100\n21.5 22.1 21.9'),
    '{"count":3,"every":100,"mode":"mean","values":[21.833333333333332],"partial":true}\n')
  // every=1 keeps the series
  assert.is(await downsample('every=1\n-1.5,0,1e21,5e-7'),
    '{"count":4,"every":1,"mode":"mean","values":[-1.5,0,1e+21,5e-7],"partial":false}\n')
  // (0.1 + 0.2 + 0.3) / 3 in doubles, printed shortest
  assert.is(await downsample('every=3\n0.1 0.2 0.3'),
    '{"count":3,"every":3,"mode":"mean","values":[0.20000000000000004],"partial":false}\n')
})

test('min, max, last: hand-computed', async () => {
  const series = '3 1 4 1 5 9 2 6 5 3 5'
  assert.is(await downsample(`mode=min every=3\n${series}`), '{"count":11,"every":3,"mode":"min","values":[1,1,2,3],"partial":true}\n')
  assert.is(await downsample(`mode=max every=3\n${series}`), '{"count":11,"every":3,"mode":"max","values":[4,9,6,5],"partial":true}\n')
  assert.is(await downsample(`mode=last every=3\n${series}`), '{"count":11,"every":3,"mode":"last","values":[4,9,5,5],"partial":true}\n')
  assert.is(await downsample('every=2\nmode=max\n-3 -7 -0.5 -0.25'), '{"count":4,"every":2,"mode":"max","values":[-3,-0.25],"partial":false}\n')
})

test('LTTB: hand-computed', async () => {
  // 10 points, target 4: bucket size (10 - 2) / (4 - 2) = 4.
  // Bucket 1 = indices 1..4, next average = indices 5..8: (6.5, 4). Triangle areas with
  // (0, 1): i=1 1.75, i=2 23, i=3 2, i=4 3.75 -> index 2 (value 9).
  // Bucket 2 = indices 5..8, next average = the last point (9, 4). Areas with (2, 9):
  // i=5 31, i=6 4, i=7 2, i=8 8 -> index 5 (value -2). Then the last point.
  assert.is(await downsample('mode=lttb target=4\n1 2 9 3 4 -2 5 6 7 4'),
    '{"count":10,"target":4,"mode":"lttb","points":[[0,1],[2,9],[5,-2],[9,4]]}\n')
  // target 2: the first and the last
  assert.is(await downsample('mode=lttb target=2\n5 1 9 2'), '{"count":4,"target":2,"mode":"lttb","points":[[0,5],[3,2]]}\n')
  // target >= count: everything
  assert.is(await downsample('mode=lttb target=3\n5 1 9'), '{"count":3,"target":3,"mode":"lttb","points":[[0,5],[1,1],[2,9]]}\n')
  assert.is(await downsample('target=50 mode=lttb\n7'), '{"count":1,"target":50,"mode":"lttb","points":[[0,7]]}\n')
  // a flat line with one peak: LTTB keeps the peak
  const flat = Array.from({ length: 100 }, (_, i) => (i === 57 ? 10 : 0))
  const r = JSON.parse(await downsample('mode=lttb target=5\n' + flat.join(' '))) as Lttb
  assert.ok(r.points.some(([i, v]) => i === 57 && v === 10), JSON.stringify(r.points))
})

test('random data: exactly the JavaScript references', async () => {
  const random = mulberry32(77)
  for (const n of [1, 2, 3, 17, 100, 1001]) {
    const xs = Array.from({ length: n }, () => Math.round((random() * 40 - 10) * 1000) / 1000)
    const body = xs.join('\n')
    for (const every of [1, 2, 3, 7, 10, 64]) {
      for (const mode of ['mean', 'min', 'max', 'last'] as const) {
        assert.is(await downsample(`every=${every} mode=${mode}\n${body}`), json(bucketsRef(xs, every, mode)), `${n} ${every} ${mode}`)
      }
    }
    for (const target of [2, 3, 4, 10, 99, 500]) {
      const text = await downsample(`mode=lttb target=${target}\n${body}`)
      const expected = lttbRef(xs, target)
      assert.is(text, json(expected), `lttb ${n} -> ${target}`)
      const r = JSON.parse(text) as Lttb
      assert.is(r.points.length, Math.min(n, target))
      assert.is(r.points[0]?.[0], 0)
      assert.is(r.points[r.points.length - 1]?.[0], n - 1)
      for (let k = 1; k < r.points.length; k++) assert.ok(r.points[k]![0] > r.points[k - 1]![0], 'increasing indices')
    }
  }
})

test('bad input: exit code 1 and a message', async () => {
  assert.match(await failure('every=2\n1\n2\nabc'), /not a number "abc" \(reading 3, line 4\)/)
  assert.match(await failure('every=2\n1e999'), /number out of range "1e999"/)
  assert.match(await failure('every=2\n1 every=3'), /not a number "every=3"/)
  assert.match(await failure('1 2 3'), /every=N \(the bucket size\) is required/)
  assert.match(await failure('mode=max\n1 2 3'), /every=N .* is required/)
  for (const bad of ['every=0', 'every=', 'every=-1', 'every=1.5', 'every=x']) assert.match(await failure(`${bad}\n1`), /expected every=N/, bad)
  for (const bad of ['target=0', 'target=1', 'target=x']) assert.match(await failure(`mode=lttb ${bad}\n1`), /expected target=M/, bad)
  assert.match(await failure('mode=avg every=2\n1'), /unknown mode .* "mode=avg"/)
  assert.match(await failure('mode=lttb\n1 2'), /mode=lttb needs target=M/)
  assert.match(await failure('mode=lttb target=3 every=2\n1 2'), /every= is not used with mode=lttb/)
  assert.match(await failure('every=2 target=3\n1 2'), /target= is only used with mode=lttb/)
  assert.match(await failure('every=2 every=3\n1'), /every= is given twice/)
  assert.match(await failure('mode=min mode=max every=2\n1'), /mode= is given twice/)
  assert.match(await failure('every=2 size=3\n1'), /unknown setting .* "size=3"/)
  assert.match(await failure('every=2\n'), /no readings in input/)
  assert.match(await failure('every=2\n1e308 1e308'), /not finite/)
})

test('fast: 100,000 readings', async () => {
  const random = mulberry32(3)
  const xs = Array.from({ length: 100_000 }, () => Math.round(random() * 1e6) / 1000)
  const body = xs.join('\n')
  const expectedMean = json(bucketsRef(xs, 60, 'mean'))
  const expectedLttb = json(lttbRef(xs, 1000))
  let started = performance.now()
  const mean = await downsample(`every=60\n${body}`)
  const ms1 = performance.now() - started
  started = performance.now()
  const lttb = await downsample(`mode=lttb target=1000\n${body}`)
  const ms2 = performance.now() - started
  assert.is(mean, expectedMean)
  assert.is(lttb, expectedLttb)
  console.log(`    downsample, 100,000 readings: mean ${ms1.toFixed(1)} ms, lttb ${ms2.toFixed(1)} ms under node:wasi`)
  assert.ok(ms1 < 2000 && ms2 < 2000)
})

test.run()
