// Known-answer tests for wasm-modules/aqi (US EPA AQI, 2024 breakpoints), under node:wasi.
//   node --import tsx wasm-modules/aqi/aqi.test.ts
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ModuleUnderTest } from '../node-wasi.ts'

interface Reading {
  pm25?: number
  pm25_aqi?: number
  pm10?: number
  pm10_aqi?: number
  aqi: number
  category: string
  dominant: 'pm25' | 'pm10'
  beyond?: true
}
interface Result {
  count: number
  readings: Reading[]
  overall: { aqi: number; category: string; dominant: 'pm25' | 'pm10'; index: number; beyond?: true }
}

const mod = new ModuleUnderTest('aqi')
test.before(() => mod.build())

const run = (input: string | Uint8Array) => mod.run(input)

async function aqi(input: string): Promise<Result> {
  const r = await run(input)
  assert.is(r.stderr.toString(), '', 'no stderr on success')
  assert.is(r.exitCode, 0, 'exit code 0')
  const text = r.stdout.toString()
  assert.ok(text.endsWith('}\n') && text.indexOf('\n') === text.length - 1, `one line of JSON: ${text.slice(0, 80)}`)
  return JSON.parse(text) as Result
}

async function one(line: string): Promise<Reading> {
  const r = await aqi(line)
  assert.is(r.count, 1)
  const reading = r.readings[0]
  if (!reading) throw new Error('no reading')
  return reading
}

async function failure(input: string): Promise<string> {
  const r = await run(input)
  assert.is(r.exitCode, 1, `exit code 1 for ${JSON.stringify(input.slice(0, 60))}`)
  assert.is(r.stdout.length, 0, 'nothing on stdout')
  const message = r.stderr.toString()
  assert.ok(message.startsWith('aqi: ') && message.endsWith('\n'), `stderr message: ${JSON.stringify(message)}`)
  return message
}

// The 2024 table (EPA-454/B-24-002, Table 6), written out independently of the module, and a
// plain floating point version of the AQI equation for the sweeps.
const ROWS = [
  { iLo: 0, iHi: 50, pm25: [0.0, 9.0], pm10: [0, 54], name: 'Good' },
  { iLo: 51, iHi: 100, pm25: [9.1, 35.4], pm10: [55, 154], name: 'Moderate' },
  { iLo: 101, iHi: 150, pm25: [35.5, 55.4], pm10: [155, 254], name: 'Unhealthy for Sensitive Groups' },
  { iLo: 151, iHi: 200, pm25: [55.5, 125.4], pm10: [255, 354], name: 'Unhealthy' },
  { iLo: 201, iHi: 300, pm25: [125.5, 225.4], pm10: [355, 424], name: 'Very Unhealthy' },
  { iLo: 301, iHi: 500, pm25: [225.5, 325.4], pm10: [425, 604], name: 'Hazardous' },
] as const

/** AQI in floating point (not yet rounded) for a truncated concentration c. */
function floatAqi(c: number, pollutant: 'pm25' | 'pm10'): number {
  const row = ROWS.find((r) => c <= r[pollutant][1]) ?? ROWS[ROWS.length - 1]!
  const [cLo, cHi] = row[pollutant]
  return ((row.iHi - row.iLo) / (cHi - cLo)) * (c - cLo) + row.iLo
}

test('ABI: only wasi_snapshot_preview1 imports; exports _start and memory', () => {
  for (const imp of WebAssembly.Module.imports(mod.module)) assert.is(imp.module, 'wasi_snapshot_preview1', imp.name)
  const exports = WebAssembly.Module.exports(mod.module).map((e) => `${e.kind}:${e.name}`).sort()
  assert.equal(exports, ['function:_start', 'memory:memory'])
  assert.ok(mod.bytes.length < 16 * 1024, `small module (${mod.bytes.length} bytes)`)
})

test('PM2.5 breakpoint edges (2024 table: Good ends at 9.0)', async () => {
  const cases: [string, number, string][] = [
    ['0', 0, 'Good'], ['0.0', 0, 'Good'], ['9.0', 50, 'Good'], ['9.1', 51, 'Moderate'],
    ['35.4', 100, 'Moderate'], ['35.5', 101, 'Unhealthy for Sensitive Groups'],
    ['55.4', 150, 'Unhealthy for Sensitive Groups'], ['55.5', 151, 'Unhealthy'],
    ['125.4', 200, 'Unhealthy'], ['125.5', 201, 'Very Unhealthy'], ['225.4', 300, 'Very Unhealthy'],
    ['225.5', 301, 'Hazardous'], ['325.4', 500, 'Hazardous'],
    // the pre-2024 table gave 12.0 -> 50; now it is Moderate: 51 + 49 * 2.9 / 26.3 = 56.40 -> 56
    ['12.0', 56, 'Moderate'],
  ]
  const r = await aqi(cases.map(([c]) => `pm25=${c}`).join('\n'))
  assert.is(r.count, cases.length)
  cases.forEach(([c, expected, category], i) => {
    const reading = r.readings[i]
    assert.is(reading?.pm25_aqi, expected, `PM2.5 ${c}`)
    assert.is(reading?.aqi, expected, `PM2.5 ${c}`)
    assert.is(reading?.category, category, `PM2.5 ${c}`)
    assert.is(reading?.dominant, 'pm25')
    assert.is(reading?.pm10, undefined)
    assert.is(reading?.beyond, undefined)
  })
})

