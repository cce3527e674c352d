/**
 * The charts' data: every source's per-second buckets merged onto one
 * timeline. Counts add up; p50 is the mean of the sources' p50 weighted by
 * their jobs, p99 the highest of theirs (exact with one gateway, an estimate
 * with several). Only buckets that were complete when their source published
 * are used, so the line does not dip at its newest end. A mesh younger than
 * the span is shown from its first job on (a minute at least).
 */
import type { RequesterStats } from '../../protocol/telemetry.ts'

export interface MeshSeries {
  /** Bucket starts, seconds since the epoch (uPlot's x). */
  t: number[]
  /** Jobs answered per second. */
  rate: number[]
  failedRate: number[]
  p50: Array<number | null>
  p99: Array<number | null>
  /** Failures per second by code. */
  codes: Record<string, number[]>
}

export function meshSeries(sources: Iterable<RequesterStats>, spanMs = 300_000, stepMs = 1000): MeshSeries {
  const list = [...sources]
  let end = 0
  for (const s of list) end = Math.max(end, Math.floor(s.ts / stepMs) * stepMs)
  const n = Math.max(1, Math.round(spanMs / stepMs))
  const start = end - n * stepMs
  const out: MeshSeries = { t: [], rate: [], failedRate: [], p50: [], p99: [], codes: {} }
  const count = new Array<number>(n).fill(0)
  const failed = new Array<number>(n).fill(0)
  const p50w = new Array<number>(n).fill(0)
  const weight = new Array<number>(n).fill(0)
  const p99 = new Array<number>(n).fill(-1)
  for (const s of list) {
    const perSecond = 1000 / s.stepMs
    for (let i = 0; i < s.ok.length; i++) {
      const t = s.t0 + i * s.stepMs
      if (t + s.stepMs > s.ts || t < start || t >= end) continue // incomplete, or outside the span
      const k = Math.floor((t - start) / stepMs)
      const ok = s.ok[i] ?? 0
      const f = s.failed[i] ?? 0
      count[k]! += (ok + f) * perSecond
      failed[k]! += f * perSecond
      const q50 = s.p50[i] ?? -1
      if (q50 >= 0) {
        p50w[k]! += q50 * (ok + f)
        weight[k]! += ok + f
      }
      p99[k] = Math.max(p99[k]!, s.p99[i] ?? -1)
      for (const [code, series] of Object.entries(s.errors)) {
        const v = series[i] ?? 0
        if (v === 0) continue
        const c = (out.codes[code] ??= new Array<number>(n).fill(0))
        c[k]! += v * perSecond
      }
    }
  }
  // a mesh younger than the span: start at its first job (but show a minute at least)
  const firstJob = count.findIndex((c) => c > 0)
  const from = firstJob < 0 ? Math.max(0, n - 60) : Math.min(firstJob, Math.max(0, n - 60))
  for (const c of Object.keys(out.codes)) out.codes[c] = out.codes[c]!.slice(from)
  for (let k = from; k < n; k++) {
    out.t.push((start + k * stepMs) / 1000)
    out.rate.push(count[k]!)
    out.failedRate.push(failed[k]!)
    out.p50.push(weight[k]! > 0 ? p50w[k]! / weight[k]! : null)
    out.p99.push(p99[k]! >= 0 ? p99[k]! : null)
  }
  return out
}

/** Mean of the last `k` values (the tiles' "now"). */
export function recent(values: Array<number | null>, k: number): number | undefined {
  let sum = 0
  let n = 0
  for (let i = Math.max(0, values.length - k); i < values.length; i++) {
    const v = values[i]
    if (v === null || v === undefined) continue
    sum += v
    n++
  }
  return n ? sum / n : undefined
}

/** Highest of the last `k` values. */
export function recentMax(values: Array<number | null>, k: number): number | undefined {
  let m: number | undefined
  for (let i = Math.max(0, values.length - k); i < values.length; i++) {
    const v = values[i]
    if (v !== null && v !== undefined) m = m === undefined ? v : Math.max(m, v)
  }
  return m
}
