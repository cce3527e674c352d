/**
 * Reputation: counts, trust and the pick factor; persisted to a file and read back; bounded.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { tmpDir } from '../test/support/temp-dirs.ts'
import { ReputationBook } from './reputation.ts'
import { detectionProbability, jobsToDetect, SpotCheckPolicy } from './spot-check.ts'

test('trust and the pick factor: a mismatch weighs twenty accepted results', () => {
  const b = new ReputationBook()
  assert.is(b.factor('new'), 1)
  for (let i = 0; i < 19; i++) b.record('a', 'accepted', 10)
  assert.is(b.get('a')!.trust, 1)
  b.record('a', 'mismatched')
  assert.is(b.get('a')!.trust, 20 / 40)
  assert.is(b.factor('a'), 2)
  b.record('b', 'timedOut')
  assert.is(b.get('b')!.trust, 1 / 4)
  assert.is(b.get('a')!.latencyMs, 10)
})

test('persisted: written atomically, read back on start; a bad file is a clear error', () => {
  const dir = tmpDir('fm-rep-')
  const file = join(dir, 'sub', 'reputation.json')
  const b = new ReputationBook({ file, flushMs: 60_000 })
  b.record('a', 'accepted', 5)
  b.record('a', 'refused')
  b.close()
  const raw = JSON.parse(readFileSync(file, 'utf8'))
  assert.is(raw.kind, 'fogmesh-reputation')
  const again = new ReputationBook({ file })
  assert.is(again.get('a')!.accepted, 1)
  assert.is(again.get('a')!.refused, 1)
  writeFileSync(file, '{nope')
  assert.throws(() => new ReputationBook({ file }), /not valid JSON/)
})

test('bounded: the agent seen longest ago goes, with an event', () => {
  const b = new ReputationBook({ maxAgents: 2 })
  const evicted: string[] = []
  b.on('evicted', (e) => evicted.push(e.agent))
  b.record('a', 'accepted')
  b.record('b', 'accepted')
  b.record('a', 'accepted')
  b.record('c', 'accepted')
  assert.equal(evicted, ['b'])
  assert.equal(Object.keys(b.snapshot()).sort(), ['a', 'c'])
})

test('spot-check arithmetic: detection within n jobs, and the n for a confidence', () => {
  assert.ok(Math.abs(detectionProbability(0.2, 0.1, 50) - (1 - 0.98 ** 50)) < 1e-12)
  assert.is(jobsToDetect(0.2, 0.1, 0.99), 228)
  const p = new SpotCheckPolicy(1, () => 0, 1)
  assert.ok(p.take())
  assert.not.ok(p.take(), 'one in flight at most')
  assert.is(p.skipped, 1)
  p.done()
  assert.ok(p.take())
  assert.throws(() => new SpotCheckPolicy(1.5, Math.random, 1), /from 0 to 1/)
})

test.run()
