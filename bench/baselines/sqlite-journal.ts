/**
 * BASELINE for bench/journal.bench.ts: the SQLite (better-sqlite3, a native addon) voucher journal the
 * agent used before agent/settlement/journal.ts, kept verbatim so that the bench measures old against
 * new in the same run. Not used by the agent.
 *
 * The agent's durable journal of what it is owed: every voucher it accepted
 * (with the results it pays for), and every settlement it sent.
 *
 * Nothing acknowledged is lost: `acceptVoucher` commits (SQLite WAL,
 * synchronous=FULL: fsync'd before COMMIT returns) before the caller sends
 * the acknowledgement. Settlement is idempotent: a settlement is recorded as
 * `sent` with its transaction hash before it is broadcast; after a crash,
 * `reconcile` asks the chain what each channel has been paid and moves the
 * journal forward to match — nothing claimed twice, nothing forgotten.
 */
import Database from 'better-sqlite3'
import { mkdirSync } from 'node:fs'
import { dirname } from 'node:path'
import { ErrorCode, FogmeshError } from '../../protocol/errors.ts'

import type { JournalVoucher, ResultLeaf, Owed, SettlementState } from '../../agent/settlement/journal.ts'

const SCHEMA = `
CREATE TABLE IF NOT EXISTS vouchers (
  channel_id   TEXT    NOT NULL,
  cumulative   TEXT    NOT NULL,   -- decimal: bigint does not fit SQLite's integer
  results_root TEXT    NOT NULL,
  job_count    INTEGER NOT NULL,
  signature    TEXT    NOT NULL,
  received_at  INTEGER NOT NULL,
  PRIMARY KEY (channel_id, cumulative)
);
CREATE TABLE IF NOT EXISTS channels (
  channel_id TEXT PRIMARY KEY,
  latest     TEXT NOT NULL,        -- highest cumulative accepted
  paid       TEXT NOT NULL DEFAULT '0'
);
CREATE TABLE IF NOT EXISTS results (
  channel_id TEXT NOT NULL,
  cumulative TEXT NOT NULL,
  job_id     TEXT NOT NULL,
  leaf       TEXT NOT NULL,
  PRIMARY KEY (channel_id, job_id)
);
CREATE TABLE IF NOT EXISTS settlements (
  tx_hash   TEXT PRIMARY KEY,
  state     TEXT NOT NULL,
  channels  TEXT NOT NULL,         -- JSON: [{channelId, cumulative}]
  sent_at   INTEGER NOT NULL,
  gas_used  TEXT
);
`

export class SqliteVoucherJournal {
  private readonly db: Database.Database
  private readonly stmts

  constructor(path: string) {
    if (path !== ':memory:') mkdirSync(dirname(path), { recursive: true })
    this.db = new Database(path)
    this.db.pragma('journal_mode = WAL')
    this.db.pragma('synchronous = FULL') // money: the commit is on disk before we acknowledge
    this.db.exec(SCHEMA)
    this.stmts = {
      channel: this.db.prepare<[string], { latest: string; paid: string }>('SELECT latest, paid FROM channels WHERE channel_id = ?'),
      insertVoucher: this.db.prepare(
        'INSERT OR IGNORE INTO vouchers (channel_id, cumulative, results_root, job_count, signature, received_at) VALUES (?, ?, ?, ?, ?, ?)',
      ),
      upsertChannel: this.db.prepare(
        `INSERT INTO channels (channel_id, latest) VALUES (?, ?)
         ON CONFLICT(channel_id) DO UPDATE SET latest = excluded.latest`,
      ),
      insertResult: this.db.prepare('INSERT OR IGNORE INTO results (channel_id, cumulative, job_id, leaf) VALUES (?, ?, ?, ?)'),
      voucher: this.db.prepare<[string, string], { cumulative: string; results_root: string; job_count: number; signature: string }>(
        'SELECT cumulative, results_root, job_count, signature FROM vouchers WHERE channel_id = ? AND cumulative = ?',
      ),
      owed: this.db.prepare<[], { channel_id: string; latest: string; paid: string }>('SELECT channel_id, latest, paid FROM channels'),
      channelIds: this.db.prepare<[], { channel_id: string }>('SELECT channel_id FROM channels'),
      setPaid: this.db.prepare('UPDATE channels SET paid = ? WHERE channel_id = ?'),
      // the same hash again is the same transaction re-sent: after a crash before broadcast, the retry
      // signs the same nonce and data, and deterministic signatures give the same hash
      insertSettlement: this.db.prepare(
        `INSERT INTO settlements (tx_hash, state, channels, sent_at) VALUES (?, ?, ?, ?)
         ON CONFLICT(tx_hash) DO UPDATE SET state = excluded.state, channels = excluded.channels, sent_at = excluded.sent_at, gas_used = NULL`,
      ),
      setSettlement: this.db.prepare('UPDATE settlements SET state = ?, gas_used = ? WHERE tx_hash = ?'),
      openSettlements: this.db.prepare<[], { tx_hash: string; channels: string }>("SELECT tx_hash, channels FROM settlements WHERE state = 'sent'"),
      allLeaves: this.db.prepare<[string], { job_id: string; leaf: string }>('SELECT job_id, leaf FROM results WHERE channel_id = ? ORDER BY rowid'),
    }
  }

