/**
 * Fuel metering: what a job pays for being metered and memory-capped
 * (agent/engine/instrument/meter.ts) against the same module run as built,
 * on a CPU-bound suite — our AssemblyScript jobs (rolling-stats over 100k
 * readings, echo over 4 MiB) and C programs built here with clang + wasi-libc
 * (bench/c/: sha256, nbody, mandelbrot, sort, vm) — plus the comparison that
 * chose our own pass over binaryen: instrumentation time, module size,
 * runtime, install size, load time.
 *
 * All three variants of a program run in the same JobRunner, in this thread,
 * interleaved round by round (rotating order), after two warm-up runs that let
 * V8 tier every function up; each figure is the median of the rounds.
 *
 *   node --import tsx bench/metering.bench.ts [rounds=5]
 */
import { execFileSync } from 'node:child_process'
import { randomBytes } from 'node:crypto'
import { readFileSync, readdirSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { prepareModule } from '../agent/engine/instrument/meter.ts'
import { JobRunner } from '../agent/engine/runner/job-runner.ts'
import { loadModule } from '../wasm-modules/index.ts'
import { C_PROGRAMS, toolchain, wasmPath } from './c/build.ts'
import { exitOnSignal } from '../test/support/child-processes.ts'
import { ROOT } from '../test/support/paths.ts'
import { tmpDir } from '../test/support/temp-dirs.ts'
import { header, progress, table, target } from './report.ts'
import { summarize } from './summary.ts'

exitOnSignal()

const rounds = Math.max(3, Number(process.argv[2] ?? 5))
const TARGET_RATIO = 1.15
/** Runs per sample: enough that one sample takes this long. */
const SAMPLE_MS = 150

interface Program {
  name: string
  bytes: Uint8Array
  input: Uint8Array
  outputBytes: number
}

/** Sensor-like readings, the same every time. */
function readings(n: number): Uint8Array {
  const lines: string[] = []
  let x = 1234567
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) % 2147483648
    lines.push(((x % 100000) / 1000 - 20).toFixed(3))
  }
  return new TextEncoder().encode(lines.join('\n'))
}

const fmtMs = (v: number) => (v < 10 ? v.toFixed(2) : v < 100 ? v.toFixed(1) : v.toFixed(0))
const fmtX = (v: number) => `${v.toFixed(3)}x`
const kb = (n: number) => `${(n / 1024).toFixed(1)} KiB`

function dirBytes(path: string): number {
  let total = 0
  for (const name of readdirSync(path)) {
    const p = join(path, name)
    const s = statSync(p)
    total += s.isDirectory() ? dirBytes(p) : s.size
  }
  return total
}

header('metering overhead: metered + memory-capped vs as built', [
  `rounds ${rounds} (median), samples of >= ${SAMPLE_MS} ms, variants interleaved in one JobRunner`,
])

// ---- the suite --------------------------------------------------------------------

const programs: Program[] = [
  { name: 'rolling-stats', bytes: await loadModule('rolling-stats'), input: readings(100_000), outputBytes: 1 << 20 },
  { name: 'echo 4 MiB', bytes: await loadModule('echo'), input: new Uint8Array(randomBytes(4 << 20)), outputBytes: 8 << 20 },
]
const cc = toolchain()
if (cc === null) {
  console.log('C programs skipped: no clang with wasi-libc (apt-get install clang lld wasi-libc libclang-rt-dev-wasm32)\n')
} else {
  progress(`building the C programs with ${cc}`)
  for (const name of C_PROGRAMS) {
    programs.push({ name: `${name}.c`, bytes: new Uint8Array(readFileSync(wasmPath(name))), input: new Uint8Array(0), outputBytes: 1 << 16 })
  }
}

// ---- instrumentation: our pass, and binaryen in a plain node process -----------------

const own = programs.map((p) => {
  const t0 = performance.now()
  const first = prepareModule(p.bytes)
  const coldMs = performance.now() - t0
  const times: number[] = []
  for (let i = 0; i < 9; i++) {
    const t = performance.now()
    prepareModule(p.bytes)
    times.push(performance.now() - t)
  }
  return { prepared: first, coldMs, ms: summarize(times).p50 }
})

interface BinaryenRun {
  loadMs: number
  modules: { input: string; output: string; ms: number; inBytes: number; outBytes: number }[]
}
let binaryen: BinaryenRun | null = null
try {
  progress('instrumenting with binaryen (bench/c/binaryen-meter.mjs)')
  const dir = tmpDir('fm-metering-')
  const inputs = programs.map((p, i) => {
    const path = join(dir, `${i}.wasm`)
    writeFileSync(path, p.bytes)
    return path
  })
  const out = execFileSync(process.execPath, [join(ROOT, 'bench/c/binaryen-meter.mjs'), dir, ...inputs], {
    cwd: ROOT,
    encoding: 'utf8',
    maxBuffer: 1 << 24,
  })
  binaryen = JSON.parse(out) as BinaryenRun
} catch (err) {
  console.log(`binaryen comparison skipped: ${(err as Error).message.split('\n')[0]}\n`)
}

// ---- runtime --------------------------------------------------------------------------

const runner = new JobRunner()
type Variant = 'plain' | 'metered' | 'binaryen'
const rows: string[][] = [['program', 'as built ms', 'metered ms', 'ratio', 'binaryen ms', 'ratio', 'fuel', 'Gfuel/s']]
const ratios: number[] = []
const binaryenRatios: number[] = []
const text = new TextDecoder()

