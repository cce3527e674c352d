/**
 * Rolling job statistics in fixed time buckets (default: 300 buckets of one
 * second, the last five minutes): ok and failed counts, failures by code, and
 * latency percentiles per bucket. Everything is bounded: the ring has a fixed
 * length, latencies kept per bucket are capped (a uniform reservoir beyond
 * that), and so is the number of distinct error codes (the rest count as
 * `other`).
 */
import { mergeOptions } from '../protocol/options.ts'

export interface RollingWindowOptions {
  /** Bucket width, ms. Default 1000. */
  stepMs?: number
  /** Buckets kept. Default 300. */
  buckets?: number
  /** Latency samples kept per bucket for its percentiles. Default 2000. */
  samplesPerBucket?: number
  /** Distinct error codes tracked; further ones are counted as `other`. Default 32. */
  maxCodes?: number
}

const DEFAULTS = { stepMs: 1000, buckets: 300, samplesPerBucket: 2000, maxCodes: 32 }

interface Bucket {
  start: number
  ok: number
  failed: number
  seen: number
  latencies: number[]
  codes: Map<string, number>
  p50: number
  p99: number
  /** Percentiles computed since the last sample. */
  sorted: boolean
}

export interface WindowSnapshot {
  stepMs: number
  t0: number
  ok: number[]
  failed: number[]
  p50: number[]
  p99: number[]
  errors: Record<string, number[]>
}

export class RollingWindow {
  private readonly opts: typeof DEFAULTS
  private readonly ring: Bucket[]
  private readonly codes = new Set<string>()
  private rand = 0x9e3779b9

  constructor(options: RollingWindowOptions = {}) {
    this.opts = mergeOptions(options, DEFAULTS, {
      stepMs: { min: 10, max: 3_600_000, integer: true },
      buckets: { min: 1, max: 100_000, integer: true },
      samplesPerBucket: { min: 1, max: 1_000_000, integer: true },
      maxCodes: { min: 1, max: 1000, integer: true },
    }, 'rollingWindow')
    this.ring = Array.from({ length: this.opts.buckets }, () => emptyBucket(-1))
  }

  /** Records one answered job. */
  record(now: number, ok: boolean, latencyMs: number, code?: string): void {
    const b = this.bucketAt(now)
    if (ok) b.ok++
    else {
      b.failed++
      let c = code ?? 'unknown'
      if (!this.codes.has(c)) {
        if (this.codes.size < this.opts.maxCodes - 1) this.codes.add(c)
        else c = 'other'
      }
      b.codes.set(c, (b.codes.get(c) ?? 0) + 1)
    }
    // reservoir sampling keeps a uniform sample once the bucket is full
    b.seen++
    if (b.latencies.length < this.opts.samplesPerBucket) b.latencies.push(latencyMs)
    else {
      const j = this.random() % b.seen
      if (j < this.opts.samplesPerBucket) b.latencies[j] = latencyMs
    }
    b.sorted = false
  }

  /** The buckets from oldest to newest, ending with the one `now` falls in. */
  snapshot(now: number): WindowSnapshot {
    const { stepMs, buckets } = this.opts
    const current = Math.floor(now / stepMs) * stepMs
    const t0 = current - (buckets - 1) * stepMs
    const out: WindowSnapshot = { stepMs, t0, ok: [], failed: [], p50: [], p99: [], errors: {} }
    for (const c of this.codes) out.errors[c] = []
    let other: number[] | undefined
    for (let i = 0; i < buckets; i++) {
      const start = t0 + i * stepMs
      const b = this.ring[this.slot(start)]!
      const live = b.start === start
      out.ok.push(live ? b.ok : 0)
      out.failed.push(live ? b.failed : 0)
      if (live) percentiles(b)
      out.p50.push(live && b.latencies.length ? b.p50 : -1)
      out.p99.push(live && b.latencies.length ? b.p99 : -1)
      for (const c of this.codes) out.errors[c]!.push(live ? b.codes.get(c) ?? 0 : 0)
      const o = live ? b.codes.get('other') : undefined
      if (o) (other ??= new Array<number>(i).fill(0)).push(o)
      else other?.push(0)
    }
    if (other) out.errors.other = other
    // codes without a failure in the window are left out: the message stays small
    for (const [c, s] of Object.entries(out.errors)) if (!s.some((n) => n > 0)) delete out.errors[c]
    return out
  }

  private slot(start: number): number {
    return Math.floor(start / this.opts.stepMs) % this.opts.buckets
  }

  private bucketAt(now: number): Bucket {
    const start = Math.floor(now / this.opts.stepMs) * this.opts.stepMs
    const i = this.slot(start)
    let b = this.ring[i]!
    if (b.start !== start) {
      b = emptyBucket(start)
      this.ring[i] = b
    }
    return b
  }

  private random(): number {
    // xorshift32: cheap, and only decides which sample a reservoir keeps
    let x = this.rand
    x ^= x << 13
    x ^= x >>> 17
    x ^= x << 5
    this.rand = x >>> 0
    return this.rand
  }
}

function emptyBucket(start: number): Bucket {
  return { start, ok: 0, failed: 0, seen: 0, latencies: [], codes: new Map(), p50: -1, p99: -1, sorted: true }
}

function percentiles(b: Bucket): void {
  if (b.sorted) return
  b.sorted = true
  const s = [...b.latencies].sort((x, y) => x - y)
  if (s.length === 0) return
  b.p50 = round(quantile(s, 0.5))
  b.p99 = round(quantile(s, 0.99))
}

/** Nearest-rank quantile of a sorted array. */
export function quantile(sorted: number[], q: number): number {
  const i = Math.min(sorted.length - 1, Math.max(0, Math.ceil(q * sorted.length) - 1))
  return sorted[i]!
}

const round = (x: number) => Math.round(x * 1000) / 1000
