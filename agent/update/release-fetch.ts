/**
 * Fetches one build of a release: its chunks, one at a time, from their retained,
 * content-addressed topics (`fm/v1/releases/blobs/<sha256>`), each hash-checked on
 * arrival, appended to a staging file (memory holds one chunk), the whole checked
 * against the size and sha256 the manifest signed, and fsync'd.
 */
import { createHash } from 'node:crypto'
import { closeSync, fsyncSync, openSync, rmSync, writeSync } from 'node:fs'
import { RefusalReason, ReleaseError } from '../../fleet/release/release-error.ts'
import type { ReleaseBuild } from '../../fleet/release/release-manifest.ts'
import { topics } from '../../protocol/topics.ts'
import type { Connection } from '../../protocol/transport.ts'

export interface FetchOptions {
  /** How long one chunk may take to arrive after subscribing. */
  chunkTimeoutMs: number
  onProgress?: (bytes: number, total: number) => void
}

function fetchChunk(conn: Connection, sha256: string, maxBytes: number, timeoutMs: number): Promise<Buffer> {
  const topic = topics.releaseBlob(sha256)
  return new Promise<Buffer>((resolve, reject) => {
    let timer: NodeJS.Timeout | undefined
    const done = (err: Error | undefined, bytes?: Buffer) => {
      clearTimeout(timer)
      conn.unroute(topic)
      void conn.unsubscribe(topic).catch(() => {})
      if (err) reject(err)
      else resolve(bytes!)
    }
    timer = setTimeout(() => done(new ReleaseError(RefusalReason.fetchTimeout, `chunk ${sha256.slice(0, 12)} did not arrive within ${timeoutMs} ms`)), timeoutMs)
    conn.route(topic, (_t, payload) => {
      if (payload.length === 0) return // cleared: keep waiting until the timeout
      if (payload.length > maxBytes) return done(new ReleaseError(RefusalReason.badSize, `chunk ${sha256.slice(0, 12)} is ${payload.length} bytes, the manifest says ${maxBytes}`))
      const got = createHash('sha256').update(payload).digest('hex')
      if (got !== sha256) return done(new ReleaseError(RefusalReason.hashMismatch, `chunk ${sha256.slice(0, 12)} hashes to ${got.slice(0, 12)}`))
      done(undefined, payload)
    })
    conn.subscribe(topic, 1).catch((err: unknown) => done(err as Error))
  })
}

/** Writes the build's bytes to `file`; throws a ReleaseError (hash_mismatch, bad_size, fetch_timeout) and leaves no file behind. */
export async function fetchBuild(conn: Connection, build: ReleaseBuild, file: string, opts: FetchOptions): Promise<void> {
  const fd = openSync(file, 'w', 0o600)
  const whole = createHash('sha256')
  let bytes = 0
  try {
    for (const c of build.chunks) {
      const part = await fetchChunk(conn, c.sha256, c.size, opts.chunkTimeoutMs)
      if (part.length !== c.size) throw new ReleaseError(RefusalReason.badSize, `chunk ${c.sha256.slice(0, 12)} is ${part.length} bytes, the manifest says ${c.size}`)
      writeSync(fd, part)
      whole.update(part)
      bytes += part.length
      opts.onProgress?.(bytes, build.size)
    }
    if (bytes !== build.size) throw new ReleaseError(RefusalReason.badSize, `${build.file} is ${bytes} bytes, the manifest says ${build.size}`)
    const sha = whole.digest('hex')
    if (sha !== build.sha256) throw new ReleaseError(RefusalReason.hashMismatch, `${build.file} hashes to ${sha.slice(0, 12)}…, the manifest signed ${build.sha256.slice(0, 12)}…`)
    fsyncSync(fd)
    closeSync(fd)
  } catch (err) {
    closeSync(fd)
    rmSync(file, { force: true })
    throw err
  }
}
