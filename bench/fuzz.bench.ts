/**
 * The long fuzz run of every wire parser in protocol/, model files included (the CI test,
 * protocol/wire-fuzz.test.ts, runs a fixed budget from fixed seeds): fresh
 * seeds, batch after batch, for FM_FUZZ_SECONDS (default 60), or
 * FM_FUZZ_SEED=N to replay one seed. Prints every failure with the seed and
 * iteration that reproduce it.
 *
 *   node --import tsx bench/fuzz.bench.ts
 */
import { loadModelBytes } from '../models/index.ts'
import { runModelFileFuzz, runWireFuzz, type FuzzFailure } from '../test/support/wire-fuzz.ts'

const seconds = Number(process.env.FM_FUZZ_SECONDS ?? 60)
const fixedSeed = process.env.FM_FUZZ_SEED === undefined ? undefined : Number(process.env.FM_FUZZ_SEED)
const BATCH = 5000
const model = await loadModelBytes('anomaly')
const started = performance.now()
let iterations = 0
let accepted = 0
let seeds = 0
const failures: FuzzFailure[] = []
for (let seed = fixedSeed ?? (Date.now() >>> 0); performance.now() - started < seconds * 1000; seed = (seed + 0x9e3779b9) >>> 0) {
  for (const s of [runWireFuzz(seed, BATCH), runModelFileFuzz(seed, BATCH / 5, model)]) {
    iterations += s.iterations
    accepted += s.accepted
    failures.push(...s.failures)
  }
  seeds++
  if (fixedSeed !== undefined) break
}
const secs = (performance.now() - started) / 1000
console.log(`fuzzed ${iterations} mutants from ${seeds} seeds in ${secs.toFixed(1)} s (${Math.round(iterations / secs)}/s), ${accepted} accepted, ${iterations - accepted} refused`)
for (const f of failures.slice(0, 20)) console.log(`FAILURE ${f.target} seed ${f.seed} iteration ${f.iteration}: ${f.problem}`)
console.log(`TARGET wire parsers hold under fuzzing: ${failures.length} failures in ${iterations} mutants ${failures.length === 0 ? 'PASS' : 'FAIL'}`)
