/**
 * What the process boundary costs: the same echo jobs through the worker pool
 * inside the agent (isolation: thread) and through the executor process
 * (isolation: process, the default), one at a time and 32 in flight.
 *   node --import tsx bench/isolation.bench.ts
 */
import { createHash } from 'node:crypto'
import { createProcessExecutor } from '../agent/engine/executor/process-executor.ts'
import type { Executor } from '../agent/engine/executor.ts'
import { createWorkerPool } from '../agent/engine/worker/pool.ts'
import { loadModule } from '../wasm-modules/index.ts'

const echo = await loadModule('echo')
const sha = createHash('sha256').update(echo).digest('hex')
const limits = { timeoutMs: 5000, outputBytes: 1 << 20, stderrBytes: 4096, deterministic: true }
const input = Buffer.from('a few bytes of sensor data')

async function sequential(ex: Executor, n: number): Promise<number> {
  const t: number[] = []
  for (let i = 0; i < n; i++) {
    const s = performance.now()
    const r = await ex.run({ jobId: `s${i}`, module: sha, input, limits })
    if (r.status !== 'ok') throw new Error(r.message)
    t.push(performance.now() - s)
  }
  t.sort((a, b) => a - b)
  return t[Math.floor(n / 2)]! * 1000
}

async function inFlight(ex: Executor, n: number, depth: number): Promise<number> {
  const started = performance.now()
  let next = 0
  const lane = async () => {
    while (next < n) {
      const i = next++
      const r = await ex.run({ jobId: `p${i}`, module: sha, input, limits })
      if (r.status !== 'ok') throw new Error(r.message)
    }
  }
  await Promise.all(Array.from({ length: depth }, lane))
  return n / ((performance.now() - started) / 1000)
}

const rows: Array<[string, number, number]> = []
for (const [name, make] of [
  ['thread (worker pool in the agent)', () => createWorkerPool({ size: 2 })],
  ['process (executor process, default)', () => createProcessExecutor({ size: 2 })],
] as const) {
  const ex = make()
  await (ex as { ready(): Promise<unknown> }).ready()
  await ex.load(sha, echo)
  await sequential(ex, 300) // warm up
  const p50 = await sequential(ex, 2000)
  const jps = await inFlight(ex, 20_000, 32)
  rows.push([name, p50, jps])
  await ex.close()
}
console.log('isolation                              one at a time p50   32 in flight')
for (const [name, p50, jps] of rows) console.log(`${name.padEnd(38)} ${p50.toFixed(0).padStart(10)} µs   ${jps.toFixed(0).padStart(8)} jobs/s`)
const [thread, proc] = rows as [[string, number, number], [string, number, number]]
console.log(`process boundary: +${(proc[1] - thread[1]).toFixed(0)} µs per job one at a time; ${(proc[2] / thread[2]).toFixed(2)}x the throughput of threads with 32 in flight (batched IPC)`)
