/**
 * Engine figures: the cost of one fresh instance + run of a tiny echo job in
 * the current thread (and of one that ends with proc_exit(0), whose stop unwinds
 * the guest: wasi/stop.ts), and the throughput of the worker pool with a fixed
 * number of jobs in flight, with every job posted to a worker and with the inline try
 * (worker/inline-slice.ts: tiny metered jobs run on the pool's thread, as in the executor process).
 *
 * Then the agent's layout — this process talking over IPC to an executor process that runs
 * the pool — with and without the inline try, alternating for `rounds` rounds; CPU per job
 * there counts this process and the executor process (bench/cpu.ts, from /proc).
 *
 *   node --import tsx agent/engine/engine.bench.ts [workers=2] [inFlight=32] [seconds=3] [rounds=3]
 */
import { availableParallelism } from 'node:os'
import { JobError } from '../../protocol/errors.ts'
import { echo, exitZero } from '../../test/fixtures/engine/modules.ts'
import { JobRunner } from './runner/job-runner.ts'
import { processCpuMs } from '../../bench/cpu.ts'
import { createProcessExecutor } from './executor/process-executor.ts'
import type { Executor, RunRequest } from './executor.ts'
import { DEFAULT_INLINE_FUEL } from './worker/inline-slice.ts'
import { createWorkerPool } from './worker/pool.ts'

const workers = Number(process.argv[2] ?? 2)
const inFlight = Number(process.argv[3] ?? 32)
const seconds = Number(process.argv[4] ?? 3)
const rounds = Number(process.argv[5] ?? 3)
const fixture = echo()
const input = new TextEncoder().encode('hello, edge')
const caps = { outputBytes: 65536, stderrBytes: 4096 }

/** Microseconds per run of `f` (metered, prepared from its bytes) in a JobRunner on this thread. */
function perRun(f: { sha256: string; bytes: Uint8Array }, n: number): number {
  const runner = new JobRunner()
  runner.load(f.sha256, f.bytes)
  for (let i = 0; i < 2000; i++) runner.run(f.sha256, input, caps) // warm up
  const t = performance.now()
  for (let i = 0; i < n; i++) {
    const r = runner.run(f.sha256, input, caps)
    if (!r.ok) throw new JobError(r.code, r.message)
  }
  return ((performance.now() - t) * 1000) / n
}

function inThread(): { instantiateUs: number; runUs: number } {
  const runner = new JobRunner()
  runner.load(fixture.sha256, fixture.module)
  const n = 20_000
  for (let i = 0; i < 2000; i++) runner.run(fixture.sha256, input, caps) // warm up
  const noop = () => 0
  const bare = { wasi_snapshot_preview1: { fd_read: noop, fd_write: noop } }
  let t = performance.now()
  for (let i = 0; i < n; i++) new WebAssembly.Instance(fixture.module, bare)
  const instantiateUs = ((performance.now() - t) * 1000) / n
  t = performance.now()
  for (let i = 0; i < n; i++) {
    const r = runner.run(fixture.sha256, input, caps)
    if (!r.ok) throw new JobError(r.code, r.message)
  }
  return { instantiateUs, runUs: ((performance.now() - t) * 1000) / n }
}

interface Through {
  jobsPerSecond: number
  p50Ms: number
  p99Ms: number
  mainUsPerJob: number
  /** CPU of every thread of this process and of the executor process (if any), per job. */
  cpuUsPerJob: number
}

/** `inFlight` lanes of echo jobs through `ex` for `seconds` after 1 s of warm-up; `otherCpuMs` reads the CPU of processes besides this one. */
async function through(ex: Executor, otherCpuMs: () => number = () => 0): Promise<Through> {
  await ex.load(fixture.sha256, fixture.bytes)
  const request: RunRequest = { jobId: 'bench', module: fixture.sha256, input, limits: { timeoutMs: 5000, ...caps } }
  const latencies: number[] = []
  let done = 0
  let measuring = false
  const until = { warm: performance.now() + 1000, end: 0 }
  let elu = performance.eventLoopUtilization()
  let cpu = process.cpuUsage()
  let other = otherCpuMs()
  async function lane(): Promise<void> {
    for (;;) {
      const t = performance.now()
      if (!measuring && t >= until.warm) {
        measuring = true
        until.end = t + seconds * 1000
        elu = performance.eventLoopUtilization()
        cpu = process.cpuUsage()
        other = otherCpuMs()
        done = 0
        latencies.length = 0
      }
      if (measuring && t >= until.end) return
      const out = await ex.run(request)
      if (out.status !== 'ok') throw new JobError(out.code, out.message)
      done++
      latencies.push(performance.now() - t)
    }
  }
  await Promise.all(Array.from({ length: inFlight }, lane))
  const busy = performance.eventLoopUtilization(elu)
  const used = process.cpuUsage(cpu) // every thread of this process: main and workers
  const otherMs = otherCpuMs() - other
  await ex.close()
  latencies.sort((a, b) => a - b)
  const at = (q: number) => latencies[Math.min(latencies.length - 1, Math.floor(latencies.length * q))] ?? 0
  return {
    jobsPerSecond: done / seconds,
    p50Ms: at(0.5),
    p99Ms: at(0.99),
    mainUsPerJob: (busy.active * 1000) / done,
    cpuUsPerJob: (used.user + used.system + otherMs * 1000) / done,
  }
}

