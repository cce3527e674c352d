/**
 * Every wire parser of protocol/ under property-based fuzzing, a fixed budget
 * per CI run from fixed seeds (test/support/wire-fuzz.ts says what is mutated
 * and which properties must hold). A failure names its seed and iteration:
 * `runWireFuzz(seed, iteration + 1)` reproduces it. The long run is
 * bench/fuzz.bench.ts.
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { loadModelBytes } from '../models/index.ts'
import { runModelFileFuzz, runWireFuzz, samples } from '../test/support/wire-fuzz.ts'
import { verifyStatement } from './signed-statement.ts'
import { decodeJson } from './validate.ts'

const SEEDS = [1, 0x5eed, 20_260_801]
const BUDGET = Number(process.env.FM_FUZZ_ITERATIONS ?? 2000)

test('the seeds of the mutants are valid messages, and the signed ones verify', () => {
  for (const s of samples()) {
    const d = decodeJson(JSON.stringify(s.value), s.schema)
    assert.ok(d.ok, `${s.name}: ${d.ok ? '' : d.error.shortMessage}`)
    if (s.signed) assert.ok(verifyStatement(s.signed.kind, s.value, s.signed.key, s.signed.omit, s.signed.sigField), `${s.name}: signature`)
  }
})

for (const seed of SEEDS) {
  test(`wire parsers, seed ${seed}: ${BUDGET} mutants — never throw, stable codes, stable values, no changed statement verifies`, () => {
    const s = runWireFuzz(seed, BUDGET)
    assert.equal(s.failures, [], JSON.stringify(s.failures.slice(0, 5), null, 2))
    assert.is(s.iterations, BUDGET)
    // the mutants reach both sides of the boundary
    assert.ok(s.accepted > BUDGET * 0.05, `${s.accepted} accepted`)
    assert.ok(s.refused > BUDGET * 0.3, `${s.refused} refused`)
  })
}

test(`model files, seed 7: ${BUDGET} mutants of the shipped model — a model or a stable code, nothing else`, async () => {
  const s = runModelFileFuzz(7, BUDGET, await loadModelBytes('anomaly'))
  assert.equal(s.failures, [], JSON.stringify(s.failures.slice(0, 5), null, 2))
  assert.ok(s.refused > BUDGET * 0.3, `${s.refused} refused`)
})

test.run()