for (const [i, p] of programs.entries()) {
  progress(p.name)
  const caps = { outputBytes: p.outputBytes, stderrBytes: 4096 }
  runner.load(`${i}:metered`, p.bytes)
  runner.load(`${i}:plain`, new WebAssembly.Module(p.bytes))
  const variants: Variant[] = ['plain', 'metered']
  const b = binaryen?.modules[i]
  if (b) {
    const prepared = (own[i] as (typeof own)[number]).prepared
    const module = new WebAssembly.Module(readFileSync(b.output))
    runner.load(`${i}:binaryen`, { module, memory: prepared.memory, start: false, metering: 0 })
    variants.push('binaryen')
  }
  let fuel = 0
  const outputs = new Map<Variant, string>()
  const once = (v: Variant) => {
    const r = runner.run(`${i}:${v}`, p.input, caps)
    if (!r.ok) throw new Error(`${p.name} (${v}): ${r.code}: ${r.message}`)
    if (v === 'metered') fuel = r.fuel
    return r
  }
  for (let w = 0; w < 2; w++) {
    for (const v of variants) {
      const r = once(v)
      const digest = p.input.length > 1000 ? String(r.output.length) + text.decode(r.output.subarray(0, 64)) : text.decode(r.output)
      if (w === 1) outputs.set(v, digest)
    }
  }
  for (const v of variants) if (outputs.get(v) !== outputs.get('plain')) throw new Error(`${p.name}: ${v} output differs`)
  const t = performance.now()
  once('plain')
  const reps = Math.max(1, Math.ceil(SAMPLE_MS / Math.max(0.01, performance.now() - t)))
  const samples = new Map<Variant, number[]>(variants.map((v) => [v, []]))
  for (let r = 0; r < rounds; r++) {
    for (let k = 0; k < variants.length; k++) {
      const v = variants[(r + k) % variants.length] as Variant
      const t0 = performance.now()
      for (let n = 0; n < reps; n++) once(v)
      samples.get(v)?.push((performance.now() - t0) / reps)
    }
  }
  const med = (v: Variant) => summarize(samples.get(v) ?? []).p50
  const ratio = med('metered') / med('plain')
  ratios.push(ratio)
  const bRatio = b ? med('binaryen') / med('plain') : NaN
  if (b) binaryenRatios.push(bRatio)
  rows.push([
    p.name,
    fmtMs(med('plain')),
    fmtMs(med('metered')),
    fmtX(ratio),
    b ? fmtMs(med('binaryen')) : '-',
    b ? fmtX(bRatio) : '-',
    fuel.toLocaleString('en-US'),
    (fuel / med('metered') / 1e6).toFixed(2),
  ])
}

console.log('runtime (median ms per run; ratio = metered / as built, same run):')
console.log(table(rows))
const median = summarize(ratios).p50
const geo = Math.exp(ratios.reduce((s, r) => s + Math.log(r), 0) / ratios.length)
console.log(`metered / as built: median ${fmtX(median)}, geometric mean ${fmtX(geo)}, worst ${fmtX(Math.max(...ratios))} over ${ratios.length} programs`)
if (binaryenRatios.length > 0) {
  console.log(`binaryen prototype (fuel counter kept in the global): median ${fmtX(summarize(binaryenRatios).p50)}, worst ${fmtX(Math.max(...binaryenRatios))}`)
}

// ---- the comparison -----------------------------------------------------------------------

const instr: string[][] = [['module', 'size', 'own pass: size', 'ms (cold)', 'binaryen: size', 'ms']]
for (const [i, p] of programs.entries()) {
  const o = own[i] as (typeof own)[number]
  const b = binaryen?.modules[i]
  instr.push([
    p.name,
    kb(p.bytes.length),
    `${kb(o.prepared.bytes.length)} (${(o.prepared.bytes.length / p.bytes.length).toFixed(2)}x)`,
    `${fmtMs(o.ms)} (${fmtMs(o.coldMs)})`,
    b ? `${kb(b.outBytes)} (${(b.outBytes / b.inBytes).toFixed(2)}x)` : '-',
    b ? fmtMs(b.ms) : '-',
  ])
}
console.log('\ninstrumentation (own pass: median of 9 after a cold first run; binaryen: one run each, in a plain node):')
console.log(table(instr))
const ownSource = readdirSync(join(ROOT, 'agent/engine/instrument'))
  .filter((f) => f.endsWith('.ts') && !f.endsWith('.test.ts'))
  .reduce((s, f) => s + statSync(join(ROOT, 'agent/engine/instrument', f)).size, 0)
const binaryenDir = join(ROOT, 'node_modules/binaryen')
let binaryenSize = 0
try {
  binaryenSize = dirBytes(binaryenDir)
} catch {
  // not installed
}
console.log(
  `install size: own pass ${kb(ownSource)} of TypeScript, no dependency; binaryen ${(binaryenSize / 1048576).toFixed(1)} MiB (node_modules/binaryen)`,
)
if (binaryen) {
  console.log(`loading binaryen: ${fmtMs(binaryen.loadMs)} ms in plain node (the agent runs under tsx, which transforms its 13.5 MB file first: seconds)`)
}
console.log('')
target(`metering overhead median <= ${TARGET_RATIO}x`, fmtX(median), median <= TARGET_RATIO)
