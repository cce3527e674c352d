// The agent's content-addressed cache: LRU within its byte budget, an event when the budget bites, kept across restarts.
//   node --import tsx agent/blob-store.test.ts
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { sha256Of } from '../protocol/blobs/manifest.ts'
import { ValidationError } from '../protocol/errors.ts'
import { tmpDir } from '../test/support/temp-dirs.ts'
import { BlobStore } from './blob-store.ts'

const piece = (n: number, fill: number) => {
  const b = Buffer.alloc(n, fill)
  return [sha256Of(b), b] as const
}

for (const where of ['disk', 'memory'] as const) {
  test(`${where}: least recently used out first, with an evicted event`, () => {
    const store = new BlobStore({ dir: where === 'disk' ? tmpDir('fm-blobs-') : undefined, maxBytes: 3000 })
    const evicted: string[] = []
    store.on('evicted', (e) => evicted.push(`${e.sha256.slice(0, 4)}:${e.reason}`))
    const [a, ab] = piece(1000, 1)
    const [b, bb] = piece(1000, 2)
    const [c, cb] = piece(1000, 3)
    const [d, db] = piece(1000, 4)
    store.put(a, ab)
    store.put(b, bb)
    store.put(c, cb)
    assert.ok(store.get(a)?.equals(ab)) // a is now the most recent
    store.put(d, db)
    assert.equal(evicted, [`${b.slice(0, 4)}:budget`])
    assert.not.ok(store.has(b))
    assert.ok(store.has(a) && store.has(c) && store.has(d))
    assert.is(store.usedBytes, 3000)
    const [big, bigb] = piece(3001, 5)
    store.put(big, bigb)
    assert.is(evicted[1], `${big.slice(0, 4)}:larger_than_budget`)
    assert.not.ok(store.has(big))
  })
}

test('disk: the cache and its order survive a restart; a damaged file is dropped, not served', async () => {
  const dir = tmpDir('fm-blobs-')
  const first = new BlobStore({ dir, maxBytes: 2000 })
  const [a, ab] = piece(1000, 1)
  const [b, bb] = piece(1000, 2)
  first.put(a, ab)
  await new Promise((r) => setTimeout(r, 20))
  first.put(b, bb)
  await new Promise((r) => setTimeout(r, 20))
  first.get(a) // a used last
  const again = new BlobStore({ dir, maxBytes: 2000 })
  assert.is(again.size, 2)
  assert.ok(again.get(b)?.equals(bb))
  const evicted: string[] = []
  const third = new BlobStore({ dir, maxBytes: 2000 })
  third.on('evicted', (e) => evicted.push(e.sha256))
  const [c, cb] = piece(1000, 3)
  third.put(c, cb)
  assert.equal(evicted, [a], 'b was used after a in the second run')
  writeFileSync(join(dir, c), Buffer.alloc(1000, 9))
  assert.is(third.get(c), undefined)
  assert.not.ok(third.has(c))
  assert.is(third.stats().corrupt, 1)
})

test('a budget out of range is refused naming the field', () => {
  assert.throws(() => new BlobStore({ maxBytes: -1 }), (e: unknown) => e instanceof ValidationError && e.field === 'blobCache.maxBytes')
})

test.run()
