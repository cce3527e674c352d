/**
 * Readings into windows, the same on every agent that sees the same readings:
 *
 * - `{count: N}`: window `seq` is the next N readings after the previous
 *   window's last one (the cursor);
 * - `{ms: T}`: window `seq` holds the readings whose `ts` falls in
 *   [epoch + (seq-1)·T, epoch + seq·T); it closes once the clock passes its end
 *   plus `graceMs`, empty or not; a reading for a window already closed is
 *   `late` (counted, dropped). After a long gap at most `maxCatchUp` empty
 *   windows are closed at once; older ones are `skipped` (counted).
 *
 * `resume` starts after a published window (the retained stream state): the
 * next seq, and the readings up to its cursor dropped.
 */
import type { StreamCursor, WindowSpec } from '../../protocol/streams.ts'

export interface Reading {
  /** The payload as one line of the module's stdin. */
  line: string
  /** The reading's own `ts` when it has one, else when it arrived. */
  ts: number
  /** sha256 hex of the payload. */
  digest: string
}

export interface ClosedWindow {
  seq: number
  readings: Reading[]
  from: number
  to: number
}

export interface WindowerCounts {
  late: number
  skipped: number
}

export class Windower {
  /** The seq the next window closed will have. */
  nextSeq = 1
  readonly counts: WindowerCounts = { late: 0, skipped: 0 }
  private current: Reading[] = []
  private readonly slots = new Map<number, Reading[]>()

  constructor(
    private readonly spec: WindowSpec,
    private readonly epoch: number,
    private readonly o: { graceMs: number; maxCatchUp: number },
  ) {}

  /** Readings held in windows not closed yet. */
  get buffered(): number {
    let n = this.current.length
    for (const r of this.slots.values()) n += r.length
    return n
  }

  /** Continues after window `seq` whose last reading was `cursor`. */
  resume(seq: number, cursor: StreamCursor | undefined): void {
    this.nextSeq = seq + 1
    if (this.spec.count !== undefined) this.current = cursor ? afterCursor(this.current, cursor) : this.current
    else for (const k of [...this.slots.keys()]) if (k < this.nextSeq) this.slots.delete(k)
  }

  /** A reading: for count windows, the windows it closes. */
  push(r: Reading): ClosedWindow[] {
    if (this.spec.count !== undefined) {
      this.current.push(r)
      if (this.current.length < this.spec.count) return []
      const readings = this.current
      this.current = []
      return [{ seq: this.nextSeq++, readings, from: (readings[0] as Reading).ts, to: (readings.at(-1) as Reading).ts }]
    }
    const seq = this.slotOf(r.ts)
    if (seq < this.nextSeq) {
      this.counts.late++
      return []
    }
    let list = this.slots.get(seq)
    if (!list) this.slots.set(seq, (list = []))
    list.push(r)
    return []
  }

  /** Time windows whose end + grace has passed by `now`, in order (none for count windows). */
  tick(now: number): ClosedWindow[] {
    const ms = this.spec.ms
    if (ms === undefined) return []
    const last = Math.floor((now - this.o.graceMs - this.epoch) / ms) // windows 1..last have ended
    if (last < this.nextSeq) return []
    if (last - this.nextSeq + 1 > this.o.maxCatchUp) {
      const to = last - this.o.maxCatchUp + 1
      for (let s = this.nextSeq; s < to; s++) {
        if (this.slots.delete(s)) continue
        this.counts.skipped++
      }
      this.nextSeq = to
    }
    const out: ClosedWindow[] = []
    for (let s = this.nextSeq; s <= last; s++) {
      const readings = this.slots.get(s) ?? []
      this.slots.delete(s)
      out.push({ seq: s, readings, from: this.epoch + (s - 1) * ms, to: this.epoch + s * ms })
    }
    this.nextSeq = last + 1
    return out
  }

  /** When the next time window closes (undefined for count windows). */
  nextDeadline(): number | undefined {
    const ms = this.spec.ms
    return ms === undefined ? undefined : this.epoch + this.nextSeq * ms + this.o.graceMs
  }

  private slotOf(ts: number): number {
    return Math.floor((ts - this.epoch) / (this.spec.ms as number)) + 1
  }
}

/** The readings after the cursor: after the one it names, or (not among them) those newer than its ts. */
export function afterCursor(readings: Reading[], cursor: StreamCursor): Reading[] {
  for (let i = readings.length - 1; i >= 0; i--) {
    const r = readings[i] as Reading
    if (r.digest === cursor.digest && r.ts === cursor.ts) return readings.slice(i + 1)
  }
  return readings.filter((r) => r.ts > cursor.ts)
}
