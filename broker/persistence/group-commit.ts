/**
 * Group commit over a JournalFile (agent/settlement/journal-file.ts: CRC-32
 * frames, fdatasync, atomic rewrite): every record appended in one turn of the
 * event loop goes to disk in one write and one fdatasync, and each `append`
 * resolves once its record is on disk. A broker taking a burst of QoS 1
 * publishes pays one sync per burst, not one per message.
 *
 * `compact(snapshot)` replaces the file with the live state when the log has
 * grown past `compactFactor` × the live bytes (and at least `compactMinBytes`).
 */
import { frame, JournalFile, type ReplayResult } from '../../agent/settlement/journal-file.ts'

export interface GroupCommitOptions {
  /** Rewrite once the file is this many times the live bytes. */
  compactFactor: number
  /** ... and at least this large. */
  compactMinBytes: number
}

export interface GroupCommitStats {
  bytes: number
  records: number
  syncs: number
  compactions: number
}

export class GroupCommitLog {
  private pending: Buffer[] = []
  private waiters: Array<{ resolve: () => void; reject: (e: unknown) => void }> = []
  private scheduled = false
  private closed = false
  private readonly stats_: GroupCommitStats = { bytes: 0, records: 0, syncs: 0, compactions: 0 }

  private constructor(
    private readonly file: JournalFile,
    private readonly opts: GroupCommitOptions,
    private readonly snapshot: () => { records: unknown[]; liveBytes: number },
  ) {
    this.stats_.bytes = file.bytes
  }

  /** Opens `path`, replaying what it holds; `snapshot` gives the live state when compaction is due. */
  static open(path: string, opts: GroupCommitOptions, snapshot: () => { records: unknown[]; liveBytes: number }): { log: GroupCommitLog; replayed: ReplayResult } {
    const { file, replayed } = JournalFile.open(path)
    return { log: new GroupCommitLog(file, opts, snapshot), replayed }
  }

  /** Queues a record; resolves once it is on disk. Returns the frame's size (for the caller's live-bytes count). */
  append(record: unknown): { bytes: number; durable: Promise<void> } {
    const f = frame(record)
    if (this.closed) return { bytes: f.length, durable: Promise.reject(new Error('journal closed')) }
    this.pending.push(f)
    this.stats_.records++
    const durable = new Promise<void>((resolve, reject) => this.waiters.push({ resolve, reject }))
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => this.flush())
    }
    return { bytes: f.length, durable }
  }

  /** Writes what is queued now (also called by close). */
  flush(): void {
    this.scheduled = false
    if (this.pending.length === 0) return
    const batch = this.pending.length === 1 ? (this.pending[0] as Buffer) : Buffer.concat(this.pending)
    const waiters = this.waiters
    this.pending = []
    this.waiters = []
    try {
      this.file.appendFrame(batch)
      this.stats_.syncs++
      this.stats_.bytes = this.file.bytes
    } catch (err) {
      for (const w of waiters) w.reject(err)
      return
    }
    for (const w of waiters) w.resolve()
    this.maybeCompact()
  }

  private maybeCompact(): void {
    if (this.file.bytes < this.opts.compactMinBytes) return
    const { records, liveBytes } = this.snapshot()
    if (this.file.bytes < liveBytes * this.opts.compactFactor) return
    this.file.rewrite(records)
    this.stats_.compactions++
    this.stats_.bytes = this.file.bytes
  }

  stats(): GroupCommitStats {
    return { ...this.stats_ }
  }

  close(): void {
    if (this.closed) return
    this.flush()
    this.closed = true
    this.file.close()
  }
}
