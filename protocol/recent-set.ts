/**
 * A bounded set of recently seen keys (insertion-ordered eviction). Used to
 * answer a duplicate delivery once: MQTT QoS 1 is at-least-once.
 */
export class RecentSet {
  private readonly keys = new Set<string>()

  constructor(private readonly capacity: number) {}

  /** Adds `key`; returns false if it was already there. */
  add(key: string): boolean {
    if (this.keys.has(key)) return false
    this.keys.add(key)
    if (this.keys.size > this.capacity) {
      const oldest = this.keys.values().next().value as string
      this.keys.delete(oldest)
    }
    return true
  }

  has(key: string): boolean {
    return this.keys.has(key)
  }

  get size(): number {
    return this.keys.size
  }
}

/** A bounded map of recent entries (insertion-ordered eviction), e.g. answers already given. */
export class RecentMap<V> {
  private readonly map = new Map<string, V>()

  constructor(private readonly capacity: number) {}

  get(key: string): V | undefined {
    return this.map.get(key)
  }

  set(key: string, value: V): void {
    this.map.delete(key)
    this.map.set(key, value)
    if (this.map.size > this.capacity) {
      const oldest = this.map.keys().next().value as string
      this.map.delete(oldest)
    }
  }

  delete(key: string): void {
    this.map.delete(key)
  }

  /** The entries' values, oldest first. */
  values(): V[] {
    return [...this.map.values()]
  }

  get size(): number {
    return this.map.size
  }
}
