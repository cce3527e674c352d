/**
 * The assignment nonces an agent has taken, each kept until its assignment
 * expires — so a replay is refused however it is dressed (a new attempt
 * number, a redelivery, a copy from a `#` subscriber). Bounded: when full of
 * unexpired nonces, the one expiring first is forgotten, and from then on
 * anything expiring at or before it is refused as too old to check (the
 * `floor`): sound without unbounded memory. `evicted` counts those.
 */
import type { NonceJournal } from './nonce-journal.ts'

export class NonceWindow {
  /** nonce → expiry; insertion order is roughly expiry order (one requester's clock), pruned from the front. */
  private readonly nonces = new Map<string, number>()
  private floor_ = -Infinity
  evicted = 0

  constructor(readonly capacity: number, private readonly journal?: NonceJournal, now = Date.now()) {
    // nonces taken before a restart (agent/nonce-journal.ts): a replay after it is still a replay
    if (journal) for (const n of journal.load(now)) this.nonces.set(n.key, n.expiresAt)
  }

  /** Closes the journal's file, if any (taking again reopens it). */
  close(): void {
    this.journal?.close()
  }

  /** Writes the nonces taken so far to the journal, if any (agent/nonce-journal.ts batches a burst's lines); throws when it cannot. */
  commit(): void {
    this.journal?.flush()
  }

  /** The expiry at or below which assignments are refused unseen (nonces forgotten for room). */
  get floor(): number {
    return this.floor_
  }

  get size(): number {
    return this.nonces.size
  }

  /**
   * Takes `key` (requester id + nonce) expiring at `expiresAt`: 'taken', or why not —
   * 'replayed' (seen) or 'too-old' (at or below the floor).
   */
  take(key: string, expiresAt: number, now: number): 'taken' | 'replayed' | 'too-old' {
    if (expiresAt <= this.floor_) return 'too-old'
    if (this.nonces.has(key)) return 'replayed'
    this.prune(now)
    if (this.nonces.size >= this.capacity) this.evictEarliest()
    this.nonces.set(key, expiresAt)
    this.journal?.append(key, expiresAt, () => this.nonces.entries())
    return 'taken'
  }

  private prune(now: number): void {
    for (const [k, exp] of this.nonces) {
      if (exp >= now) break
      this.nonces.delete(k)
    }
  }

  private evictEarliest(): void {
    let key: string | undefined
    let min = Infinity
    // the front is nearly sorted; look at a bounded prefix for the earliest expiry
    let looked = 0
    for (const [k, exp] of this.nonces) {
      if (exp < min) {
        min = exp
        key = k
      }
      if (++looked >= 64) break
    }
    if (key === undefined) return
    this.nonces.delete(key)
    if (min > this.floor_) this.floor_ = min
    this.evicted++
  }
}
