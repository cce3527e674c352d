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

test('refusals name the field (the fast path falls back to the walk that knows where it is)', () => {
  assert.throws(() => canonicalJson({ a: { b: [1, NaN] } }), (e: Error) => /a\.b\[1\]/.test(`${(e as { field?: string }).field ?? ''} ${e.message}`))
  assert.throws(() => canonicalJson({ x: { f: () => 1 } }), (e: Error) => /x\.f/.test(`${(e as { field?: string }).field ?? ''} ${e.message}`))
})

test('random JSON values: the same bytes as a sorted JSON.stringify', () => {
  let seed = 7
  const rnd = () => ((seed = (seed * 1103515245 + 12345) % 2147483648) / 2147483648)
  const sorted = (v: unknown): unknown =>
    Array.isArray(v) ? v.map(sorted) : v && typeof v === 'object' ? Object.fromEntries(Object.keys(v).sort().map((k) => [k, sorted((v as Record<string, unknown>)[k])])) : v
  const gen = (d: number): unknown => {
    const r = rnd()
    if (d > 3 || r < 0.3) return [null, true, false, rnd() * 1e6 - 5e5, Math.floor(rnd() * 100), `s${Math.floor(rnd() * 1e4)}\u00e9"`][Math.floor(rnd() * 6)]
    if (r < 0.6) return Array.from({ length: Math.floor(rnd() * 4) }, () => gen(d + 1))
    return Object.fromEntries(Array.from({ length: Math.floor(rnd() * 5) }, () => [['b', 'a', '10', '2', 'Z', '\u20ac'][Math.floor(rnd() * 6)] as string, gen(d + 1)]))
  }
  for (let i = 0; i < 500; i++) {
    const v = gen(0)
    // JSON.stringify puts integer-like keys first; compare on key sets without those
    const s = JSON.stringify(sorted(v))
    if (!/"(10|2)":/.test(s)) assert.is(canonicalJson(v), s)
    assert.is(canonicalJson(JSON.parse(canonicalJson(v))), canonicalJson(v))
  }
})

test.run()
