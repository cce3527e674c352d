import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { parseCommand } from './command.ts'

const p = (s: string | object) => parseCommand(Buffer.from(typeof s === 'string' ? s : JSON.stringify(s)))
const b64 = (s: string) => Buffer.from(s).toString('base64')

test('bare values, objects, and job/stream results', () => {
  assert.equal(p('1'), { value: 1 })
  assert.equal(p('true'), { value: true })
  assert.equal(p('on'), { value: 'on' })
  assert.equal(p('"open"'), { value: 'open' })
  assert.equal(p({ value: 42.5 }), { value: 42.5 })
  assert.equal(p({ value: 1, id: 'ctl', seq: 7 }), { value: 1, id: 'ctl', seq: 7 })
  assert.equal(p({ id: 's1', status: 'ok', seq: 3, output: b64('1\n') }), { value: 1, id: 's1', seq: 3 })
  assert.equal(p({ id: 's1', status: 'ok', window: { seq: 4 }, output: b64('{"value":0,"score":3.2}') }), { value: 0, id: 's1', seq: 4 })
  assert.equal(p({ id: 's1', status: 'ok', output: b64('anomaly') }), { value: 'anomaly', id: 's1' })
})

test('errors and junk carry no value', () => {
  assert.is(p({ id: 's1', status: 'error', error: { code: 'trap', message: 'x' } }), 'result_error')
  for (const junk of ['', '[1]', '{"x":1}', '{"value":null}', '{"value":[1]}', '{"status":"ok"}', 'a\u0001b', 'x'.repeat(300)]) assert.is(p(junk), 'invalid', JSON.stringify(junk).slice(0, 20))
  assert.is(parseCommand(Buffer.alloc(5000, 0x31), 4096), 'invalid')
})

test.run()
