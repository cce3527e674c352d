// The run / done frames between the agent and its executor: every field arrives as it was sent
// (optional limits absent stay absent, odd numbers stay odd, text beyond ASCII), many frames to a
// buffer, a buffer reused across batches; a truncated or unknown frame throws.
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import type { RunOutcome, RunRequest } from '../executor.ts'
import { FrameWriter, readFrames } from './run-frames.ts'

const sha = 'ab'.repeat(32)

function roundTrip(write: (w: FrameWriter) => void): { runs: [number, RunRequest][]; dones: [number, RunOutcome][] } {
  const w = new FrameWriter()
  write(w)
  const bytes = new Uint8Array(w.take()) // what the channel delivers: a buffer of its own
  const runs: [number, RunRequest][] = []
  const dones: [number, RunOutcome][] = []
  readFrames(bytes, { run: (n, r) => runs.push([n, r]), done: (n, o) => dones.push([n, o]) })
  return { runs, dones }
}

const plain = (r: RunRequest) => ({ ...r, input: [...r.input] })

test('runs: every limit, given or not, and the input bytes', () => {
  const a: RunRequest = { jobId: 'job-1@scope', module: sha, input: new Uint8Array([1, 2, 3]), limits: { timeoutMs: 5000, outputBytes: 65536, stderrBytes: 4096 } }
  const b: RunRequest = {
    jobId: 'j\u00e9b-\u{1F600}-\u4e2d',
    module: 'nope',
    input: new Uint8Array(100_000).fill(7),
    limits: { timeoutMs: 0.5, outputBytes: -1, stderrBytes: Number.NaN, fuel: 0, memoryMiB: 1 / 16, deterministic: false },
  }
  const c: RunRequest = { jobId: '', module: sha, input: new Uint8Array(0), limits: { timeoutMs: 1, outputBytes: 0, stderrBytes: 0, fuel: Number.MAX_SAFE_INTEGER, deterministic: true } }
  const { runs } = roundTrip((w) => {
    w.run(1, a)
    w.run(2 ** 32 - 1, b)
    w.run(3, c)
  })
  assert.equal(runs.map(([n]) => n), [1, 2 ** 32 - 1, 3])
  assert.equal(runs.map(([, r]) => plain(r)), [a, b, c].map(plain))
  assert.not.ok('fuel' in runs[0]![1].limits)
  assert.not.ok('deterministic' in runs[0]![1].limits)
})

test('answers: ok with its output, errors with code, message and stderr', () => {
  const ok: RunOutcome = { status: 'ok', output: new TextEncoder().encode('hello, edge'), fuel: 56, durationMs: 0.123 }
  const err: RunOutcome = { status: 'error', code: 'fuel_exhausted' as never, message: 'fuel limit of 10 exhausted \u2013 \u00fc', stderr: 'x'.repeat(5000), fuel: 10, durationMs: 1.5 }
  const { dones } = roundTrip((w) => {
    w.done(7, ok)
    w.done(8, err)
  })
  assert.equal(dones[0]![0], 7)
  const got = dones[0]![1]
  assert.ok(got.status === 'ok' && new TextDecoder().decode(got.output) === 'hello, edge' && got.fuel === 56 && got.durationMs === 0.123)
  assert.equal(dones[1], [8, err])
})

test('the writer is reused: a later batch does not carry an earlier one', () => {
  const w = new FrameWriter()
  const r: RunRequest = { jobId: 'a', module: sha, input: new Uint8Array(10_000), limits: { timeoutMs: 1, outputBytes: 0, stderrBytes: 0 } }
  w.run(1, r)
  const first = new Uint8Array(w.take())
  w.run(2, { ...r, input: new Uint8Array(3) })
  const second = new Uint8Array(w.take())
  assert.ok(second.length < first.length)
  const seen: number[] = []
  readFrames(second, { run: (n) => seen.push(n), done: () => {} })
  assert.equal(seen, [2])
})

test('a truncated or unknown frame throws', () => {
  const w = new FrameWriter()
  w.done(1, { status: 'ok', output: new Uint8Array(50), fuel: 1, durationMs: 1 })
  const bytes = new Uint8Array(w.take())
  const none = { run: () => {}, done: () => {} }
  assert.throws(() => readFrames(bytes.subarray(0, bytes.length - 1), none), RangeError)
  assert.throws(() => readFrames(new Uint8Array([9, 0, 0, 0, 0]), none), /unknown tag 9/)
})

test.run()
