import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { decodeJsonLine } from './json-lines.ts'
import { nmeaChecksum, nmeaProtocol, nmeaSentence, parseNmea } from './nmea.ts'

const GGA = '$GPGGA,123519,4807.038,N,01131.000,E,1,08,0.9,545.4,M,46.9,M,,*47'

test('NMEA: the textbook GGA sentence checks (0x47) and decodes to degrees', () => {
  assert.is(nmeaChecksum(GGA.slice(1, GGA.indexOf('*'))), 0x47)
  const msg = nmeaProtocol().decode(Buffer.from(GGA))
  assert.ok(typeof msg !== 'string' && msg.kind === 'readings')
  const r = Object.fromEntries((msg as { readings: Array<{ sensor: string; value: unknown }> }).readings.map((x) => [x.sensor, x.value]))
  assert.equal(r, { lat: 48.1173, lon: 11.5166667, fix: 1, sats: 8, hdop: 0.9, alt: 545.4 })
})

test('NMEA: a wrong, missing or malformed checksum is a checksum drop; binary is noise', () => {
  const p = nmeaProtocol()
  assert.is(p.decode(Buffer.from(GGA.replace('*47', '*48'))), 'checksum')
  assert.is(p.decode(Buffer.from(GGA.replace('545.4', '545.5'))), 'checksum')
  assert.is(p.decode(Buffer.from(GGA.slice(0, GGA.indexOf('*')))), 'checksum')
  assert.is(p.decode(Buffer.from(GGA.replace('*47', '*G7'))), 'checksum')
  assert.is(p.decode(Buffer.from([0x24, 0x00, 0xff, 0x13])), 'noise')
  assert.is(p.decode(Buffer.from('hello')), 'invalid')
  assert.not.equal(nmeaProtocol({ requireChecksum: false }).decode(Buffer.from(GGA.slice(0, GGA.indexOf('*')))), 'checksum')
})

test('NMEA: RMC southern/western hemisphere, unknown sentences as one string reading', () => {
  const rmc = nmeaSentence('GNRMC,081836,A,3751.65,S,14507.36,W,000.0,360.0,130998,011.3,E')
  const msg = nmeaProtocol().decode(Buffer.from(rmc))
  assert.ok(typeof msg !== 'string' && msg.kind === 'readings')
  const r = Object.fromEntries((msg as { readings: Array<{ sensor: string; value: unknown }> }).readings.map((x) => [x.sensor, x.value]))
  assert.equal(r, { status: 'valid', lat: -37.8608333, lon: -145.1226667, speedKn: 0, course: 360 })
  const gsv = parseNmea(nmeaSentence('GPGSV,1,1,01,07,79,048,42'))
  assert.equal(gsv, { talker: 'GP', type: 'GSV', fields: ['1', '1', '01', '07', '79', '048', '42'] })
})

test('json-lines: readings, batches, replies, hello; anything else is invalid or noise', () => {
  assert.equal(decodeJsonLine(Buffer.from('{"s":"temp","v":21.5,"u":"C","t":1200}')), { kind: 'readings', readings: [{ sensor: 'temp', value: 21.5, unit: 'C', deviceTime: 1200 }] })
  assert.equal(decodeJsonLine(Buffer.from('{"r":{"a":1,"b":true}}')), { kind: 'readings', readings: [{ sensor: 'a', value: 1 }, { sensor: 'b', value: true }] })
  assert.equal(decodeJsonLine(Buffer.from('{"id":3,"ok":true}')), { kind: 'reply', id: 3, ok: true, value: true })
  assert.equal(decodeJsonLine(Buffer.from('{"id":3,"err":"no"}')), { kind: 'reply', id: 3, ok: false, error: 'no' })
  assert.equal(decodeJsonLine(Buffer.from('{"hello":"fw/1","sensors":["t"]}')), { kind: 'hello', firmware: 'fw/1', sensors: ['t'], actuators: [] })
  for (const bad of ['{"s":"a/b","v":1}', '{"s":"t","v":null}', '{"s":"t","v":[1]}', '[1]', '{"id":0,"ok":1}', '{"x":1}', '{"s":"t"']) {
    assert.is(decodeJsonLine(Buffer.from(bad)), 'invalid', bad)
  }
  assert.is(decodeJsonLine(Buffer.from([0x7b, 0x01, 0x02, 0x7d])), 'noise')
})

test.run()
