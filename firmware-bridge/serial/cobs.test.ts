import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { cobsDecode, cobsEncode } from './cobs.ts'

const hex = (s: string) => Buffer.from(s.replace(/\s+/g, ''), 'hex')
const seq = (from: number, to: number) => Buffer.from(Array.from({ length: to - from + 1 }, (_, i) => (from + i) & 0xff))

// known-answer vectors (Cheshire & Baker's examples, as usually tabulated)
const VECTORS: Array<[Buffer, Buffer]> = [
  [hex('00'), hex('01 01')],
  [hex('00 00'), hex('01 01 01')],
  [hex('00 11 00'), hex('01 02 11 01')],
  [hex('11 22 00 33'), hex('03 11 22 02 33')],
  [hex('11 22 33 44'), hex('05 11 22 33 44')],
  [hex('11 00 00 00'), hex('02 11 01 01 01')],
  [seq(0x01, 0xfe), Buffer.concat([hex('ff'), seq(0x01, 0xfe)])],
  [seq(0x00, 0xfe), Buffer.concat([hex('01 ff'), seq(0x01, 0xfe)])],
  [seq(0x01, 0xff), Buffer.concat([hex('ff'), seq(0x01, 0xfe), hex('02 ff')])],
]

test('COBS encodes the known-answer vectors and decodes them back', () => {
  for (const [plain, encoded] of VECTORS) {
    assert.equal(cobsEncode(plain).toString('hex'), encoded.toString('hex'), `encode ${plain.toString('hex').slice(0, 16)}`)
    assert.equal(cobsDecode(encoded).toString('hex'), plain.toString('hex'), `decode ${encoded.toString('hex').slice(0, 16)}`)
    assert.not.ok(cobsEncode(plain).includes(0), 'no zero in an encoded frame')
  }
})

test('COBS round-trips random frames of every length up to 600 bytes', () => {
  for (let n = 0; n <= 600; n++) {
    const data = Buffer.from(Array.from({ length: n }, (_, i) => ((i * 7919 + n) % 5 === 0 ? 0 : (i * 31 + n) & 0xff)))
    assert.equal(cobsDecode(cobsEncode(data)).equals(data), true, `length ${n}`)
  }
})

test('COBS refuses a block that runs past the frame end', () => {
  assert.throws(() => cobsDecode(hex('05 11 22')), /runs past the frame end/)
})

test.run()
