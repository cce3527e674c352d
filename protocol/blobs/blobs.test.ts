// Content-addressed blobs: the manifest's form, chunking, and every bad input the resolver refuses.
//   node --import tsx protocol/blobs/blobs.test.ts
import { createHash } from 'node:crypto'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { ErrorCode } from '../errors.ts'
import { BlobError } from './blob-error.ts'
import { chunkBlob } from './chunk-blob.ts'
import { BLOB_MANIFEST_TYPE, encodeManifest, parseManifest, sha256Of, type BlobManifest } from './manifest.ts'
import { MemoryBlobSource } from './memory-blob-source.ts'
import { DEFAULT_RESOLVE_LIMITS, resolveBlob } from './resolve-blob.ts'
import { mulberry32 } from '../../test/support/rng.ts'

const bytesOf = (n: number, seed = 1) => {
  const b = Buffer.alloc(n)
  let x = seed
  for (let i = 0; i < n; i++) {
    x = (x * 1103515245 + 12345) >>> 0
    b[i] = x >>> 24
  }
  return b
}

async function refusal(p: Promise<unknown>): Promise<BlobError> {
  try {
    await p
  } catch (err) {
    assert.instance(err, BlobError)
    return err as BlobError
  }
  throw new Error('expected a BlobError')
}

