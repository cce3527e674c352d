/**
 * The agent <-> executor process hop alone: the mesh's echo module (the throughput bench's job)
 * run through a ProcessExecutor (the agent's default, inline try on) with 1 job in flight (a lone
 * job: the tiny-job latency path) and with `lanes` in flight where each lane submits again on its
 * own turn (as jobs arrive from MQTT one message at a time, not all in one tick). CPU per job counts
 * this process (the agent side) and the executor process with its workers (/proc, bench/cpu.ts).
 *
 *   node --import tsx bench/executor-hop.bench.ts [seconds=3] [lanes=8] [rounds=3]
 *
 * FM_HOP_NODE_FLAGS="...": node flags of the executor process instead of the agent's own.
 */
import { createHash } from 'node:crypto'
import { processCpuMs } from './cpu.ts'
import { createProcessExecutor } from '../agent/engine/executor/process-executor.ts'
import type { RunRequest } from '../agent/engine/executor.ts'
import { loadModule } from '../wasm-modules/index.ts'
import { exitOnSignal } from '../test/support/child-processes.ts'

exitOnSignal()

const SECONDS = Number(process.argv[2] ?? 3)
const LANES = Number(process.argv[3] ?? 8)
const ROUNDS = Number(process.argv[4] ?? 3)
const bytes = await loadModule('echo')
const sha256 = createHash('sha256').update(bytes).digest('hex')
const input = Buffer.from('hello, edge')

interface Figures {
  jobsPerSecond: number
  p50Ms: number
  p99Ms: number
  cpuUsPerJob: number
  /** This process alone: the agent side (executor client, IPC) and the bench's own loop. */
  agentUsPerJob: number
}

async function measure(lanes: number): Promise<Figures> {
  const ex = createProcessExecutor({ size: 2, ...(process.env.FM_HOP_NODE_FLAGS ? { nodeFlags: process.env.FM_HOP_NODE_FLAGS.split(' ') } : {}) })
  const { pid } = await ex.ready()
  await ex.load(sha256, bytes)
  let k = 0
  const request = (): RunRequest => ({ jobId: `hop-${k++}`, module: sha256, input, limits: { timeoutMs: 5000, outputBytes: 65536, stderrBytes: 4096, fuel: 1_000_000, memoryMiB: 64, deterministic: true } })
  const lat: number[] = []
  let done = 0
  let measuring = false
  let end = 0
  const warmUntil = performance.now() + 1000
  let cpu = process.cpuUsage()
  let other = processCpuMs(pid)
  let t0 = 0
  async function lane(): Promise<void> {
    for (;;) {
      // each lane's next job starts on a turn of its own, as an MQTT message would
      await new Promise((r) => setImmediate(r))
      const t = performance.now()
      if (!measuring && t >= warmUntil) {
        measuring = true
        end = t + SECONDS * 1000
        t0 = t
        cpu = process.cpuUsage()
        other = processCpuMs(pid)
        done = 0
        lat.length = 0
      }
      if (measuring && t >= end) return
      const out = await ex.run(request())
      if (out.status !== 'ok') throw new Error(`${out.code}: ${out.message}`)
      done++
      lat.push(performance.now() - t)
    }
  }
  await Promise.all(Array.from({ length: lanes }, lane))
  const wall = (performance.now() - t0) / 1000
  const used = process.cpuUsage(cpu)
  const otherMs = processCpuMs(pid) - other
  await ex.close()
  lat.sort((a, b) => a - b)
  const at = (q: number) => lat[Math.min(lat.length - 1, Math.floor(lat.length * q))] ?? 0
  return { jobsPerSecond: done / wall, p50Ms: at(0.5), p99Ms: at(0.99), cpuUsPerJob: (used.user + used.system + otherMs * 1000) / done, agentUsPerJob: (used.user + used.system) / done }
}

const median = (xs: number[]) => [...xs].sort((a, b) => a - b)[Math.floor(xs.length / 2)] ?? 0
const runs: Record<string, Figures[]> = { lone: [], lanes: [] }
for (let i = 0; i < ROUNDS; i++) {
  runs.lone!.push(await measure(1))
  runs.lanes!.push(await measure(LANES))
}
const lines = [`executor hop: echo module via a ProcessExecutor (2 workers, inline try), ${SECONDS} s x ${ROUNDS} rounds, medians`]
for (const [name, fs] of Object.entries(runs)) {
  const m = (k: keyof Figures) => median(fs.map((f) => f[k]))
  lines.push(
    `${name === 'lone' ? 'lone job     ' : `${LANES} in flight  `}: ${Math.round(m('jobsPerSecond'))} jobs/s, p50 ${m('p50Ms').toFixed(3)} ms, p99 ${m('p99Ms').toFixed(3)} ms, cpu ${m('cpuUsPerJob').toFixed(0)} us/job (agent side + executor; agent side ${m('agentUsPerJob').toFixed(1)})` +
      `   [runs cpu: ${fs.map((f) => f.cpuUsPerJob.toFixed(0)).join(', ')}; agent side: ${fs.map((f) => f.agentUsPerJob.toFixed(1)).join(', ')}; p50: ${fs.map((f) => f.p50Ms.toFixed(3)).join(', ')}]`,
  )
}
process.stdout.write(lines.join('\n') + '\n')
