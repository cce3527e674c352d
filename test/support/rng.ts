/** Deterministic pseudo-random numbers (mulberry32), so that a failing randomized test reproduces from its seed. */
import { rng } from '../../models/anomaly/synthetic.ts'

/** A generator of floats in [0, 1) from a 32-bit seed (the one the anomaly model trains with). */
export const mulberry32: (seed: number) => () => number = rng

export interface SeededRandom {
  /** A float in [0, 1). */
  next(): number
  /** A whole number in [lo, hi], both included. */
  int(lo: number, hi: number): number
  /** A bigint in [lo, hi], both included (lo when hi <= lo). */
  big(lo: bigint, hi: bigint): bigint
  pick<T>(xs: T[]): T
  /** True with probability `p`. */
  chance(p: number): boolean
}

/** mulberry32 with the helpers a randomized test draws with. */
export function seededRandom(seed: number): SeededRandom {
  const next = mulberry32(seed)
  return {
    next,
    int: (lo, hi) => lo + Math.floor(next() * (hi - lo + 1)),
    big: (lo, hi) => (hi <= lo ? lo : lo + (BigInt(Math.floor(next() * 2 ** 52)) % (hi - lo + 1n))),
    pick: <T>(xs: T[]): T => xs[Math.floor(next() * xs.length)] as T,
    chance: (p) => next() < p,
  }
}