async function throughPool(inlineFuel = 0): Promise<Through> {
  const pool = createWorkerPool({ size: workers, queueLimit: inFlight * 2, inlineFuel })
  await pool.ready()
  return through(pool)
}

/** The agent's layout: this process sends over IPC to an executor process, which runs the pool. */
async function throughProcess(inlineFuel: number): Promise<Through> {
  const ex = createProcessExecutor({ size: workers, queueLimit: inFlight * 2, inlineFuel })
  const { pid } = await ex.ready()
  return through(ex, () => processCpuMs(pid))
}

const fmt = (t: Through) => `${Math.round(t.jobsPerSecond)} jobs/s, latency p50 ${t.p50Ms.toFixed(2)} ms, p99 ${t.p99Ms.toFixed(2)} ms, cpu ${t.cpuUsPerJob.toFixed(0)} us/job`
const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0

const thread = inThread()
const metered = { echo: perRun(fixture, 20_000), exit: perRun(exitZero(), 20_000) }
const pool = await throughPool()
const inlined = await throughPool(DEFAULT_INLINE_FUEL)
// through the executor process, inline try off and on, alternating (the machine's load drifts)
const proc: { off: Through[]; on: Through[] } = { off: [], on: [] }
for (let i = 0; i < rounds; i++) {
  proc.off.push(await throughProcess(0))
  proc.on.push(await throughProcess(DEFAULT_INLINE_FUEL))
}
const med = (ts: Through[], k: keyof Through) => median(ts.map((t) => t[k]))
const perJobUs = (workers * 1e6) / pool.jobsPerSecond
process.stdout.write(
  [
    `node ${process.versions.node}, ${availableParallelism()} cpus`,
    `in-thread: new WebAssembly.Instance ${thread.instantiateUs.toFixed(1)} us; instantiate + run echo (fresh instance, WASI host) ${thread.runUs.toFixed(1)} us/job`,
    `in-thread, metered: echo ${metered.echo.toFixed(1)} us/job; a job ending in proc_exit(0) (the stop unwinds it) ${metered.exit.toFixed(1)} us/job (${(metered.exit / metered.echo).toFixed(2)}x)`,
    `pool (${workers} workers, ${inFlight} in flight, ${seconds} s): ${Math.round(pool.jobsPerSecond)} jobs/s, latency p50 ${pool.p50Ms.toFixed(2)} ms, p99 ${pool.p99Ms.toFixed(2)} ms`,
    `main thread busy ${pool.mainUsPerJob.toFixed(1)} us/job (queue, dispatch, reply, promise); cpu, all threads ${pool.cpuUsPerJob.toFixed(1)} us/job`,
    `pool with the inline try (inlineFuel ${DEFAULT_INLINE_FUEL}): ${Math.round(inlined.jobsPerSecond)} jobs/s (${(inlined.jobsPerSecond / pool.jobsPerSecond).toFixed(2)}x), latency p50 ${inlined.p50Ms.toFixed(2)} ms, p99 ${inlined.p99Ms.toFixed(2)} ms; cpu, all threads ${inlined.cpuUsPerJob.toFixed(1)} us/job (${(inlined.cpuUsPerJob / pool.cpuUsPerJob).toFixed(2)}x)`,
    `${workers} workers x wall time / jobs = ${perJobUs.toFixed(1)} us/job => ~${(perJobUs - thread.runUs).toFixed(1)} us/job beyond the in-thread run (messaging, and sharing the cpus with the main thread)`,
    ...proc.off.map((t, i) => `executor process (${workers} workers, ${inFlight} in flight), round ${i + 1}: every job to a worker ${fmt(t)}; inline try ${fmt(proc.on[i]!)}`),
    `executor process, median of ${rounds}: inline try / every job to a worker: jobs/s ${(med(proc.on, 'jobsPerSecond') / med(proc.off, 'jobsPerSecond')).toFixed(2)}x, p50 ${(med(proc.on, 'p50Ms') / med(proc.off, 'p50Ms')).toFixed(2)}x, cpu/job (this process + executor) ${(med(proc.on, 'cpuUsPerJob') / med(proc.off, 'cpuUsPerJob')).toFixed(2)}x`,
    '',
  ].join('\n'),
)
