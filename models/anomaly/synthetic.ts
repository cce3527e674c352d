/**
 * Synthetic sensor windows for the anomaly detector, from a seeded RNG
 * (mulberry32): the same seed gives the same windows on every machine.
 *
 * Normal: a slow wave with sensor noise — offset 15..30, amplitude 0.2..2.5,
 * 0.02..0.3 rad per reading, any phase, noise σ 0..0.03, half of them rounded
 * to 0.01 like a real sensor's (and the simulated MCU's) readings.
 * Anomalous: a normal window with one of: a spike (±2..10 on one reading),
 * a step (±2..6 from some reading on), a stuck sensor going to 0 mid-window.
 */
export const WINDOW = 16

/** mulberry32: floats in [0, 1). */
export function rng(seed: number): () => number {
  let a = seed >>> 0
  return () => {
    a = (a + 0x6d2b79f5) >>> 0
    let t = a
    t = Math.imul(t ^ (t >>> 15), t | 1)
    t ^= t + Math.imul(t ^ (t >>> 7), t | 61)
    return ((t ^ (t >>> 14)) >>> 0) / 4294967296
  }
}

const between = (r: () => number, lo: number, hi: number) => lo + (hi - lo) * r()

/** A standard normal draw (Box–Muller, one of the pair). */
function gauss(r: () => number): number {
  const u = 1 - r()
  return Math.sqrt(-2 * Math.log(u)) * Math.cos(2 * Math.PI * r())
}

export function normalWindow(r: () => number, width = WINDOW): number[] {
  const offset = between(r, 15, 30)
  const amp = between(r, 0.2, 2.5)
  const freq = between(r, 0.02, 0.3)
  const phase = between(r, 0, 2 * Math.PI)
  const noise = between(r, 0, 0.03)
  const round = r() < 0.5
  return Array.from({ length: width }, (_, i) => {
    const v = offset + amp * Math.sin(freq * i + phase) + noise * gauss(r)
    return round ? Math.round(v * 100) / 100 : v
  })
}

export type AnomalyKind = 'spike' | 'step' | 'stuck'

export function anomalousWindow(r: () => number, width = WINDOW): { values: number[]; kind: AnomalyKind } {
  const values = normalWindow(r, width)
  const at = 2 + Math.floor(r() * (width - 4))
  const sign = r() < 0.5 ? -1 : 1
  const pick = r()
  if (pick < 0.5) {
    values[at] = (values[at] as number) + sign * between(r, 2, 10)
    return { values, kind: 'spike' }
  }
  if (pick < 0.8) {
    const d = sign * between(r, 2, 6)
    for (let i = at; i < width; i++) values[i] = (values[i] as number) + d
    return { values, kind: 'step' }
  }
  for (let i = at; i < width; i++) values[i] = 0
  return { values, kind: 'stuck' }
}

/** `n` normal windows from `seed`. */
export function normalWindows(seed: number, n: number, width = WINDOW): number[][] {
  const r = rng(seed)
  return Array.from({ length: n }, () => normalWindow(r, width))
}

export function anomalousWindows(seed: number, n: number, width = WINDOW): Array<{ values: number[]; kind: AnomalyKind }> {
  const r = rng(seed)
  return Array.from({ length: n }, () => anomalousWindow(r, width))
}

/** The simulated MCU's temperature (firmware-bridge/sim/mcu.ts): readings `from`.. of 21 + 1.2·sin(tick/10), rounded to 0.01. */
export function mcuWindow(from: number, width = WINDOW): number[] {
  return Array.from({ length: width }, (_, i) => Math.round((21 + Math.sin((from + i) / 10) * 1.2) * 100) / 100)
}
