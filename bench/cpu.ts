/**
 * Per-process CPU accounting: this process from process.cpuUsage, others from /proc (10 ms ticks).
 *
 * A process counts with everything it started: an agent's job executor (a child process of the
 * agent, agent/engine/executor/process-executor.ts) is part of that agent's figure, and the
 * executors of agents running inside this process (its own children) are counted as `executors`. /proc's own
 * cutime/cstime would not do: they only count children that have exited and been waited for.
 */
import { readdirSync, readFileSync } from 'node:fs'

const TICK_MS = 10 // CLK_TCK is 100 on Linux

/** utime + stime of one process (all its threads), in ms. */
function ownCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) * TICK_MS
  } catch {
    return NaN
  }
}

/** Every live descendant of `pid` (children of all its threads, recursively). */
export function descendants(pid: number): number[] {
  return children(pid).flatMap((c) => [c, ...descendants(c)])
}

/** CPU ms per live process of a tree, by pid (a process that ended is missing: its CPU left the tree with it). */
function treeCpu(pid: number): Map<number, number> {
  const m = new Map<number, number>()
  for (const p of [pid, ...descendants(pid)]) {
    const t = ownCpuMs(p)
    if (!Number.isNaN(t)) m.set(p, t)
  }
  return m
}

/** utime + stime of a process and its live descendants, in ms. */
export function processCpuMs(pid: number): number {
  let sum = 0
  for (const t of treeCpu(pid).values()) sum += t
  return sum
}

/** CPU a tree used between two readings; a process that started in between counts from 0. */
function spent(before: Map<number, number>, after: Map<number, number>): number {
  let sum = 0
  for (const [p, t] of after) sum += t - (before.get(p) ?? 0)
  return sum
}

const isExecutor = (pid: number) => {
  try {
    return readFileSync(`/proc/${pid}/cmdline`, 'utf8').includes('executor.main')
  } catch {
    return false
  }
}

/** The children of `pid` (of all its threads); none when it has ended. */
function children(pid: number): number[] {
  const out: number[] = []
  let tasks: string[]
  try {
    tasks = readdirSync(`/proc/${pid}/task`)
  } catch {
    return out
  }
  for (const tid of tasks) {
    try {
      out.push(...readFileSync(`/proc/${pid}/task/${tid}/children`, 'utf8').split(' ').filter(Boolean).map(Number))
    } catch {
      // thread ended
    }
  }
  return out
}

/** Job executors started by agents inside this process: its own children running executor.main (those of child agents are theirs). */
function ownExecutors(labelled: number[]): Map<number, number> {
  const skip = new Set(labelled)
  const m = new Map<number, number>()
  for (const p of children(process.pid)) {
    if (skip.has(p) || !isExecutor(p)) continue
    for (const [q, t] of treeCpu(p)) m.set(q, t)
  }
  return m
}

export interface CpuSample {
  wallMs: number
  /** CPU ms per process label over the window, this process included as `self`. */
  byProcess: Record<string, number>
}

/**
 * Measures CPU time of this process (precise, from process.cpuUsage) and of the given pids
 * (10 ms ticks), each with its descendants; plus `executors`, those of in-process agents.
 */
export function cpuSampler(pids: Array<{ label: string; pid: number }>): { stop(): CpuSample } {
  const t0 = performance.now()
  const self0 = process.cpuUsage()
  const others0 = pids.map((p) => treeCpu(p.pid))
  const executors0 = ownExecutors(pids.map((p) => p.pid))
  return {
    stop() {
      const self = process.cpuUsage(self0)
      const byProcess: Record<string, number> = { self: (self.user + self.system) / 1000 }
      pids.forEach((p, i) => (byProcess[p.label] = spent(others0[i] as Map<number, number>, treeCpu(p.pid))))
      const executors = spent(executors0, ownExecutors(pids.map((p) => p.pid)))
      if (executors > 0) byProcess.executors = executors
      return { wallMs: performance.now() - t0, byProcess }
    },
  }
}
