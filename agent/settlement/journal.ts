/**
 * The agent's durable journal of what it is owed: every voucher it accepted
 * (with the results it pays for), and every settlement it sent.
 *
 * Nothing acknowledged is lost: `acceptVoucher` appends one checksummed record
 * and fdatasyncs it (journal-file.ts) before it returns, and the caller sends
 * the acknowledgement only after that. Settlement is idempotent: a settlement
 * is recorded as `sent` with its transaction hash before it is broadcast; after
 * a crash, `reconcile` asks the chain what each channel has been paid and moves
 * the journal forward to match — nothing claimed twice, nothing forgotten.
 *
 * Pure JavaScript: a device needs no native addon (the SQLite journal it
 * replaces needed better-sqlite3 built for the device; bench/journal.bench.ts
 * compares the two). State lives in memory, rebuilt from the file on open; the
 * file is compacted into a snapshot when it outgrows what it holds.
 */
import { ErrorCode, FogmeshError } from '../../protocol/errors.ts'
import { JournalFile } from './journal-file.ts'

/** How the journal names a channel: its id as 0x-prefixed 32-byte hex. */
export const channelKey = (channelId: bigint | string): string => `0x${BigInt(channelId).toString(16).padStart(64, '0')}`

export interface JournalVoucher {
  /** Channel id, 0x-prefixed 32-byte hex. */
  channelId: string
  /** Cumulative amount the requester owes on this channel, in token base units. */
  cumulative: bigint
  /** Merkle root of the results this voucher pays for (the batch so far). */
  resultsRoot: string
  jobCount: number
  /** The requester's EIP-712 signature, 0x hex. */
  signature: string
}

export interface ResultLeaf {
  jobId: string
  /** The leaf as committed on chain (0x hex, 32 bytes). */
  leaf: string
}

export interface Owed {
  channelId: string
  voucher: JournalVoucher
  /** What the chain has paid on it, as far as the journal knows. */
  paid: bigint
}

export type SettlementState = 'sent' | 'confirmed' | 'failed'

export interface JournalOptions {
  /** Compact the file once it is past this size and twice what it holds. Default 8 MiB. */
  compactAtBytes?: number
  /** Finished (confirmed or failed) settlements kept for reference. Default 256. */
  keepSettlements?: number
}

/** One record of the file. Amounts are decimal strings (JSON has no bigint). */
type JournalRecord =
  | { t: 'voucher'; c: string; n: string; root: string; jobs: number; sig: string; at: number; leaves: Array<[string, string]> }
  | { t: 'paid'; c: string; paid: string }
  | { t: 'sent'; tx: string; channels: Array<[string, string]>; at: number }
  | { t: 'done'; tx: string; state: Exclude<SettlementState, 'sent'>; gas: string | null }

interface Channel {
  latest: JournalVoucher
  receivedAt: number
  paid: bigint
  leaves: ResultLeaf[]
  jobIds: Set<string>
}

interface Settlement {
  state: SettlementState
  channels: Array<{ channelId: string; cumulative: bigint }>
  sentAt: number
  gasUsed: bigint | undefined
}

export class VoucherJournal {
  /** undefined for `:memory:` (tests on the in-memory chain): nothing survives the process. */
  private readonly file: JournalFile | undefined
  private readonly channels = new Map<string, Channel>()
  private readonly settlements = new Map<string, Settlement>()
  private readonly compactAt: number
  private readonly keepSettlements: number
  private snapshotBytes: number
  private readonly path: string
  private closed = false

  constructor(path: string, options: JournalOptions = {}) {
    this.compactAt = options.compactAtBytes ?? 8 * 1024 * 1024
    this.keepSettlements = options.keepSettlements ?? 256
    this.path = path
    if (path === ':memory:') {
      this.file = undefined
      this.snapshotBytes = 0
      return
    }
    const { file, replayed } = JournalFile.open(path)
    this.file = file
    for (const r of replayed.records) this.apply(r as JournalRecord, path)
    this.snapshotBytes = file.bytes
  }

  /**
   * Records a voucher (and the results it pays for) durably. Returns false —
   * and records nothing — when it is not newer than what this channel already
   * has (a replay or a stale voucher). The caller acknowledges only after
   * this returns true.
   */
  acceptVoucher(v: JournalVoucher, results: ResultLeaf[] = []): boolean {
    const ch = this.channels.get(v.channelId)
    if (ch && ch.latest.cumulative >= v.cumulative) return false
    const record: JournalRecord = {
      t: 'voucher',
      c: v.channelId,
      n: v.cumulative.toString(),
      root: v.resultsRoot,
      jobs: v.jobCount,
      sig: v.signature,
      at: Date.now(),
      leaves: results.map((r) => [r.jobId, r.leaf]),
    }
    this.write(record)
    return true
  }

  /** The latest voucher of a channel, or undefined. */
  latest(channelId: string): JournalVoucher | undefined {
    const ch = this.channels.get(channelId)
    return ch ? { ...ch.latest } : undefined
  }

  /** Channels whose latest voucher is worth more than what has been paid. */
  owed(): Owed[] {
    const out: Owed[] = []
    for (const [channelId, ch] of this.channels) {
      if (ch.latest.cumulative > ch.paid) out.push({ channelId, voucher: { ...ch.latest }, paid: ch.paid })
    }
    return out
  }

  /** Every channel the journal knows. */
  channelIds(): string[] {
    return [...this.channels.keys()]
  }

  /** Result leaves recorded for a channel, in arrival order (the batch's tree is built from them). */
  leaves(channelId: string): ResultLeaf[] {
    return (this.channels.get(channelId)?.leaves ?? []).map((l) => ({ ...l }))
  }

