/**
 * A bounded FIFO on a ring buffer: O(1) push and shift without the array
 * re-indexing of `Array.prototype.shift`, and no allocation per item once warm.
 */
export class JobQueue<T> {
  private items: (T | undefined)[]
  private head = 0
  private count = 0

  constructor(readonly limit: number) {
    this.items = new Array<T | undefined>(Math.min(limit, 64))
  }

  get length(): number {
    return this.count
  }

  /** Adds at the tail; false when the queue is at its limit. */
  push(item: T): boolean {
    if (this.count >= this.limit) return false
    if (this.count === this.items.length) this.grow()
    this.items[(this.head + this.count) % this.items.length] = item
    this.count++
    return true
  }

  /** Takes from the head. */
  shift(): T | undefined {
    if (this.count === 0) return undefined
    const item = this.items[this.head]
    this.items[this.head] = undefined
    this.head = (this.head + 1) % this.items.length
    this.count--
    return item
  }

  /** Empties the queue, returning what it held in order. */
  drain(): T[] {
    const out: T[] = []
    for (let item = this.shift(); item !== undefined; item = this.shift()) out.push(item)
    return out
  }

  private grow(): void {
    const size = Math.min(this.limit, Math.max(1, this.items.length * 2))
    const next = new Array<T | undefined>(size)
    for (let i = 0; i < this.count; i++) next[i] = this.items[(this.head + i) % this.items.length]
    this.items = next
    this.head = 0
  }
}
