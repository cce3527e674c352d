import { randomBytes } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { jobSubmitSchema, MAX_INPUT_BYTES, presenceSchema, resultSchema } from './messages.ts'
import { decodeJson } from './validate.ts'

const sha = 'ab'.repeat(32)
const good = { id: 'j1', module: sha, input: Buffer.from('1\n2\n3').toString('base64'), replyTo: 'demo/replies' }
const decode = (v: unknown) => decodeJson(typeof v === 'string' ? v : JSON.stringify(v), jobSubmitSchema)

test('a job as docs/contract.md writes it decodes to typed values', () => {
  const d = decode({ ...good, limits: { timeoutMs: 500 }, constraints: { labels: { site: 'a' } }, maxPrice: 3, extra: 'ignored' })
  assert.ok(d.ok)
  if (!d.ok) return
  assert.is(d.value.id, 'j1')
  assert.equal([...d.value.input!], [...Buffer.from('1\n2\n3')])
  assert.equal(d.value.limits, { timeoutMs: 500 })
  assert.is(d.value.maxPrice, 3)
  assert.is((d.value as Record<string, unknown>).extra, undefined)
})

const cases: Array<[string, unknown, string, string]> = [
  ['broken JSON', '{"id": "j1", ', 'invalid_json', 'not valid JSON'],
  ['an array', [1, 2], 'invalid_field', 'message'],
  ['missing id', { ...good, id: undefined }, 'invalid_field', 'id:'],
  ['missing replyTo', { ...good, replyTo: undefined }, 'invalid_field', 'replyTo:'],
  ['wildcard replyTo', { ...good, replyTo: 'a/#' }, 'invalid_field', 'replyTo:'],
  ['short module', { ...good, module: 'abc' }, 'invalid_field', 'module: expected a sha256'],
  ['uppercase module', { ...good, module: 'AB'.repeat(32) }, 'invalid_field', 'module:'],
  ['bad base64', { ...good, input: 'not*base64' }, 'invalid_field', 'input: expected a base64'],
  ['base64 without padding', { ...good, input: 'YWJj' + 'ZA' }, 'invalid_field', 'input:'],
  ['numeric id', { ...good, id: 7 }, 'invalid_field', 'id:'],
  ['id with slash', { ...good, id: 'a/b' }, 'invalid_field', 'id:'],
  ['negative timeout', { ...good, limits: { timeoutMs: -1 } }, 'invalid_field', 'limits.timeoutMs:'],
  ['fractional timeout', { ...good, limits: { timeoutMs: 1.5 } }, 'invalid_field', 'limits.timeoutMs:'],
  ['label not a string', { ...good, constraints: { labels: { site: 1 } } }, 'invalid_field', 'constraints.labels.site:'],
  ['redundancy 6 (at most 5)', { ...good, redundancy: 6 }, 'invalid_field', 'redundancy:'],
  ['quorum neither all nor majority', { ...good, redundancy: 3, quorum: 'most' }, 'invalid_field', 'quorum:'],
  ['input too large', { ...good, input: Buffer.alloc(MAX_INPUT_BYTES + 3).toString('base64') }, 'too_large', 'input:'],
]
for (const [name, value, code, message] of cases) {
  test(`refused with a code that names the field: ${name}`, () => {
    const d = decode(value)
    assert.not.ok(d.ok)
    if (d.ok) return
    assert.is(d.error.code, code)
    assert.ok(d.error.shortMessage.includes(message), `${d.error.shortMessage} should contain ${message}`)
  })
}

test('garbage never throws past the boundary', () => {
  for (let i = 0; i < 2000; i++) {
    const bytes = randomBytes(i % 200)
    for (const schema of [jobSubmitSchema, presenceSchema, resultSchema]) {
      const d = decodeJson(bytes, schema as typeof jobSubmitSchema)
      assert.not.ok(d.ok)
    }
  }
  // JSON that parses but is hostile in shape
  for (const v of ['null', '0', '"x"', 'true', '[]', '{"__proto__":{"id":"x"}}', '{"id":{"toString":1}}', JSON.stringify({ ...good, input: 7 })]) {
    assert.not.ok(decodeJson(v, jobSubmitSchema).ok, v)
  }
})

test('presence must be online or offline with its own fields', () => {
  assert.not.ok(decodeJson('{"status":"maybe","id":"x"}', presenceSchema).ok)
  // an offline statement names the epoch it ends and carries the key and signature to check it by
  assert.not.ok(decodeJson('{"status":"offline","id":"abc","reason":"lost"}', presenceSchema).ok)
  const off = decodeJson(JSON.stringify({ status: 'offline', id: 'abc', reason: 'lost', epoch: 5, publicKey: 'ab'.repeat(32), signature: 'A'.repeat(86) + '==' }), presenceSchema)
  assert.ok(off.ok && off.value.status === 'offline')
})

test.run()
