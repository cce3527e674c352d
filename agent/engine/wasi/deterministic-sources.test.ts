import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ClockId } from './abi.ts'
import { CLOCK_STEP_NS, DETERMINISTIC_EPOCH_NS, deterministicSources } from './deterministic-sources.ts'

const hex = (b: Uint8Array) => Buffer.from(b).toString('hex')

test('random: the ChaCha20 keystream under sha256(domain + job id), one stream across calls', () => {
  const a = new Uint8Array(32)
  deterministicSources('job-1').random(a)
  // first 32 bytes of ChaCha20 (RFC 8439, counter 0, nonce 0) under sha256("fogmesh/wasi-random/v1\0job-1"),
  // checked against an independent implementation of the block function
  assert.is(hex(a), '6b4257e7642e6e5ec554045e4e2d63ebec3549ce91798f75c06c95acec74b3a4')
  const s = deterministicSources('job-1')
  const b = new Uint8Array(200_000)
  s.random(b.subarray(0, 7))
  s.random(b.subarray(7, 100_000)) // more than one chunk
  s.random(b.subarray(100_000))
  const whole = new Uint8Array(200_000)
  deterministicSources('job-1').random(whole)
  assert.is(hex(b), hex(whole))
  const other = new Uint8Array(32)
  deterministicSources('job-2').random(other)
  assert.is.not(hex(other), hex(a))
})

test('clock: one virtual clock, 1 ms per read, realtime from 2024-01-01', () => {
  const { clock } = deterministicSources('any')
  assert.is(clock(ClockId.realtime, 123n), DETERMINISTIC_EPOCH_NS)
  assert.is(clock(ClockId.monotonic, 456n), CLOCK_STEP_NS)
  assert.is(clock(ClockId.processCputime, 0n), 2n * CLOCK_STEP_NS)
  assert.is(clock(9, 0n), undefined, 'an unknown clock does not advance time')
  assert.is(clock(ClockId.threadCputime, 0n), 3n * CLOCK_STEP_NS)
  assert.is(clock(ClockId.realtime, 0n), DETERMINISTIC_EPOCH_NS + 4n * CLOCK_STEP_NS)
  assert.is(new Date(Number(DETERMINISTIC_EPOCH_NS / 1_000_000n)).toISOString(), '2024-01-01T00:00:00.000Z')
})

test.run()
