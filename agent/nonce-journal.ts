/**
 * The agent's taken assignment nonces on disk (`DATA/nonces.journal`), so that
 * an assignment replayed after the agent *process* restarted — a broker's
 * redelivery, a copy kept by a `#` subscriber, an old sequence played again
 * after a reconnect — is refused `replayed` as it is within one run.
 *
 * One line per taken nonce (`expiresAt key`), appended before the job runs
 * (the write reaches the OS before it: a SIGKILL loses nothing; a power cut may lose
 * the last lines, like any unsynced append). The lines taken in one burst of messages
 * (one socket read: mqtt.js dispatches its packets in back-to-back ticks) go out with
 * one write(2), queued as a microtask at the first — every tick of the burst runs
 * before it, every job it admitted after it — and `flush` forces it (the agent calls
 * it before it runs a job, so no run ever depends on that ordering). At open the unexpired lines are read
 * back into the window; the file is rewritten with only those when it holds more
 * than twice `compactAbove` lines (its bound: the window's own capacity).
 */
import { closeSync, existsSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs'

export class NonceJournal {
  private lines = 0
  /** Kept open for appending: one write(2) per nonce, not an open, write and close (appendFileSync). */
  private fd: number | undefined
  /** Lines taken and not yet written (bounded: a compaction, at 2 × `compactAbove` lines, drops them into the rewrite). */
  private pending: string[] = []
  private readonly flushSoon = () => {
    try {
      this.flush()
    } catch {
      // kept pending: the next flush (the one before a job runs) writes them or throws
    }
  }

  constructor(readonly path: string, private readonly compactAbove: number) {}

  /** The unexpired nonces kept, oldest first (to take into the window again). */
  load(now: number): { key: string; expiresAt: number }[] {
    if (!existsSync(this.path)) return []
    const out = new Map<string, number>()
    for (const line of readFileSync(this.path, 'utf8').split('\n')) {
      const sp = line.indexOf(' ')
      if (sp <= 0) continue // a torn last line from a crash
      const expiresAt = Number(line.slice(0, sp))
      if (Number.isFinite(expiresAt) && expiresAt >= now) out.set(line.slice(sp + 1), expiresAt)
    }
    const live = [...out].map(([key, expiresAt]) => ({ key, expiresAt })).sort((a, b) => a.expiresAt - b.expiresAt)
    this.rewrite(live)
    return live
  }

  /** Records a taken nonce; `live` gives the window's unexpired ones when the file is due for compaction. */
  append(key: string, expiresAt: number, live: () => Iterable<[string, number]>): void {
    if (++this.lines > 2 * this.compactAbove) {
      this.pending = [] // `live` holds them
      return this.rewrite([...live()].map(([k, e]) => ({ key: k, expiresAt: e })))
    }
    this.pending.push(`${expiresAt} ${key}\n`)
    if (this.pending.length === 1) queueMicrotask(this.flushSoon)
  }

  /** Writes the lines taken so far (one write(2)); throws when the file cannot be written. */
  flush(): void {
    if (this.pending.length === 0) return
    const bytes = Buffer.from(this.pending.length === 1 ? (this.pending[0] as string) : this.pending.join(''))
    this.fd ??= openSync(this.path, 'a', 0o600)
    for (let off = 0; off < bytes.length; ) off += writeSync(this.fd, bytes, off, bytes.length - off)
    this.pending = []
  }

  private rewrite(live: { key: string; expiresAt: number }[]): void {
    const tmp = `${this.path}.tmp`
    writeFileSync(tmp, live.map((n) => `${n.expiresAt} ${n.key}\n`).join(''))
    renameSync(tmp, this.path)
    this.lines = live.length
    this.closeFd() // the old file's descriptor: the next append opens the new one
  }

  /** Writes what is pending and closes the append descriptor (the next append opens it again). */
  close(): void {
    this.flush()
    this.closeFd()
  }

  private closeFd(): void {
    if (this.fd === undefined) return
    closeSync(this.fd)
    this.fd = undefined
  }
}
