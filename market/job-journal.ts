/**
 * The gateway's job journal: a job submitted by a sensor is on disk before the
 * gateway's PUBACK leaves (the gateway journals it synchronously in its
 * message handler; mqtt.js acknowledges a QoS 1 message after the handler
 * returns), its answer is on disk before it is published, and its delivery
 * once the broker acknowledged the answer. After a gateway (or broker) crash:
 *   - accepted, not answered  → run again (same mesh id: a late result of the
 *     first run from the same agent still counts);
 *   - answered, not delivered → the same answer published again (never run twice);
 *   - delivered               → remembered in the duplicate window, which thus
 *     survives restarts (a sensor resending after the crash is not answered twice).
 *
 * Storage: the voucher journal's JournalFile (agent/settlement/journal-file.ts:
 * CRC-32 frames, fdatasync per append, atomic rewrite) — no native addon. The
 * file is compacted (rewritten with the live records) once it is twice its live
 * size and at least `compactMinBytes`. The journal also keeps the gateway's
 * identity, so its MQTT session and inbox are the same after a restart.
 */
import { randomBytes } from 'node:crypto'
import { JournalFile } from '../agent/settlement/journal-file.ts'

type Rec =
  | { k: 'id'; id: string }
  | { k: 'a'; key: string; p: string; t?: string }
  | { k: 'r'; key: string; to: string; w: string }
  | { k: 'd'; key: string }

interface Entry {
  state: 'accepted' | 'answered' | 'delivered'
  payload?: Buffer
  /** The topic the job came on (it names the submitter, fm/v1/jobs/submit/<name>). */
  topic?: string
  replyTo?: string
  wire?: string
}

export interface JobJournalOptions {
  /** Delivered job keys remembered for duplicate detection (the gateway's dedupeWindow). */
  dedupeWindow: number
  /** Rewrite the file once it is twice its live size and at least this large. Default 1 MiB. */
  compactMinBytes?: number
}

export interface JobJournalStats {
  accepted: number
  answered: number
  delivered: number
  bytes: number
  compactions: number
  /** Records read at open. */
  replayed: number
}

export class JobJournal {
  private readonly entries = new Map<string, Entry>()
  private delivered = 0
  private liveBytes = 0
  private compactions = 0

  private constructor(
    private readonly file: JournalFile,
    readonly id: string,
    private readonly opts: Required<JobJournalOptions>,
    private readonly replayed: number,
  ) {}

  /** Opens (creating) the journal at `path` and replays it. */
  static open(path: string, options: JobJournalOptions): JobJournal {
    const { file, replayed } = JournalFile.open(path)
    let id: string | undefined
    const j = new JobJournal(file, '', { compactMinBytes: 1024 * 1024, ...options }, replayed.records.length)
    for (const r of replayed.records as Rec[]) {
      if (r.k === 'id') id = r.id
      else j.apply(r)
    }
    if (!id) {
      id = randomBytes(8).toString('hex')
      file.append({ k: 'id', id } satisfies Rec)
    }
    ;(j as { id: string }).id = id
    return j
  }

  /** Whether `key` is known (in flight, or answered within the window). */
  has(key: string): boolean {
    return this.entries.has(key)
  }

  /** Jobs accepted and not yet answered, oldest first. */
  unanswered(): Array<{ key: string; payload: Buffer; topic: string | undefined }> {
    const out: Array<{ key: string; payload: Buffer; topic: string | undefined }> = []
    for (const [key, e] of this.entries) if (e.state === 'accepted') out.push({ key, payload: e.payload!, topic: e.topic })
    return out
  }

  /** Answers journaled but not acknowledged by the broker, oldest first. */
  undelivered(): Array<{ key: string; replyTo: string; wire: string }> {
    const out: Array<{ key: string; replyTo: string; wire: string }> = []
    for (const [key, e] of this.entries) if (e.state === 'answered') out.push({ key, replyTo: e.replyTo!, wire: e.wire! })
    return out
  }

  /** The job is on disk when this returns. */
  accept(key: string, payload: Buffer, topic?: string): void {
    this.write({ k: 'a', key, p: payload.toString('base64'), ...(topic !== undefined ? { t: topic } : {}) })
  }

  /** The answer is on disk when this returns (publish it after). */
  answer(key: string, replyTo: string, wire: string): void {
    this.write({ k: 'r', key, to: replyTo, w: wire })
  }

  /** The broker acknowledged the answer. */
  markDelivered(key: string): void {
    if (this.entries.get(key)?.state !== 'answered') return
    this.write({ k: 'd', key })
  }

  stats(): JobJournalStats {
    let accepted = 0
    let answered = 0
    for (const e of this.entries.values()) {
      if (e.state === 'accepted') accepted++
      else if (e.state === 'answered') answered++
    }
    return { accepted, answered, delivered: this.delivered, bytes: this.file.bytes, compactions: this.compactions, replayed: this.replayed }
  }

  close(): void {
    this.file.close()
  }

  private write(r: Rec): void {
    this.file.append(r)
    this.apply(r)
    if (this.file.bytes >= this.opts.compactMinBytes && this.file.bytes > 2 * this.liveBytes) this.compact()
  }

  private apply(r: Rec): void {
    if (r.k === 'id') return
    const old = this.entries.get(r.key)
    if (old) {
      this.liveBytes -= sizeOf(old)
      if (old.state === 'delivered') this.delivered--
      this.entries.delete(r.key)
    }
    const e: Entry =
      r.k === 'a' ? { state: 'accepted', payload: Buffer.from(r.p, 'base64'), ...(r.t !== undefined ? { topic: r.t } : {}) } : r.k === 'r' ? { state: 'answered', replyTo: r.to, wire: r.w } : { state: 'delivered' }
    this.entries.set(r.key, e)
    this.liveBytes += sizeOf(e)
    if (e.state === 'delivered' && ++this.delivered > this.opts.dedupeWindow) this.evictOldestDelivered()
  }

  private evictOldestDelivered(): void {
    for (const [key, e] of this.entries) {
      if (e.state !== 'delivered') continue
      this.entries.delete(key)
      this.liveBytes -= sizeOf(e)
      this.delivered--
      return
    }
  }

  private compact(): void {
    const records: Rec[] = [{ k: 'id', id: this.id }]
    for (const [key, e] of this.entries) {
      if (e.state === 'accepted') records.push({ k: 'a', key, p: e.payload!.toString('base64'), ...(e.topic !== undefined ? { t: e.topic } : {}) })
      else if (e.state === 'answered') records.push({ k: 'r', key, to: e.replyTo!, w: e.wire! })
      else records.push({ k: 'd', key })
    }
    this.file.rewrite(records)
    this.compactions++
  }
}

const sizeOf = (e: Entry) => 40 + (e.payload ? Math.ceil(e.payload.length * 4 / 3) : 0) + (e.wire?.length ?? 0) + (e.replyTo?.length ?? 0)
