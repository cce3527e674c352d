import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { cobsEncode } from './cobs.ts'
import { createFramer, encodeFrame, type DropReason, type FramingSpec } from './framing.ts'

function framed(spec: FramingSpec, max = 16) {
  const frames: string[] = []
  const drops: Array<[DropReason, number]> = []
  const f = createFramer(spec, max, { frame: (b) => frames.push(b.toString('latin1')), drop: (r, n) => drops.push([r, n]) })
  return { f, frames, drops }
}

test('line framing: frames split across chunks, CRLF trimmed, empty lines kept', () => {
  const { f, frames } = framed({ type: 'line' })
  f.push(Buffer.from('ab'))
  f.push(Buffer.from('c\r\nde'))
  f.push(Buffer.from('f\n\nx'))
  assert.equal(frames, ['abc', 'def', ''])
  assert.is(f.reset(), 1, 'the partial "x" is discarded on reset')
})

test('an overlong line is dropped whole, once, and the next line is fine', () => {
  const { f, frames, drops } = framed({ type: 'line' }, 8)
  f.push(Buffer.from('0123456789'))
  f.push(Buffer.from('abcdefghij'))
  f.push(Buffer.from('klm\nok\n'))
  assert.equal(frames, ['ok'])
  assert.equal(drops, [['overlong', 24]])
  // exactly at the limit is accepted; one over is not
  f.push(Buffer.from('12345678\n123456789\n'))
  assert.equal(frames, ['ok', '12345678'])
  assert.equal(drops[1], ['overlong', 10])
})

test('a multi-byte delimiter split across chunks is found', () => {
  const { f, frames } = framed({ type: 'delimiter', delimiter: Buffer.from('END') })
  f.push(Buffer.from('oneE'))
  f.push(Buffer.from('NDtwoEN'))
  f.push(Buffer.from('D'))
  assert.equal(frames, ['one', 'two'])
})

test('fixed-length framing cuts exact frames from any chunking', () => {
  const { f, frames } = framed({ type: 'fixed', length: 3 })
  f.push(Buffer.from('ab'))
  f.push(Buffer.from('cdefg'))
  f.push(Buffer.from('hi'))
  assert.equal(frames, ['abc', 'def', 'ghi'])
})

test('COBS framing: frames with zeros inside come out whole; a corrupt frame is dropped and the next one resynchronises', () => {
  const { f, frames, drops } = framed({ type: 'cobs' }, 64)
  const a = Buffer.from([1, 0, 2, 0, 0, 3])
  const b = Buffer.from([0xff, 0])
  const bytes = Buffer.concat([encodeFrame({ type: 'cobs' }, a), Buffer.from([0x09, 0x41, 0x00]), encodeFrame({ type: 'cobs' }, b)])
  for (let i = 0; i < bytes.length; i += 2) f.push(bytes.subarray(i, i + 2))
  assert.equal(frames.map((s) => Buffer.from(s, 'latin1').toString('hex')), [a.toString('hex'), b.toString('hex')])
  assert.equal(drops, [['cobs', 3]])
  assert.equal(encodeFrame({ type: 'cobs' }, a).subarray(0, -1).toString('hex'), cobsEncode(a).toString('hex'))
})

test('binary noise never grows the buffer past the limit', () => {
  const { f, drops } = framed({ type: 'line' }, 32)
  const noise = Buffer.alloc(100_000, 0x41)
  for (let i = 0; i < noise.length; i += 1000) f.push(noise.subarray(i, i + 1000))
  f.push(Buffer.from('\n'))
  assert.equal(drops, [['overlong', 100_001]])
})

test.run()