  /**
   * Records a voucher (and the results it pays for) durably. Returns false —
   * and records nothing — when it is not newer than what this channel already
   * has (a replay or a stale voucher). The caller acknowledges only after
   * this returns true.
   */
  acceptVoucher(v: JournalVoucher, results: ResultLeaf[] = []): boolean {
    return this.db.transaction(() => {
      const ch = this.stmts.channel.get(v.channelId)
      if (ch && BigInt(ch.latest) >= v.cumulative) return false
      this.stmts.insertVoucher.run(v.channelId, v.cumulative.toString(), v.resultsRoot, v.jobCount, v.signature, Date.now())
      this.stmts.upsertChannel.run(v.channelId, v.cumulative.toString())
      for (const r of results) this.stmts.insertResult.run(v.channelId, v.cumulative.toString(), r.jobId, r.leaf)
      return true
    })()
  }

  /** The latest voucher of a channel, or undefined. */
  latest(channelId: string): JournalVoucher | undefined {
    const ch = this.stmts.channel.get(channelId)
    if (!ch) return undefined
    const row = this.stmts.voucher.get(channelId, ch.latest)
    if (!row) throw new FogmeshError(ErrorCode.internal, `journal: channel ${channelId} points at a missing voucher`)
    return { channelId, cumulative: BigInt(row.cumulative), resultsRoot: row.results_root, jobCount: row.job_count, signature: row.signature }
  }

  /** Channels whose latest voucher is worth more than what has been paid. */
  owed(): Owed[] {
    const out: Owed[] = []
    for (const row of this.stmts.owed.all()) {
      const paid = BigInt(row.paid)
      if (BigInt(row.latest) > paid) out.push({ channelId: row.channel_id, voucher: this.latest(row.channel_id)!, paid })
    }
    return out
  }

  /** Every channel the journal knows. */
  channelIds(): string[] {
    return this.stmts.channelIds.all().map((r) => r.channel_id)
  }

  /** Result leaves recorded for a channel, in arrival order (the batch's tree is built from them). */
  leaves(channelId: string): ResultLeaf[] {
    return this.stmts.allLeaves.all(channelId).map((r) => ({ jobId: r.job_id, leaf: r.leaf }))
  }

  /** Call BEFORE broadcasting: the hash is known from the signed transaction. */
  settlementSent(txHash: string, channels: Array<{ channelId: string; cumulative: bigint }>): void {
    this.stmts.insertSettlement.run(txHash, 'sent', JSON.stringify(channels.map((c) => ({ channelId: c.channelId, cumulative: c.cumulative.toString() }))), Date.now())
  }

  settlementDone(txHash: string, state: Exclude<SettlementState, 'sent'>, gasUsed?: bigint): void {
    this.stmts.setSettlement.run(state, gasUsed?.toString() ?? null, txHash)
  }

  /** Settlements sent but not known to be confirmed or failed (a crash in between). */
  openSettlements(): Array<{ txHash: string; channels: Array<{ channelId: string; cumulative: bigint }> }> {
    return this.stmts.openSettlements.all().map((r) => ({
      txHash: r.tx_hash,
      channels: (JSON.parse(r.channels) as Array<{ channelId: string; cumulative: string }>).map((c) => ({ channelId: c.channelId, cumulative: BigInt(c.cumulative) })),
    }))
  }

  /** Moves a channel's paid amount to what the chain says (never backwards). */
  setPaid(channelId: string, paidOnChain: bigint): void {
    const ch = this.stmts.channel.get(channelId)
    if (!ch || BigInt(ch.paid) >= paidOnChain) return
    this.stmts.setPaid.run(paidOnChain.toString(), channelId)
  }

  close(): void {
    this.db.close()
  }
}
