/**
 * The inline try (agent/engine/worker/inline-slice.ts) against hostile jobs: per case, the
 * worker pool's time per run with the try on (`inlineFuel` DEFAULT_INLINE_FUEL) and off (0),
 * interleaved, and the try's own time. A try that is not kept is paid on top of the worker's
 * run: this shows what it costs (test/hostile.test.ts's cases).
 *
 * Then the same through two executor processes (the agent's path: the try runs on the executor
 * process's main thread), in test/hostile.test.ts's order: a deadline kill, the memory bomb,
 * the 4 GiB memory, a good job — the memory bomb's time from request to outcome.
 *
 *   npx tsx bench/inline-hostile.bench.ts [runs=40]
 */
import { loadavg } from 'node:os'
import * as fx from '../test/fixtures/engine/modules.ts'
import type { RunLimits } from '../agent/engine/executor.ts'
import { DEFAULT_INLINE_FUEL, InlineSlice } from '../agent/engine/worker/inline-slice.ts'
import { compileJob } from '../agent/engine/runner/prepare-job.ts'
import { createWorkerPool } from '../agent/engine/worker/pool.ts'
import { createProcessExecutor } from '../agent/engine/executor/process-executor.ts'

const runs = Number(process.argv[2] ?? 40)
const base: RunLimits = { timeoutMs: 1000, outputBytes: 1 << 20, stderrBytes: 4096, deterministic: true }
const cases = [
  { name: 'memory bomb (16 MiB cap)', m: fx.compileWat(`(module (memory (export "memory") 1)
  (func (export "_start") (loop $more (br_if $more (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) unreachable))`), limits: { memoryMiB: 16 } },
  { name: 'memory bomb (256 MiB cap)', m: fx.compileWat(`(module (memory (export "memory") 1)
  (func (export "_start") (loop $more (br_if $more (i32.ne (memory.grow (i32.const 16)) (i32.const -1)))) unreachable))`), limits: { memoryMiB: 256 } },
  { name: '200 MiB initial, then spin', m: fx.compileWat(`(module (memory (export "memory") 3200) (func (export "_start") (loop $l (br $l))))`), limits: { fuel: 10_000_000 } },
  { name: 'one 240 MiB grow, then fill', m: fx.compileWat(`(module (memory (export "memory") 1)
  (func (export "_start") (drop (memory.grow (i32.const 3840))) (memory.fill (i32.const 0) (i32.const 1) (i32.const 251658240)) (loop $l (br $l))))`), limits: { fuel: 10_000_000 } },
  { name: '4 GiB initial memory', m: fx.compileWat(`(module (memory (export "memory") 65536) (func (export "_start")))`), limits: {} },
  { name: 'echo (control)', m: fx.echo(), limits: {} },
]
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)]!
const p90 = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length * 0.9)]!

const on = createWorkerPool({ size: 2, warm: 2, inlineFuel: DEFAULT_INLINE_FUEL })
const off = createWorkerPool({ size: 2, warm: 2, inlineFuel: 0 })
await Promise.all([on.ready(), off.ready()])
console.log(`load ${loadavg().map((x) => x.toFixed(2)).join(' ')}; ${runs} runs per case, interleaved`)
let seq = 0
for (const c of cases) {
  const bytes = c.m.bytes
  const sha = (await on.load(c.m.sha256, bytes)).sha256
  await off.load(c.m.sha256, bytes)
  let slice = new InlineSlice(DEFAULT_INLINE_FUEL)
  let job: ReturnType<typeof compileJob>['job'] | undefined
  try {
    job = compileJob(sha, bytes).job
  } catch {
    job = undefined
  }
  if (job) slice.load(sha, job)
  const t: Record<'on' | 'off' | 'try', number[]> = { on: [], off: [], try: [] }
  let code = ''
  for (let i = 0; i < runs + 3; i++) {
    const limits = { ...base, ...c.limits }
    for (const [k, pool] of [['on', on], ['off', off]] as const) {
      const s = performance.now()
      const r = await pool.run({ jobId: `j${seq++}`, module: sha, input: new Uint8Array(), limits })
      if (i >= 3) t[k].push(performance.now() - s)
      code = r.status === 'ok' ? 'ok' : r.code
    }
    if (job) {
      // a fresh slice each time: every run is a try (a module that keeps missing is tried only INLINE_MISS_LIMIT times)
      slice = new InlineSlice(DEFAULT_INLINE_FUEL)
      slice.load(sha, job)
      const s = performance.now()
      slice.tryRun({ jobId: `j${seq++}`, module: sha, input: new Uint8Array(), limits })
      if (i >= 3) t.try.push(performance.now() - s)
    }
  }
  const f = (xs: number[]) => (xs.length ? `p50 ${median(xs).toFixed(2)} ms p90 ${p90(xs).toFixed(2)} ms` : '-')
  console.log(`${c.name.padEnd(26)} ${code.padEnd(13)} inline on: ${f(t.on)} | off: ${f(t.off)} | the try alone: ${f(t.try)} | on/off p50 ${(median(t.on) / median(t.off)).toFixed(2)}×`)
}
await Promise.all([on.close(), off.close()])

// ---- through executor processes, in the hostile suite's order
const exOn = createProcessExecutor({ size: 2, queueLimit: 64, warm: 2 })
const exOff = createProcessExecutor({ size: 2, queueLimit: 64, warm: 2, inlineFuel: 0 })
await Promise.all([exOn.ready(), exOff.ready()])
const seqCases = [
  { name: 'spin', m: fx.spin(), limits: { timeoutMs: 300 } },
  cases[0]!,
  cases[4]!,
  cases[5]!,
]
for (const ex of [exOn, exOff]) for (const c of seqCases) await ex.load(c.m.sha256, c.m.bytes)
const bomb: Record<'on' | 'off', number[]> = { on: [], off: [] }
const rounds = Math.max(5, Math.ceil(runs / 4))
for (let i = 0; i < rounds; i++) {
  for (const [k, ex] of [['on', exOn], ['off', exOff]] as const) {
    for (const c of seqCases) {
      const s = performance.now()
      await ex.run({ jobId: `p${seq++}`, module: c.m.sha256, input: new Uint8Array(), limits: { ...base, ...c.limits } })
      if (c === cases[0]) bomb[k].push(performance.now() - s)
    }
  }
}
const g = (xs: number[]) => `p50 ${median(xs).toFixed(2)} ms p90 ${p90(xs).toFixed(2)} ms max ${Math.max(...xs).toFixed(1)} ms`
console.log(`executor processes, ${rounds} rounds of the hostile order: memory bomb inline on: ${g(bomb.on)} | off: ${g(bomb.off)} | on/off p50 ${(median(bomb.on) / median(bomb.off)).toFixed(2)}×; load ${loadavg()[0]!.toFixed(2)}`)
await Promise.all([exOn.close(), exOff.close()])
