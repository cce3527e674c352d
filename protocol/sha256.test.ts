import { createHash } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { sha256Bytes, sha256Hex, sha256Prefixed } from './sha256.ts'

const ref = (...parts: Uint8Array[]) => {
  const h = createHash('sha256')
  for (const p of parts) h.update(p)
  return h.digest()
}

test('the one-shot digests are createHash sha256', () => {
  for (const b of [Buffer.alloc(0), Buffer.from('hello, edge'), Buffer.alloc(70_000, 0x5a), new Uint8Array([1, 2, 3])]) {
    assert.is(sha256Hex(b), ref(b).toString('hex'))
    assert.ok(sha256Bytes(b).equals(ref(b)))
  }
  assert.is(sha256Hex(Buffer.from('abc')), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
})

test('a prefixed digest is sha256(prefix ‖ a ‖ b)', () => {
  const a = Buffer.alloc(32, 1)
  const b = Buffer.alloc(32, 2)
  assert.ok(sha256Prefixed(0x01, a, b).equals(ref(Buffer.from([1]), a, b)))
  assert.ok(sha256Prefixed(0x00, Buffer.from('leaf')).equals(ref(Buffer.from([0]), Buffer.from('leaf'))))
  assert.ok(sha256Prefixed(0x00, new Uint8Array(0)).equals(ref(Buffer.from([0]))))
})

test.run()