test('known answer: "abc" in one chunk has this manifest and this name', () => {
  const b = chunkBlob(Buffer.from('abc'))
  const manifest = b.pieces.get(b.root)!.toString()
  assert.is(manifest, '{"chunks":[{"sha256":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","size":3}],"sha256":"ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad","size":3,"type":"fogmesh-blob/1"}')
  assert.is(b.root, createHash('sha256').update(manifest).digest('hex'))
  assert.is(b.contentSha256, 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad')
})

test('chunk and resolve round trip: flat, nested (fanout 3), empty', async () => {
  for (const [size, chunkBytes, fanout] of [[10_000, 1000, undefined], [10_000, 700, 3], [0, 1000, undefined]] as const) {
    const data = bytesOf(size)
    const b = chunkBlob(data, { chunkBytes, ...(fanout ? { fanout } : {}) })
    const r = await resolveBlob(new MemoryBlobSource(b.pieces), b.root)
    assert.ok(r.bytes.equals(data), `size ${size}`)
    assert.is(r.manifest.sha256, sha256Of(data))
    assert.is(r.chunks, Math.max(1, Math.ceil(size / chunkBytes)))
  }
  const nested = chunkBlob(bytesOf(10_000), { chunkBytes: 700, fanout: 3 })
  assert.ok(parseManifest(nested.pieces.get(nested.root)!, nested.root).chunks.every((c) => c.manifest === true), 'the root of a wide blob lists manifests')
})

test('a manifest not in canonical form, or not a manifest, is refused blob_invalid_manifest', () => {
  const m: BlobManifest = { type: BLOB_MANIFEST_TYPE, size: 3, sha256: sha256Of(Buffer.from('abc')), chunks: [{ sha256: sha256Of(Buffer.from('abc')), size: 3 }] }
  const pretty = Buffer.from(JSON.stringify(JSON.parse(encodeManifest(m).toString()), null, 1))
  for (const bad of [pretty, Buffer.from('not json'), Buffer.from('{"type":"fogmesh-blob/2","size":0,"sha256":"00","chunks":[]}')]) {
    try {
      parseManifest(bad, 'x')
      assert.unreachable('accepted')
    } catch (err) {
      assert.is((err as BlobError).code, ErrorCode.blobInvalidManifest)
    }
  }
})

test('a chunk whose bytes do not hash to its name: refused, fetched again from another holder', async () => {
  const data = bytesOf(5000)
  const b = chunkBlob(data, { chunkBytes: 1000 })
  const src = new MemoryBlobSource(b.pieces)
  const victim = [...b.pieces.keys()][2]!
  src.fallback.set(victim, src.pieces.get(victim)!) // another holder keeps the good copy
  src.pieces.set(victim, Buffer.alloc(1000, 7))
  const r = await resolveBlob(src, b.root)
  assert.ok(r.bytes.equals(data))
  assert.equal(src.refused, [victim])
})

test('a chunk whose bytes do not hash to its name, no good copy anywhere: blob_hash_mismatch', async () => {
  const b = chunkBlob(bytesOf(5000), { chunkBytes: 1000 })
  const src = new MemoryBlobSource(b.pieces)
  const victim = [...b.pieces.keys()][1]!
  src.pieces.set(victim, Buffer.alloc(1000, 7))
  src.fallback.set(victim, Buffer.alloc(1000, 8))
  const e = await refusal(resolveBlob(src, b.root))
  assert.is(e.code, ErrorCode.blobHashMismatch)
  assert.is(e.sha256, victim)
})

/** Publishes a hand-made manifest under its own (true) name. */
function put(src: MemoryBlobSource, m: BlobManifest): string {
  const bytes = encodeManifest(m)
  const name = sha256Of(bytes)
  src.pieces.set(name, bytes)
  return name
}

test('a manifest that names itself: blob_loop', async () => {
  const src = new MemoryBlobSource()
  const fake = 'ab'.repeat(32)
  src.pieces.set(fake, encodeManifest({ type: BLOB_MANIFEST_TYPE, size: 10, sha256: fake, chunks: [{ sha256: fake, size: 10, manifest: true }] }))
  const e = await refusal(resolveBlob(src, fake))
  assert.is(e.code, ErrorCode.blobLoop)
  assert.match(e.message, /names itself/)
})

test('a cycle of manifests (root → B → root): blob_loop, before any chunk is fetched', async () => {
  const src = new MemoryBlobSource()
  const b = 'cd'.repeat(32)
  const root = put(src, { type: BLOB_MANIFEST_TYPE, size: 10, sha256: 'ee'.repeat(32), chunks: [{ sha256: b, size: 10, manifest: true }] })
  src.pieces.set(b, encodeManifest({ type: BLOB_MANIFEST_TYPE, size: 10, sha256: 'ee'.repeat(32), chunks: [{ sha256: root, size: 10, manifest: true }] }))
  const e = await refusal(resolveBlob(src, root))
  assert.is(e.code, ErrorCode.blobLoop)
  assert.match(e.message, /cycle/)
  assert.equal(src.asked, [root, b])
})

test('nesting deeper than maxDepth: blob_loop', async () => {
  const data = bytesOf(64)
  const b = chunkBlob(data, { chunkBytes: 1, fanout: 2 }) // 64 chunks, 6 levels
  const e = await refusal(resolveBlob(new MemoryBlobSource(b.pieces), b.root, { ...DEFAULT_RESOLVE_LIMITS, maxDepth: 2 }))
  assert.is(e.code, ErrorCode.blobLoop)
})

test('size lies: entries that do not add up, a chunk larger than declared, a whole shorter than declared', async () => {
  const chunk = Buffer.from('hello world')
  const c = sha256Of(chunk)
  const src = new MemoryBlobSource([[c, chunk]])
  const sum = put(src, { type: BLOB_MANIFEST_TYPE, size: 99, sha256: c, chunks: [{ sha256: c, size: 11 }] })
  assert.is((await refusal(resolveBlob(src, sum))).code, ErrorCode.blobSizeMismatch)
  const under = put(src, { type: BLOB_MANIFEST_TYPE, size: 5, sha256: c, chunks: [{ sha256: c, size: 5 }] })
  const e = await refusal(resolveBlob(src, under))
  assert.is(e.code, ErrorCode.blobSizeMismatch)
  assert.match(e.message, /11 bytes; its manifest says 5/)
  // a nested manifest that expands to other than its entry says
  const inner = put(src, { type: BLOB_MANIFEST_TYPE, size: 11, sha256: c, chunks: [{ sha256: c, size: 11 }] })
  const outer = put(src, { type: BLOB_MANIFEST_TYPE, size: 12, sha256: c, chunks: [{ sha256: inner, size: 12, manifest: true }] })
  assert.is((await refusal(resolveBlob(src, outer))).code, ErrorCode.blobSizeMismatch)
})

test('too large for the budget, too many chunks: refused from the manifest, before fetching a chunk', async () => {
  const b = chunkBlob(bytesOf(10_000), { chunkBytes: 100 })
  const big = new MemoryBlobSource(b.pieces)
  const e1 = await refusal(resolveBlob(big, b.root, { ...DEFAULT_RESOLVE_LIMITS, maxBytes: 9_999 }))
  assert.is(e1.code, ErrorCode.blobTooLarge)
  assert.equal(big.asked, [b.root])
  const many = new MemoryBlobSource(b.pieces)
  const e2 = await refusal(resolveBlob(many, b.root, { ...DEFAULT_RESOLVE_LIMITS, maxChunks: 99 }))
  assert.is(e2.code, ErrorCode.blobTooManyChunks)
  assert.equal(many.asked, [b.root])
})

test('a content whose whole does not hash to the manifest sha256: blob_hash_mismatch', async () => {
  const chunk = Buffer.from('abc')
  const src = new MemoryBlobSource([[sha256Of(chunk), chunk]])
  const root = put(src, { type: BLOB_MANIFEST_TYPE, size: 3, sha256: 'ff'.repeat(32), chunks: [{ sha256: sha256Of(chunk), size: 3 }] })
  const e = await refusal(resolveBlob(src, root))
  assert.is(e.code, ErrorCode.blobHashMismatch)
  assert.match(e.message, /content hashes to/)
})

test('a missing piece: blob_not_found', async () => {
  const b = chunkBlob(bytesOf(3000), { chunkBytes: 1000 })
  const src = new MemoryBlobSource(b.pieces)
  src.pieces.delete([...b.pieces.keys()][0]!)
  assert.is((await refusal(resolveBlob(src, b.root))).code, ErrorCode.blobNotFound)
})

test('fuzz, seed 11: 3000 mutants of a manifest (bytes flipped, cut, spliced) — a manifest or a BlobError with a stable code', () => {
  const rnd = mulberry32(11)
  const b = chunkBlob(bytesOf(50_000), { chunkBytes: 4096 })
  const good = b.pieces.get(b.root)!
  const codes = new Set<string>([ErrorCode.blobInvalidManifest, ErrorCode.blobLoop, ErrorCode.blobSizeMismatch])
  const seen = new Map<string, number>()
  for (let i = 0; i < 3000; i++) {
    const m = Buffer.from(good)
    const kind = i % 3
    let mutant: Buffer
    if (kind === 0) {
      for (let k = 0; k < 1 + Math.floor(rnd() * 4); k++) m[Math.floor(rnd() * m.length)] = Math.floor(rnd() * 256)
      mutant = m
    } else if (kind === 1) mutant = m.subarray(0, Math.floor(rnd() * m.length))
    else {
      const at = Math.floor(rnd() * m.length)
      mutant = Buffer.concat([m.subarray(0, at), Buffer.from(['"', '9', ',', '{', '}', 'true', '-1', '1e400'][Math.floor(rnd() * 8)]!), m.subarray(at)])
    }
    try {
      const parsed = parseManifest(mutant, b.root)
      assert.is(encodeManifest(parsed).toString(), mutant.toString(), 'accepted only in canonical form')
      seen.set('parsed', (seen.get('parsed') ?? 0) + 1)
    } catch (err) {
      assert.instance(err, BlobError)
      assert.ok(codes.has((err as BlobError).code), (err as BlobError).code)
      seen.set((err as BlobError).code, (seen.get((err as BlobError).code) ?? 0) + 1)
    }
  }
  assert.ok((seen.get(ErrorCode.blobInvalidManifest) ?? 0) > 1000, JSON.stringify([...seen]))
})

test.run()
