/**
 * WebAssembly against native code: the C programs of bench/c/ built natively
 * (`clang -O2`) and for WASI (`clang --target=wasm32-wasi -O2`), the native
 * binary run as a process, the wasm run by our JobRunner in this thread both
 * as the agent runs it (metered and memory-capped) and as built (unmetered).
 * Ratios per program, measured in the same run, rounds interleaved; each
 * figure is a median. Published figures for V8 put wasm at ~1.55x native on
 * average (Jangda et al., "Not So Fast", USENIX ATC 2019); the target allows
 * that times our metering budget (1.15x).
 *
 * The native time is the wall time of the process (fork + exec + exit add
 * ~1 ms); the wasm time is one JobRunner.run (instantiation included, after
 * two warm-up runs that let V8 tier the code up).
 *
 *   node --import tsx bench/native.bench.ts [rounds=5]
 */
import { spawnSync } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { JobRunner } from '../agent/engine/runner/job-runner.ts'
import { C_PROGRAMS, nativePath, toolchain, wasmPath } from './c/build.ts'
import { header, progress, table, target } from './report.ts'
import { summarize } from './summary.ts'

const rounds = Math.max(3, Number(process.argv[2] ?? 5))
const PUBLISHED_V8 = 1.55
const METERING_BUDGET = 1.15
const TARGET_RATIO = Number((PUBLISHED_V8 * METERING_BUDGET).toFixed(2))

header('wasm vs native: the C suite', [`rounds ${rounds} (median), native as a process, wasm through JobRunner in this thread`])

const cc = toolchain()
if (cc === null) {
  console.log('skipped: no clang with wasi-libc (apt-get install clang lld wasi-libc libclang-rt-dev-wasm32)')
  target(`wasm (metered) / native mean <= ${TARGET_RATIO}x`, 'skipped', false)
  process.exit(0)
}
progress(`building with ${cc}`)

const runner = new JobRunner()
const caps = { outputBytes: 1 << 16, stderrBytes: 4096 }
const empty = new Uint8Array(0)
const text = new TextDecoder()
const rows: string[][] = [['program', 'native ms', 'wasm ms', 'ratio', 'metered ms', 'ratio', 'same output']]
const plainRatios: number[] = []
const meteredRatios: number[] = []
const fmt = (v: number) => (v < 100 ? v.toFixed(1) : v.toFixed(0))

for (const name of C_PROGRAMS) {
  progress(name)
  const native = nativePath(name)
  const bytes = new Uint8Array(readFileSync(wasmPath(name)))
  runner.load(`${name}:metered`, bytes)
  runner.load(`${name}:plain`, new WebAssembly.Module(bytes))
  let nativeOut = ''
  let wasmOut = ''
  const runNative = () => {
    const t = performance.now()
    const r = spawnSync(native, [], { encoding: 'utf8' })
    const ms = performance.now() - t
    if (r.status !== 0) throw new Error(`${name} (native) exited ${r.status}`)
    nativeOut = r.stdout
    return ms
  }
  const runWasm = (variant: 'plain' | 'metered') => {
    const t = performance.now()
    const r = runner.run(`${name}:${variant}`, empty, caps)
    const ms = performance.now() - t
    if (!r.ok) throw new Error(`${name} (${variant}): ${r.code}: ${r.message}`)
    wasmOut = text.decode(r.output)
    return ms
  }
  const kinds = ['native', 'plain', 'metered'] as const
  const run = (k: (typeof kinds)[number]) => (k === 'native' ? runNative() : runWasm(k))
  for (let w = 0; w < 2; w++) for (const k of kinds) run(k)
  const samples = new Map<string, number[]>(kinds.map((k) => [k, []]))
  for (let r = 0; r < rounds; r++) {
    for (let i = 0; i < kinds.length; i++) {
      const k = kinds[(r + i) % kinds.length] as (typeof kinds)[number]
      samples.get(k)?.push(run(k))
    }
  }
  const med = (k: string) => summarize(samples.get(k) ?? []).p50
  const plain = med('plain') / med('native')
  const metered = med('metered') / med('native')
  plainRatios.push(plain)
  meteredRatios.push(metered)
  rows.push([name, fmt(med('native')), fmt(med('plain')), `${plain.toFixed(2)}x`, fmt(med('metered')), `${metered.toFixed(2)}x`, nativeOut === wasmOut ? 'yes' : 'NO'])
}

const mean = (xs: number[]) => xs.reduce((a, b) => a + b, 0) / xs.length
const geo = (xs: number[]) => Math.exp(xs.reduce((s, r) => s + Math.log(r), 0) / xs.length)
console.log(table(rows))
console.log(`wasm as built / native: mean ${mean(plainRatios).toFixed(2)}x, geometric mean ${geo(plainRatios).toFixed(2)}x`)
console.log(`wasm metered / native:  mean ${mean(meteredRatios).toFixed(2)}x, geometric mean ${geo(meteredRatios).toFixed(2)}x (published for V8: ~${PUBLISHED_V8}x)`)
console.log('')
const m = mean(meteredRatios)
target(`wasm (metered) / native mean <= ${TARGET_RATIO}x`, `${m.toFixed(2)}x`, m <= TARGET_RATIO)
