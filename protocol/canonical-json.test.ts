import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { canonicalJson } from './canonical-json.ts'

test('RFC 8785 §3.2.3: keys sorted by UTF-16 code units, at every level, no whitespace', () => {
  const v = { '\u20ac': 'Euro Sign', '\r': 'Carriage Return', '\ufb33': 'Hebrew Letter Dalet With Dagesh', '1': 'One', '\ud83d\ude00': 'Emoji: Grinning Face', '\u0080': 'Control', '\u00f6': 'Latin Small Letter O With Diaeresis' }
  // (read the order off the string: Object.keys would put the integer-like "1" first)
  const order = ['\r', '1', '\u0080', '\u00f6', '\u20ac', '\ud83d\ude00', '\ufb33'].map((k) => canonicalJson(v).indexOf(`${JSON.stringify(k)}:`))
  assert.ok(order.every((at, i) => at > (order[i - 1] ?? -1)), order.join())
  assert.is(canonicalJson({ b: [3, { z: 1, y: null }], a: { d: true, c: 'x' } }), '{"a":{"c":"x","d":true},"b":[3,{"y":null,"z":1}]}')
})

test('RFC 8785 §3.2.2.3: numbers as ECMAScript writes them', () => {
  const cases: Array<[number, string]> = [[0, '0'], [-0, '0'], [1e21, '1e+21'], [1e-7, '1e-7'], [0.1, '0.1'], [123456789012345680000, '123456789012345680000'], [Number.MAX_SAFE_INTEGER, '9007199254740991'], [5e-324, '5e-324']]
  for (const [n, s] of cases) assert.is(canonicalJson(n), s, String(n))
})

test('strings escaped minimally; undefined fields left out; what JSON cannot carry refused', () => {
  assert.is(canonicalJson({ s: 'a"b\\c\n\u0001\u2028é' }), '{"s":"a\\"b\\\\c\\n\\u0001\u2028é"}')
  assert.is(canonicalJson({ a: undefined, b: 1 }), '{"b":1}')
  for (const bad of [NaN, Infinity, [undefined], () => 1, 10n]) assert.throws(() => canonicalJson(bad), String(bad))
  let deep: unknown = 1
  for (let i = 0; i < 40; i++) deep = [deep]
  assert.throws(() => canonicalJson(deep), /nested at most 32/)
})

test('the same value parsed back serializes to the same bytes (what a verifier rebuilds)', () => {
  const v = { id: 'a1', load: { running: 2, queued: 0 }, price: { perJob: 0.5 }, labels: { site: 'depot-3' }, n: [1, 2.25, -3e-9] }
  const c = canonicalJson(v)
  assert.is(canonicalJson(JSON.parse(c)), c)
  assert.is(canonicalJson(JSON.parse(JSON.stringify(v, null, 2))), c)
})

test.run()
