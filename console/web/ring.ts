/** A fixed-capacity list, newest first when read: what the page keeps of endless streams. */
export class Ring<T> {
  private readonly items: T[] = []
  private head = 0

  constructor(readonly capacity: number) {}

  push(item: T): void {
    if (this.items.length < this.capacity) this.items.push(item)
    else this.items[this.head] = item
    this.head = (this.head + 1) % this.capacity
  }

  get size(): number {
    return this.items.length
  }

  /** Newest first; at most `limit`, those passing `keep`. */
  newest(limit = this.capacity, keep?: (item: T) => boolean): T[] {
    const out: T[] = []
    const n = this.items.length
    for (let i = 1; i <= n && out.length < limit; i++) {
      const item = this.items[(this.head - i + n * 2) % n] as T
      if (!keep || keep(item)) out.push(item)
    }
    return out
  }
}
