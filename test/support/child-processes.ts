/**
 * Child processes that tests and benches start: each tracked one is killed
 * when this process exits, whatever happened; stopping one is SIGTERM, then
 * SIGKILL after a grace period.
 */
import type { ChildProcess } from 'node:child_process'

const tracked = new Set<ChildProcess>()
process.on('exit', () => {
  for (const c of tracked) if (isRunning(c)) c.kill('SIGKILL')
})

const isRunning = (c: ChildProcess) => c.exitCode === null && c.signalCode === null && c.pid !== undefined

/** Kills `child` with SIGKILL when this process exits (if it still runs then). Returns it. */
export function trackChild<C extends ChildProcess>(child: C): C {
  tracked.add(child)
  child.once('exit', () => tracked.delete(child))
  return child
}

/**
 * Turns SIGINT and SIGTERM into `process.exit(130)`, so that the exit handlers run
 * (tracked children killed, temp dirs removed). For entry scripts (benches) only:
 * a library must not take the process's shutdown away from its host.
 */
export function exitOnSignal(): void {
  for (const sig of ['SIGINT', 'SIGTERM'] as const) process.once(sig, () => process.exit(130))
}

/** Resolves with the exit code once `proc` has exited; throws after `timeoutMs`. */
export function exited(proc: ChildProcess, timeoutMs: number): Promise<number | null> {
  return new Promise((resolve, reject) => {
    if (proc.exitCode !== null || proc.signalCode !== null) return resolve(proc.exitCode)
    const timer = setTimeout(() => reject(new Error(`process ${proc.pid} did not exit within ${timeoutMs} ms`)), timeoutMs)
    proc.once('exit', (code) => {
      clearTimeout(timer)
      resolve(code)
    })
  })
}

/** Stops a child we started: `signal` (SIGTERM by default), then SIGKILL after `graceMs`. */
export async function stopChild(child: ChildProcess | undefined, opts: { signal?: NodeJS.Signals; graceMs?: number } = {}): Promise<void> {
  if (!child || child.exitCode !== null || child.signalCode !== null) return
  const done = new Promise<void>((r) => child.once('exit', () => r()))
  child.kill(opts.signal ?? 'SIGTERM')
  const t = setTimeout(() => child.kill('SIGKILL'), opts.graceMs ?? 3000)
  await done
  clearTimeout(t)
}
