/** Per-process CPU accounting: this process from process.cpuUsage, others from /proc (10 ms ticks). */
import { readFileSync } from 'node:fs'

const TICK_MS = 10 // CLK_TCK is 100 on Linux

/** utime + stime of a process (all its threads), in ms. */
export function processCpuMs(pid: number): number {
  try {
    const stat = readFileSync(`/proc/${pid}/stat`, 'utf8')
    const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
    return (Number(f[11]) + Number(f[12])) * TICK_MS
  } catch {
    return NaN
  }
}

export interface CpuSample {
  wallMs: number
  /** CPU ms per process label over the window, this process included as `self`. */
  byProcess: Record<string, number>
}

/** Measures CPU time of this process (precise, from process.cpuUsage) and of the given pids (10 ms ticks). */
export function cpuSampler(pids: Array<{ label: string; pid: number }>): { stop(): CpuSample } {
  const t0 = performance.now()
  const self0 = process.cpuUsage()
  const others0 = pids.map((p) => processCpuMs(p.pid))
  return {
    stop() {
      const self = process.cpuUsage(self0)
      const byProcess: Record<string, number> = { self: (self.user + self.system) / 1000 }
      pids.forEach((p, i) => (byProcess[p.label] = processCpuMs(p.pid) - (others0[i] as number)))
      return { wallMs: performance.now() - t0, byProcess }
    },
  }
}