test('PM10 breakpoint edges', async () => {
  const cases: [string, number, string][] = [
    ['0', 0, 'Good'], ['54', 50, 'Good'], ['55', 51, 'Moderate'], ['154', 100, 'Moderate'],
    ['155', 101, 'Unhealthy for Sensitive Groups'], ['254', 150, 'Unhealthy for Sensitive Groups'],
    ['255', 151, 'Unhealthy'], ['354', 200, 'Unhealthy'], ['355', 201, 'Very Unhealthy'],
    ['424', 300, 'Very Unhealthy'], ['425', 301, 'Hazardous'], ['604', 500, 'Hazardous'],
    // 2024: one Hazardous row 425-604 -> 301-500, so 504 is 301 + 199 * 79 / 179 = 388.83 -> 389
    // (the old split rows gave 400)
    ['504', 389, 'Hazardous'],
  ]
  const r = await aqi(cases.map(([c]) => `pm10=${c}`).join('\n'))
  cases.forEach(([c, expected, category], i) => {
    const reading = r.readings[i]
    assert.is(reading?.pm10_aqi, expected, `PM10 ${c}`)
    assert.is(reading?.aqi, expected, `PM10 ${c}`)
    assert.is(reading?.category, category, `PM10 ${c}`)
    assert.is(reading?.dominant, 'pm10')
  })
})

test('truncation: PM2.5 to 0.1, PM10 to whole µg/m³ (never rounded up)', async () => {
  assert.equal(await one('pm25=9.09'), { pm25: 9, pm25_aqi: 50, aqi: 50, category: 'Good', dominant: 'pm25' })
  assert.is((await one('pm25=9.0999999999')).pm25_aqi, 50)
  assert.is((await one('pm25=35.49')).aqi, 100)
  assert.is((await one('pm25=12.34')).pm25, 12.3)
  assert.is((await one('pm10=54.9')).aqi, 50)
  assert.is((await one('pm10=154.99')).aqi, 100)
  assert.equal(await one('pm10=40.7'), { pm10: 40, pm10_aqi: 37, aqi: 37, category: 'Good', dominant: 'pm10' })
  // leading zeros, no integer part, no fraction digits
  assert.is((await one('pm25=009.10')).aqi, 51)
  assert.equal(await one('pm25=.5 pm10=5.'), { pm25: 0.5, pm25_aqi: 3, pm10: 5, pm10_aqi: 5, aqi: 5, category: 'Good', dominant: 'pm10' })
})

test('AQI = max of the sub-indices, with the dominant pollutant; pm25 wins a tie', async () => {
  // PM2.5 12.3: 51 + 49 * 3.2 / 26.3 = 56.96 -> 57; PM10 40: 50 * 40 / 54 = 37.04 -> 37
  assert.equal(await one('pm25=12.3 pm10=40'), {
    pm25: 12.3, pm25_aqi: 57, pm10: 40, pm10_aqi: 37, aqi: 57, category: 'Moderate', dominant: 'pm25',
  })
  // PM10 200: 101 + 49 * 45 / 99 = 123.27 -> 123 beats PM2.5 20.0: 51 + 49 * 10.9 / 26.3 = 71.3 -> 71
  const r = await one('pm10=200 pm25=20.0')
  assert.equal([r.aqi, r.dominant, r.category, r.pm25_aqi, r.pm10_aqi], [123, 'pm10', 'Unhealthy for Sensitive Groups', 71, 123])
  const tie = await one('pm25=9.0 pm10=54')
  assert.equal([tie.aqi, tie.dominant], [50, 'pm25'])
})

test('many readings: one per line, overall is the first worst reading', async () => {
  const input = 'pm25=5 pm10=20\n\npm25=40.1,pm10=100\r\n  pm10=300\t\npm25=40.1 pm10=100\n'
  const r = await aqi(input)
  assert.is(r.count, 4)
  // 40.1: 101 + 49 * 4.6 / 19.9 = 112.33 -> 112; PM10 300: 151 + 49 * 45 / 99 = 173.27 -> 173
  assert.equal(r.readings.map((x) => x.aqi), [28, 112, 173, 112])
  assert.equal(r.overall, { aqi: 173, category: 'Unhealthy', dominant: 'pm10', index: 2 })
  // ties: the first one
  const t = await aqi('pm25=1\npm25=50\npm10=200\npm25=3')
  assert.is(t.overall.index, 1)
  // a byte order mark and CRLF
  const bom = await aqi('\uFEFFpm25=12.3 pm10=40\r\n')
  assert.is(bom.readings[0]?.aqi, 57)
})

