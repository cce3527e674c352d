/**
 * The agent's side of OTA: follows `fm/v1/releases/<channel>`, and for each release
 * decides (release-policy.ts), fetches, verifies and stages it, then asks its
 * supervisor to try it (update/pending + exit 75: the CLI does the exit). What it
 * refuses is recorded as the last update's outcome, which presence reports. It never
 * touches the running release: the supervisor owns the switch.
 *
 * Each release is handled once (a retained manifest comes again on every reconnect);
 * one that failed to arrive is tried again after `retryMs`.
 */
import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import { RefusalReason, ReleaseError } from '../../fleet/release/release-error.ts'
import { parseManifest } from '../../fleet/release/release-manifest.ts'
import { mergeOptions } from '../../protocol/options.ts'
import type { UpdateStatus } from '../../protocol/messages.ts'
import { topics } from '../../protocol/topics.ts'
import type { Connection } from '../../protocol/transport.ts'
import { decideRelease, type Decision } from './release-policy.ts'
import { fetchBuild } from './release-fetch.ts'
import { stageRelease } from './stage-release.ts'
import { UpdateLayout } from './update-layout.ts'

export interface UpdaterOptions {
  /** Public keys (hex) whose signatures are trusted. */
  trustedKeys: string[]
  /** The A/B root (the install prefix: /opt/fogmesh). */
  root: string
  /** The version and bundle arch running now. */
  version: string
  arch: string
  channel?: string
  /** Largest release this agent downloads. */
  maxReleaseBytes?: number
  chunkTimeoutMs?: number
  /** After a release failed to arrive, when to try it again. */
  retryMs?: number
  /** Manifests remembered as handled (each is handled once; a retained one comes on every reconnect); the oldest is forgotten first. */
  maxSeenReleases?: number
}

export const UPDATER_DEFAULTS = { channel: 'stable', maxReleaseBytes: 256 * 1024 * 1024, chunkTimeoutMs: 30_000, retryMs: 300_000, maxSeenReleases: 64 }

export interface UpdaterEvents {
  /** What the agent made of a release it saw. */
  decision: [Decision & { version: string }]
  progress: [{ version: string; bytes: number; total: number }]
  /** A release is staged and the supervisor asked to try it: the agent should leave (exit 75). */
  staged: [{ version: string; dir: string }]
  /** The last update's outcome changed (presence should say so). */
  status: [UpdateStatus]
  /** A bound bit: `maxSeenReleases` manifests remembered, the oldest forgotten. */
  limit: [{ limit: 'maxSeenReleases'; value: number }]
}

export class Updater extends EventEmitter<UpdaterEvents> {
  readonly layout: UpdateLayout
  private readonly opts
  private readonly handled = new Map<string, number>()
  private next: Buffer | undefined
  private busy = false
  private stopped = false
  private retry: NodeJS.Timeout | undefined
  private status_: UpdateStatus | undefined

  constructor(
    private readonly conn: Connection,
    private readonly agent: { id: string; labels: Record<string, string> },
    options: UpdaterOptions,
  ) {
    super()
    this.opts = mergeOptions(options, UPDATER_DEFAULTS, { maxReleaseBytes: { min: 1024, max: 4 * 1024 * 1024 * 1024, integer: true }, chunkTimeoutMs: { min: 10, max: 3_600_000, integer: true }, retryMs: { min: 10, max: 86_400_000, integer: true }, maxSeenReleases: { min: 1, max: 100_000, integer: true } }, 'update')
    if (this.opts.trustedKeys.length === 0) throw new ReleaseError(RefusalReason.badSignature, 'update: no trusted release key')
    this.layout = new UpdateLayout(this.opts.root)
    this.status_ = this.layout.lastOutcome()
  }

  get channel(): string {
    return this.opts.channel
  }

  /** The last update's outcome, for presence. */
  status(): UpdateStatus | undefined {
    return this.status_
  }

  /** Reads the outcome the supervisor wrote (after it committed or rolled back) and tells listeners. */
  reload(): void {
    const s = this.layout.lastOutcome()
    if (s && (s.at !== this.status_?.at || s.outcome !== this.status_?.outcome)) {
      this.status_ = s
      this.emit('status', s)
    }
  }

  async start(): Promise<void> {
    this.layout.ensure()
    const topic = topics.release(this.opts.channel)
    this.conn.route(topic, (_t, payload) => this.offer(payload))
    await this.conn.subscribe(topic, 1)
  }

  stop(): void {
    this.stopped = true
    clearTimeout(this.retry)
    this.conn.unroute(topics.release(this.opts.channel))
  }

  private offer(payload: Buffer): void {
    if (payload.length === 0 || this.stopped) return
    this.next = payload
    if (!this.busy) void this.drain()
  }

  private async drain(): Promise<void> {
    this.busy = true
    while (this.next && !this.stopped) {
      const payload = this.next
      this.next = undefined
      await this.handle(payload)
    }
    this.busy = false
  }

  private record(s: UpdateStatus): void {
    this.status_ = s
    this.layout.writeOutcome(s)
    this.emit('status', s)
  }

  private async handle(payload: Buffer): Promise<void> {
    let version = '?'
    try {
      const m = parseManifest(payload)
      version = m.version
      if (this.handled.has(m.signature)) return
      const d = decideRelease(m, {
        trustedKeys: this.opts.trustedKeys,
        agentId: this.agent.id,
        labels: this.agent.labels,
        version: this.opts.version,
        arch: this.opts.arch,
        failed: this.layout.failedVersions(),
        maxReleaseBytes: this.opts.maxReleaseBytes,
      })
      this.handled.set(m.signature, Date.now())
      if (this.handled.size > this.opts.maxSeenReleases) {
        this.handled.delete(this.handled.keys().next().value!)
        this.emit('limit', { limit: 'maxSeenReleases', value: this.opts.maxSeenReleases })
      }
      if (d.action !== 'take') {
        this.emit('decision', { ...d, version })
        if (d.action === 'refuse') this.record({ outcome: 'refused', version, from: this.opts.version, reason: d.reason, message: d.message, at: Date.now() })
        return
      }
      const file = join(this.layout.staging, `${d.build.file}.part`)
      await fetchBuild(this.conn, d.build, file, { chunkTimeoutMs: this.opts.chunkTimeoutMs, onProgress: (bytes, total) => this.emit('progress', { version, bytes, total }) })
      const dir = stageRelease(this.layout, file, m, this.opts.arch)
      this.emit('decision', { ...d, version })
      this.layout.writePending(dir)
      this.stopped = true
      this.emit('staged', { version, dir })
    } catch (err) {
      const e = err instanceof ReleaseError ? err : new ReleaseError(RefusalReason.badBundle, (err as Error).message)
      this.emit('decision', { action: 'refuse', reason: e.reason, message: e.shortMessage, version })
      if (e.reason === RefusalReason.fetchTimeout) {
        this.forgetLater(payload)
      } else if (e.reason !== RefusalReason.malformed || version !== '?') {
        this.record({ outcome: 'refused', version, from: this.opts.version, reason: e.reason, message: e.shortMessage.slice(0, 512), at: Date.now() })
      }
    }
  }

  /** A release that did not arrive is tried again later (its chunks may be published late). */
  private forgetLater(payload: Buffer): void {
    try {
      const m = parseManifest(payload)
      clearTimeout(this.retry)
      this.retry = setTimeout(() => {
        this.handled.delete(m.signature)
        this.offer(payload)
      }, this.opts.retryMs)
      this.retry.unref()
    } catch {
      // not a manifest: nothing to retry
    }
  }
}
