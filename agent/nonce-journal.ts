/**
 * The agent's taken assignment nonces on disk (`DATA/nonces.journal`), so that
 * an assignment replayed after the agent *process* restarted — a broker's
 * redelivery, a copy kept by a `#` subscriber, an old sequence played again
 * after a reconnect — is refused `replayed` as it is within one run.
 *
 * One line per taken nonce (`expiresAt key`), appended before the job runs
 * (the write reaches the OS at once: a SIGKILL loses nothing; a power cut may lose
 * the last lines, like any unsynced append). At open the unexpired lines are read
 * back into the window; the file is rewritten with only those when it holds more
 * than twice `compactAbove` lines (its bound: the window's own capacity).
 */
import { closeSync, existsSync, openSync, readFileSync, renameSync, writeFileSync, writeSync } from 'node:fs'

export class NonceJournal {
  private lines = 0
  /** Kept open for appending: one write(2) per nonce, not an open, write and close (appendFileSync). */
  private fd: number | undefined

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
    const line = Buffer.from(`${expiresAt} ${key}\n`)
    this.fd ??= openSync(this.path, 'a', 0o600)
    for (let off = 0; off < line.length; ) off += writeSync(this.fd, line, off, line.length - off)
    if (++this.lines > 2 * this.compactAbove) this.rewrite([...live()].map(([k, e]) => ({ key: k, expiresAt: e })))
  }

  private rewrite(live: { key: string; expiresAt: number }[]): void {
    const tmp = `${this.path}.tmp`
    writeFileSync(tmp, live.map((n) => `${n.expiresAt} ${n.key}\n`).join(''))
    renameSync(tmp, this.path)
    this.lines = live.length
    this.close() // the old file's descriptor: the next append opens the new one
  }

  /** Closes the append descriptor (the next append opens it again). */
  close(): void {
    if (this.fd === undefined) return
    closeSync(this.fd)
    this.fd = undefined
  }
}
