/**
 * Deficit round robin across keys (sensors): each key with work waiting gets
 * `quantum` of credit per round and spends it on its items' costs (input
 * bytes), so a sensor that sends ten thousand jobs gets the same share of the
 * mesh as one that sends one, and big inputs count for what they are.
 * Items of one key keep their order. Bounds are the caller's (gateway-admission.ts).
 */
export class FairQueue<T> {
  private readonly queues = new Map<string, { items: Array<{ item: T; cost: number }>; deficit: number }>()
  /** Keys with items waiting, in round-robin order. */
  private ring: string[] = []
  private at = 0
  private size_ = 0

  constructor(private readonly quantum: number) {}

  get size(): number {
    return this.size_
  }

  /** Items waiting for `key`. */
  lengthOf(key: string): number {
    return this.queues.get(key)?.items.length ?? 0
  }

  /** The keys with items waiting. */
  keys(): IterableIterator<string> {
    return this.queues.keys()
  }

  push(key: string, item: T, cost: number): void {
    let q = this.queues.get(key)
    if (!q) {
      q = { items: [], deficit: 0 }
      this.queues.set(key, q)
      this.ring.push(key)
    }
    q.items.push({ item, cost })
    this.size_++
  }

  /**
   * The next item in fair order among keys `eligible` says may run now, or
   * undefined when none may. A key that may not run keeps its place and credit.
   */
  next(eligible: (key: string) => boolean): { key: string; item: T } | undefined {
    // pass after pass (each tops up the credit of the keys it visits) until an item is taken,
    // or a whole pass found no key that may run
    let sawEligible = false
    let visited = 0
    while (this.ring.length > 0) {
      if (visited >= this.ring.length) {
        if (!sawEligible) return undefined
        visited = 0
        sawEligible = false
      }
      if (this.at >= this.ring.length) this.at = 0
      const key = this.ring[this.at]!
      const q = this.queues.get(key)!
      const head = q.items[0]
      if (!head) {
        this.drop(key)
        continue
      }
      visited++
      if (!eligible(key)) {
        this.at++
        continue
      }
      sawEligible = true
      if (q.deficit < head.cost) {
        q.deficit += this.quantum
        if (q.deficit < head.cost) {
          this.at++
          continue
        }
      }
      q.deficit -= head.cost
      q.items.shift()
      this.size_--
      if (q.items.length === 0) this.drop(key)
      else if (q.deficit < (q.items[0]?.cost ?? 0)) this.at++ // its turn is used up
      return { key, item: head.item }
    }
    return undefined
  }

  /** Removes every item (e.g. on close), returning them. */
  drain(): T[] {
    const out: T[] = []
    for (const q of this.queues.values()) for (const i of q.items) out.push(i.item)
    this.queues.clear()
    this.ring = []
    this.at = 0
    this.size_ = 0
    return out
  }

  private drop(key: string): void {
    this.queues.delete(key)
    const i = this.ring.indexOf(key)
    if (i >= 0) {
      this.ring.splice(i, 1)
      if (i < this.at) this.at--
    }
  }
}
