/**
 * A latency histogram with logarithmic buckets (2% resolution from 1 µs to
 * ~1 hour): constant memory however long `fogmesh up` runs, percentiles in
 * one pass. Used by `fogmesh up` and the benchmarks.
 */
const GROWTH = 1.02
const MIN_MS = 0.001
const BUCKETS = 1500

export class LatencyHistogram {
  private readonly counts = new Uint32Array(BUCKETS)
  count = 0
  sum = 0
  max = 0

  record(ms: number): void {
    const v = Math.max(ms, MIN_MS)
    const i = Math.min(BUCKETS - 1, Math.floor(Math.log(v / MIN_MS) / Math.log(GROWTH)))
    this.counts[i]!++
    this.count++
    this.sum += ms
    if (ms > this.max) this.max = ms
  }

  /** The p-th percentile (0..100), as the upper edge of its bucket. */
  percentile(p: number): number {
    if (this.count === 0) return NaN
    const rank = Math.ceil((p / 100) * this.count)
    let seen = 0
    for (let i = 0; i < BUCKETS; i++) {
      seen += this.counts[i]!
      if (seen >= rank) return Math.min(this.max, MIN_MS * GROWTH ** (i + 1))
    }
    return this.max
  }

  mean(): number {
    return this.count ? this.sum / this.count : NaN
  }
}

export const fmtMs = (ms: number) => (Number.isNaN(ms) ? '-' : ms < 10 ? `${ms.toFixed(2)} ms` : `${ms.toFixed(1)} ms`)