  /** Call BEFORE broadcasting: the hash is known from the signed transaction. */
  settlementSent(txHash: string, channels: Array<{ channelId: string; cumulative: bigint }>): void {
    // the same hash again is the same transaction re-sent: after a crash before broadcast, the retry
    // signs the same nonce and data, and deterministic signatures give the same hash
    this.write({ t: 'sent', tx: txHash, channels: channels.map((c) => [c.channelId, c.cumulative.toString()]), at: Date.now() })
  }

  settlementDone(txHash: string, state: Exclude<SettlementState, 'sent'>, gasUsed?: bigint): void {
    if (!this.settlements.has(txHash)) return
    this.write({ t: 'done', tx: txHash, state, gas: gasUsed?.toString() ?? null })
  }

  /** Settlements sent but not known to be confirmed or failed (a crash in between). */
  openSettlements(): Array<{ txHash: string; channels: Array<{ channelId: string; cumulative: bigint }> }> {
    const out: Array<{ txHash: string; channels: Array<{ channelId: string; cumulative: bigint }> }> = []
    for (const [txHash, s] of this.settlements) if (s.state === 'sent') out.push({ txHash, channels: s.channels.map((c) => ({ ...c })) })
    return out
  }

  /** Moves a channel's paid amount to what the chain says (never backwards). */
  setPaid(channelId: string, paidOnChain: bigint): void {
    const ch = this.channels.get(channelId)
    if (!ch || ch.paid >= paidOnChain) return
    this.write({ t: 'paid', c: channelId, paid: paidOnChain.toString() })
  }

  /** Bytes of the journal file (for metrics and the bench). */
  get fileBytes(): number {
    return this.file?.bytes ?? 0
  }

  close(): void {
    if (this.closed) return
    this.closed = true
    this.file?.close()
  }

  // ---- the file ------------------------------------------------------------------------------

  /** On disk first, then in memory: what the state says is always what the file says. */
  private write(record: JournalRecord): void {
    if (this.closed) throw new FogmeshError(ErrorCode.closed, 'voucher journal is closed')
    this.file?.append(record)
    this.apply(record, this.path)
    if (this.file && this.file.bytes > this.compactAt && this.file.bytes > 2 * this.snapshotBytes) this.compact()
  }

  private apply(r: JournalRecord, path: string): void {
    switch (r.t) {
      case 'voucher': {
        const v: JournalVoucher = { channelId: r.c, cumulative: BigInt(r.n), resultsRoot: r.root, jobCount: r.jobs, signature: r.sig }
        let ch = this.channels.get(r.c)
        if (!ch) {
          ch = { latest: v, receivedAt: r.at, paid: 0n, leaves: [], jobIds: new Set() }
          this.channels.set(r.c, ch)
        } else if (v.cumulative > ch.latest.cumulative) {
          ch.latest = v
          ch.receivedAt = r.at
        }
        for (const [jobId, leaf] of r.leaves) {
          if (ch.jobIds.has(jobId)) continue // a job is paid for once per channel
          ch.jobIds.add(jobId)
          ch.leaves.push({ jobId, leaf })
        }
        return
      }
      case 'paid': {
        const ch = this.channels.get(r.c)
        const paid = BigInt(r.paid)
        if (ch && paid > ch.paid) ch.paid = paid
        return
      }
      case 'sent':
        this.settlements.delete(r.tx) // re-sent: it moves to the end (the most recent)
        this.settlements.set(r.tx, { state: 'sent', channels: r.channels.map(([channelId, c]) => ({ channelId, cumulative: BigInt(c) })), sentAt: r.at, gasUsed: undefined })
        return
      case 'done': {
        const s = this.settlements.get(r.tx)
        if (s) {
          s.state = r.state
          s.gasUsed = r.gas === null ? undefined : BigInt(r.gas)
        }
        this.forgetOldSettlements()
        return
      }
      default:
        throw new FogmeshError(ErrorCode.internal, `journal ${path}: unknown record ${JSON.stringify((r as { t?: unknown }).t)}`)
    }
  }

  private forgetOldSettlements(): void {
    let done = 0
    for (const s of this.settlements.values()) if (s.state !== 'sent') done++
    for (const [tx, s] of this.settlements) {
      if (done <= this.keepSettlements) break
      if (s.state === 'sent') continue
      this.settlements.delete(tx)
      done--
    }
  }

  /** The state as the fewest records: one voucher (with every leaf) and one paid per channel, the settlements. */
  private snapshot(): JournalRecord[] {
    const out: JournalRecord[] = []
    for (const [c, ch] of this.channels) {
      const v = ch.latest
      out.push({ t: 'voucher', c, n: v.cumulative.toString(), root: v.resultsRoot, jobs: v.jobCount, sig: v.signature, at: ch.receivedAt, leaves: ch.leaves.map((l) => [l.jobId, l.leaf]) })
      if (ch.paid > 0n) out.push({ t: 'paid', c, paid: ch.paid.toString() })
    }
    for (const [tx, s] of this.settlements) {
      out.push({ t: 'sent', tx, channels: s.channels.map((x) => [x.channelId, x.cumulative.toString()]), at: s.sentAt })
      if (s.state !== 'sent') out.push({ t: 'done', tx, state: s.state, gas: s.gasUsed?.toString() ?? null })
    }
    return out
  }

  /** Rewrites the file as a snapshot of the state (atomic: old file or new file after a crash). */
  compact(): void {
    if (!this.file) return
    this.file.rewrite(this.snapshot())
    this.snapshotBytes = this.file.bytes
  }
}