test('every PM2.5 value 0.0 .. 400.0 and PM10 0 .. 700 agrees with the floating point equation', async () => {
  const pm25 = Array.from({ length: 4001 }, (_, i) => i / 10)
  const r25 = await aqi(pm25.map((c) => `pm25=${c.toFixed(1)}`).join('\n'))
  const pm10 = Array.from({ length: 701 }, (_, i) => i)
  const r10 = await aqi(pm10.map((c) => `pm10=${c}`).join('\n'))
  let halves = 0
  const check = (c: number, got: Reading | undefined, pollutant: 'pm25' | 'pm10'): void => {
    const f = floatAqi(c, pollutant)
    if (Math.abs(f - Math.floor(f) - 0.5) < 1e-9) halves++ // exact halves: the module rounds them up
    const expected = Math.abs(f - Math.floor(f) - 0.5) < 1e-9 ? Math.floor(f) + 1 : Math.round(f)
    assert.is(got?.aqi, expected, `${pollutant} ${c}: ${f}`)
    const top = pollutant === 'pm25' ? 325.4 : 604
    assert.is(got?.beyond, c > top ? true : undefined, `${pollutant} ${c} beyond`)
    const name = expected > 300 ? 'Hazardous' : ROWS.find((row) => expected <= row.iHi)?.name
    assert.is(got?.category, name, `${pollutant} ${c} category`)
  }
  pm25.forEach((c, i) => check(c, r25.readings[i], 'pm25'))
  pm10.forEach((c, i) => check(c, r10.readings[i], 'pm10'))
  // No truncated concentration gives an AQI of exactly k + 0.5 with the 2024 rows (their
  // Chi - Clo are 90, 263, 199, 699, 999 tenths and 54, 99, 69, 179), so how halves are
  // rounded never matters.
  assert.is(halves, 0)
})

test('beyond the table (PM2.5 > 325.4, PM10 > 604): the top row is extended and flagged', async () => {
  // 325.5: 301 + 199 * 100.0 / 99.9 = 500.2 -> 500 (a concentration beyond the table)
  assert.equal(await one('pm25=325.5'), { pm25: 325.5, pm25_aqi: 500, aqi: 500, category: 'Hazardous', dominant: 'pm25', beyond: true })
  // 500.0: 301 + 199 * 274.5 / 99.9 = 847.80 -> 848
  assert.is((await one('pm25=500')).aqi, 848)
  // PM10 700: 301 + 199 * 275 / 179 = 606.73 -> 607
  const r = await aqi('pm10=700\npm25=20')
  assert.equal(r.readings[0], { pm10: 700, pm10_aqi: 607, aqi: 607, category: 'Hazardous', dominant: 'pm10', beyond: true })
  assert.equal(r.overall, { aqi: 607, category: 'Hazardous', dominant: 'pm10', beyond: true, index: 0 })
  // the largest accepted concentration
  assert.is((await one('pm25=999999.9')).aqi, 301 + Math.round((199 * (9999999 - 2255)) / 999))
})

test('bad input: exit code 1 and a message', async () => {
  assert.match(await failure('pm25=-1'), /negative concentration "pm25=-1" \(line 1\)/)
  assert.match(await failure('pm25=3\npm10=-0.5'), /negative concentration "pm10=-0.5" \(line 2\)/)
  for (const bad of ['pm25=abc', 'pm25=1e3', 'pm25=', 'pm25=.', 'pm25=+3', 'pm25=1.2.3', 'pm25=NaN', 'pm10=12x']) {
    assert.match(await failure(bad), /not a concentration/, bad)
  }
  assert.match(await failure('pm25=1000000'), /out of range/)
  assert.match(await failure('pm25=1 pm25=2'), /pm25 given twice on one line/)
  assert.match(await failure('pm10=1 pm10=2'), /pm10 given twice on one line/)
  assert.match(await failure('pm25=1\no3=0.05'), /unknown pollutant .* "o3=0.05" \(line 2\)/)
  assert.match(await failure('PM25=3'), /unknown pollutant/)
  assert.match(await failure('12.3'), /expected pm25=C or pm10=C, got "12.3"/)
  assert.match(await failure(''), /no readings in input/)
  assert.match(await failure('\n \n'), /no readings in input/)
})

test.run()
