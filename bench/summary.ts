/** Figures of a benchmark: exact percentiles over all samples, and how they are printed. */

export interface Summary {
  n: number
  p50: number
  p99: number
  mean: number
  max: number
}

/** Exact percentiles (nearest rank) over all samples. */
export function summarize(samples: number[]): Summary {
  const s = Float64Array.from(samples).sort()
  const n = s.length
  if (n === 0) return { n, p50: NaN, p99: NaN, mean: NaN, max: NaN }
  const at = (p: number) => s[Math.min(n - 1, Math.max(0, Math.ceil((p / 100) * n) - 1))] as number
  let sum = 0
  for (const v of s) sum += v
  return { n, p50: at(50), p99: at(99), mean: sum / n, max: s[n - 1] as number }
}

/** Milliseconds with as many decimals as they deserve. */
export const ms = (v: number) => (Number.isNaN(v) ? '-' : v < 1 ? v.toFixed(3) : v < 100 ? v.toFixed(2) : v.toFixed(0))
export const int = (v: number) => (Number.isFinite(v) ? Math.round(v).toLocaleString('en-US') : '-')
export const ratio = (a: number, b: number) => (b > 0 && Number.isFinite(a) ? `${(a / b).toFixed(1)}x` : '-')
