/**
 * How `fogmesh broker` prints the broker's `limit` events: the first bite of
 * each limit at once, then at most one line per limit every `everyMs` with
 * how many more there were — an attack does not become a flood of log lines.
 */
import type { LimitEvent } from '../broker/limits/broker-limits.ts'

export interface LimitLogger {
  onLimit(e: LimitEvent): void
  /** Any other repeated line, counted under `key`. */
  line(key: string, text: string): void
  stop(): void
}

export function limitLogger(print: (line: string) => void, everyMs = 5000): LimitLogger {
  const quiet = new Map<string, number>()
  const timer = setInterval(() => {
    for (const [key, n] of quiet) if (n > 0) print(`${key.includes(' ') ? key : `limit ${key}`}: ${n} more in the last ${everyMs / 1000} s`)
    quiet.clear()
  }, everyMs)
  timer.unref()
  const line = (key: string, text: string) => {
    const n = quiet.get(key)
    if (n !== undefined) return void quiet.set(key, n + 1)
    quiet.set(key, 0)
    print(text)
  }
  return {
    onLimit: (e) => line(e.limit, `limit ${e.limit} (${e.cap}): ${e.action} ${e.clientId || e.remote || ''} at ${e.value}`.replace(/ {2,}/g, ' ')),
    line,
    stop: () => clearInterval(timer),
  }
}
