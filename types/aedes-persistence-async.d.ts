// aedes-persistence ships its in-memory implementation's types under types/; its package has no
// exports map, so the subpath import needs this line to find them.
declare module 'aedes-persistence/asyncPersistence.js' {
  import MemoryPersistence from 'aedes-persistence/types/asyncPersistence.js'
  export default MemoryPersistence
}

// aedes-persistence-redis ships no types: its async persistence class (ioredis options, or `conn`).
declare module 'aedes-persistence-redis/asyncPersistence.js' {
  class AsyncRedisPersistence {
    constructor(options?: Record<string, unknown>)
    setup(broker: unknown): Promise<void>
    destroy(): Promise<void>
    createRetainedStreamCombi(patterns: string[]): AsyncIterable<unknown>
    createRetainedStream(pattern: string): AsyncIterable<unknown>
    outgoingStream(client: unknown): AsyncIterable<unknown>
    addSubscriptions(client: unknown, subs: unknown[]): Promise<void>
  }
  export default AsyncRedisPersistence
}
