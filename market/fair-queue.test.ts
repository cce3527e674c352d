import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { FairQueue } from './fair-queue.ts'
import { GatewayAdmission, ADMISSION_DEFAULTS } from './gateway-admission.ts'

test('deficit round robin: a key with 10,000 items waiting and a key with one: the one goes second, not last', () => {
  const q = new FairQueue<string>(1024)
  for (let i = 0; i < 10_000; i++) q.push('flood', `f${i}`, 100)
  q.push('honest', 'h0', 100)
  const order: string[] = []
  for (let i = 0; i < 30; i++) order.push(q.next(() => true)!.item)
  assert.ok(order.indexOf('h0') <= 11, `honest item at ${order.indexOf('h0')}: ${order.join(',')}`)
  assert.is(q.size, 10_001 - order.length)
})

test('costs count: a key with big items gets as many bytes as a key with small ones, not as many items', () => {
  const q = new FairQueue<number>(64 * 1024)
  for (let i = 0; i < 100; i++) q.push('big', 1_000_000, 1_000_000)
  for (let i = 0; i < 10_000; i++) q.push('small', 1000, 1000)
  const bytes = { big: 0, small: 0 }
  for (let k = 0; k < 2000; k++) {
    const n = q.next(() => true)!
    bytes[n.key as 'big' | 'small'] += n.item
  }
  const ratio = bytes.big / bytes.small
  assert.ok(ratio > 0.5 && ratio < 2, `bytes big/small = ${ratio.toFixed(2)}`)
})

test('a key that may not run keeps its place; nothing eligible: undefined', () => {
  const q = new FairQueue<string>(10)
  q.push('a', 'a1', 5)
  q.push('b', 'b1', 5)
  assert.equal(q.next((k) => k === 'b'), { key: 'b', item: 'b1' })
  assert.is(q.next((k) => k === 'b'), undefined)
  assert.equal(q.next(() => true), { key: 'a', item: 'a1' })
  assert.is(q.next(() => true), undefined)
})

test('admission: per-sensor and total queue caps, input bytes; refusals answered at a bounded rate', () => {
  let now = 0
  const a = new GatewayAdmission<string>({ ...ADMISSION_DEFAULTS, jobsPerSecondPerSensor: 10, refusalsPerSecondPerSensor: 2, maxQueuedPerSensor: 15, maxInputBytesInFlight: 1000, maxInFlight: 1 }, () => now)
  const verdicts = Array.from({ length: 30 }, (_, i) => a.offer('flood', `f${i}`, 10))
  assert.is(verdicts.filter((v) => v.ok).length, 15, 'capped by the per-sensor queue (15)')
  const refused = verdicts.filter((v) => !v.ok)
  assert.is(refused.filter((v) => !v.ok && v.answer).length, 2, 'two refusals answered, the rest counted')
  assert.equal(a.offer('other', 'big', 2000), { ok: false, limit: 'maxInputBytesInFlight', answer: true })
  assert.ok(a.offer('honest', 'h', 10).ok)
  const first = a.next()!
  assert.is(a.next(), undefined, 'maxInFlight 1')
  a.done(first.sensor, first.bytes)
  const order = [first.sensor]
  for (let n = a.next(); n; n = a.next()) {
    order.push(n.sensor)
    a.done(n.sensor, n.bytes)
  }
  assert.ok(order.indexOf('honest') <= 8, `the honest sensor within the flood's first turn, not after 15: ${order.join(',')}`)
  assert.is(order.length, 16, 'the burst (2 s of rate = 20) lets all 16 start')
  assert.equal(a.stats().refused, { maxQueuedPerSensor: 15, maxInputBytesInFlight: 1 })
})

test('admission: a job over its sensor\'s rate waits for a token (never refused for the rate); waitMs says when', () => {
  let now = 0
  const a = new GatewayAdmission<string>({ ...ADMISSION_DEFAULTS, jobsPerSecondPerSensor: 10, maxInFlight: 100, maxInFlightPerSensor: 100 }, () => now)
  for (let i = 0; i < 25; i++) assert.ok(a.offer('s', `j${i}`, 10).ok, 'queued, not refused')
  const started: string[] = []
  for (let n = a.next(); n; n = a.next()) started.push(n.job)
  assert.is(started.length, 20, 'the burst (twice the rate)')
  assert.is(a.waitMs(), 100, 'one token per 100 ms')
  now += 99
  assert.is(a.next(), undefined)
  now += 1
  assert.is(a.next()?.job, 'j20', 'in order, once the token is there')
  now += 400
  for (let n = a.next(); n; n = a.next()) started.push(n.job)
  assert.is(started.length, 24)
  assert.is(a.waitMs(), undefined, 'nothing waits')
  assert.equal(a.stats().refused, {})
  // a sensor held by its in-flight cap is not waiting for its rate
  const b = new GatewayAdmission<string>({ ...ADMISSION_DEFAULTS, maxInFlightPerSensor: 1 }, () => now)
  b.offer('t', 'x', 1)
  b.offer('t', 'y', 1)
  assert.is(b.next()?.job, 'x')
  assert.is(b.next(), undefined)
  assert.is(b.waitMs(), undefined)
})

test.run()
