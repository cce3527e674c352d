/**
 * Puts a built release on the broker: every chunk retained at
 * `fm/v1/releases/blobs/<sha256>` first, then the manifest retained at
 * `fm/v1/releases/<channel>` (so an agent that sees the manifest finds its chunks),
 * each acknowledged (QoS 1). The chunks of the release it replaces that the new one
 * does not share are cleared afterwards, so the broker does not keep every release.
 */
import { EventEmitter } from 'node:events'
import type { BuiltRelease } from './build-release.ts'
import { parseManifest, type ReleaseManifest } from './release-manifest.ts'
import { compareVersions } from './version-order.ts'
import { RefusalReason, ReleaseError } from './release-error.ts'
import { topics } from '../../protocol/topics.ts'
import type { Connection } from '../../protocol/transport.ts'

export interface PublishEvents {
  chunk: [{ index: number; total: number; bytes: number }]
}

/** The retained manifest on `channel` now, if any (waits up to `timeoutMs` for the broker's copy). */
export async function currentRelease(conn: Connection, channel: string, timeoutMs = 1500): Promise<ReleaseManifest | undefined> {
  const topic = topics.release(channel)
  let found: Buffer | undefined
  const got = new Promise<void>((resolve) => {
    conn.route(topic, (_t, payload) => {
      if (payload.length > 0) found = payload
      resolve()
    })
  })
  await conn.subscribe(topic, 1)
  let timer: NodeJS.Timeout | undefined
  await Promise.race([got, new Promise<void>((r) => (timer = setTimeout(r, timeoutMs)))])
  clearTimeout(timer)
  conn.unroute(topic)
  await conn.unsubscribe(topic)
  if (!found) return undefined
  try {
    return parseManifest(found)
  } catch {
    return undefined // what was there is not a release: replaced
  }
}

export class ReleasePublisher extends EventEmitter<PublishEvents> {
  constructor(private readonly conn: Connection) {
    super()
  }

  /** Publishes `release`; refuses one older than the channel's current release unless `allowOlder`. */
  async publish(release: BuiltRelease, opts: { allowOlder?: boolean; previous?: ReleaseManifest | undefined } = {}): Promise<{ replaced: ReleaseManifest | undefined; cleared: number }> {
    const m = release.manifest
    const previous = opts.previous ?? (await currentRelease(this.conn, m.channel))
    if (previous && !opts.allowOlder && compareVersions(m.version, previous.version) < 0) {
      throw new ReleaseError(RefusalReason.downgrade, `channel ${m.channel} has ${previous.version}; ${m.version} is older (agents refuse downgrades)`)
    }
    let index = 0
    const total = release.blobs.size
    for (const [sha, bytes] of release.blobs) {
      await this.conn.publishAsync(topics.releaseBlob(sha), bytes, { qos: 1, retain: true })
      this.emit('chunk', { index: ++index, total, bytes: bytes.length })
    }
    await this.conn.publishAsync(topics.release(m.channel), JSON.stringify(m), { qos: 1, retain: true })
    let cleared = 0
    if (previous) {
      for (const b of previous.builds) {
        for (const c of b.chunks) {
          if (release.blobs.has(c.sha256)) continue
          await this.conn.publishAsync(topics.releaseBlob(c.sha256), Buffer.alloc(0), { qos: 1, retain: true })
          cleared++
        }
      }
    }
    return { replaced: previous, cleared }
  }
}
