/**
 * How an agent takes payment: the results it returned are remembered by their
 * results-tree leaf; a voucher is checked against them (every leaf it adds is
 * one of ours, its root is our tree's root with them appended), journaled on
 * disk by the settler, then acknowledged — one voucher at a time, in order.
 * The settler turns journaled vouchers into on-chain settlements.
 */
import { EventEmitter } from 'node:events'
import { join } from 'node:path'
import { ZeroHash, type Wallet } from 'ethers'
import type { ChannelsClient } from '../contracts/channels/channels-client.ts'
import { ResultsTree, resultLeaf } from '../protocol/results-tree.ts'
import type { PaymentTerms, Result, WireVoucher } from '../protocol/messages.ts'
import { RecentMap } from '../protocol/recent-set.ts'
import { channelKey, VoucherJournal } from './settlement/journal.ts'
import { VoucherGate } from './voucher-gate.ts'
import { Settler, type SettlementPolicy, type SettlementReport } from './settlement/settler.ts'

export interface SettlementStats {
  /** Paid out to this agent on chain so far (token base units). */
  paid: bigint
  settlements: number
  jobsSettled: bigint
  gasUsed: bigint
  vouchersAccepted: number
  vouchersRefused: number
}

export interface PaymentIntakeEvents {
  settled: [SettlementReport]
  /** A settlement attempt failed; what it would have paid stays owed in the journal. */
  settleFailed: [{ error: Error }]
}

export type VoucherVerdict = { ok: true } | { ok: false; reason: string }

export interface PaymentOptions {
  client: ChannelsClient
  wallet: Wallet
  policy?: Partial<SettlementPolicy>
}

export class PaymentIntake extends EventEmitter<PaymentIntakeEvents> {
  /** Leaves of the results this agent returned recently, by job id: vouchers may only pay for these. */
  private readonly leaves = new RecentMap<string>(200_000)
  /** Per channel: the results tree the vouchers so far committed to, rebuilt from the journal on start. */
  private readonly trees = new Map<string, ResultsTree>()
  private readonly stats_: SettlementStats = { paid: 0n, settlements: 0, jobsSettled: 0n, gasUsed: 0n, vouchersAccepted: 0, vouchersRefused: 0 }
  private chain: Promise<unknown> = Promise.resolve()
  /** Rate limits and a bounded queue in front of intake (voucher-gate.ts). */
  readonly gate = new VoucherGate()

  private constructor(
    private readonly settler: Settler,
    private readonly journal: VoucherJournal,
    /** Where this agent is paid, for its presence. */
    readonly terms: PaymentTerms,
  ) {
    super()
    settler.on('settled', (r) => {
      this.stats_.paid += r.total
      this.stats_.settlements++
      this.stats_.jobsSettled += r.jobs
      this.stats_.gasUsed += r.gasUsed
      this.emit('settled', r)
    })
    settler.on('settleFailed', (e) => this.emit('settleFailed', e)) // owed stays in the journal; the next settlement retries
  }

  /** Opens the journal in `dataDir`, reconciles it with the chain (after a crash: what was sent, what was paid), starts settling. */
  static async open(dataDir: string, payment: PaymentOptions): Promise<PaymentIntake> {
    const { client, wallet, policy } = payment
    const journal = new VoucherJournal(join(dataDir, 'settlement.db'))
    const settler = new Settler(client, journal, policy)
    await settler.reconcile()
    settler.start()
    return new PaymentIntake(settler, journal, { chainId: Number(client.hasher.domain.chainId), channels: client.address, payee: wallet.address })
  }

  /** Remembers what a voucher paying for this result must commit to. */
  remember(r: Result): void {
    this.leaves.set(r.id, resultLeaf({ jobId: r.id, outputSha256: r.outputSha256 ?? ZeroHash, fuel: r.fuel }))
  }

  /** Checks and journals a voucher; verdicts come in the order the vouchers were received. */
  receive(m: WireVoucher): Promise<VoucherVerdict> {
    const gate = this.gate.admit(channelKey(m.channelId))
    if (!gate.ok) {
      this.stats_.vouchersRefused++
      return Promise.resolve({ ok: false, reason: gate.reason })
    }
    const verdict = this.chain.then(() => this.intake(m)).finally(gate.release)
    this.chain = verdict
    return verdict
  }

  stats(): SettlementStats {
    return { ...this.stats_ }
  }

  /** The channels this agent is paid through, from its journal: latest voucher and what the chain paid. */
  channels(): Array<{ channelId: string; cumulative: bigint; paid: bigint; jobCount: number }> {
    const owed = new Map(this.journal.owed().map((o) => [o.channelId, o.paid]))
    return this.journal.channelIds().flatMap((channelId) => {
      const v = this.journal.latest(channelId)
      // a channel not owed on is paid up to its latest voucher
      return v ? [{ channelId, cumulative: v.cumulative, paid: owed.get(channelId) ?? v.cumulative, jobCount: v.jobCount }] : []
    })
  }

  /** Settles everything owed now (e.g. before shutting down). */
  settleNow(): Promise<SettlementReport | undefined> {
    return this.settler.settle()
  }

  /** Waits for the vouchers received, settles what is owed (what fails stays journaled for the next start), closes the journal. */
  async close(): Promise<void> {
    await this.chain
    this.settler.stop()
    await this.settler.settle().catch(() => {})
    this.journal.close()
  }

  private async intake(m: WireVoucher): Promise<VoucherVerdict> {
    let res: VoucherVerdict
    const check = this.checkLeaves(m)
    if (check) res = { ok: false, reason: check }
    else {
      try {
        res = await this.settler.intake({
          channelId: BigInt(m.channelId),
          cumulativeAmount: BigInt(m.cumulativeAmount),
          resultsRoot: m.resultsRoot,
          jobCount: BigInt(m.jobCount),
          signature: m.signature,
          leaves: m.leaves,
        })
      } catch {
        res = { ok: false, reason: 'Unavailable' } // the journal could not take it: the requester may send it again
      }
    }
    if (res.ok || (!res.ok && res.reason !== 'NotPayee' && res.reason !== 'Unavailable' && !check)) this.gate.learned(channelKey(m.channelId), true)
    if (!res.ok && res.reason === 'NotPayee') this.gate.learned(channelKey(m.channelId), false)
    if (res.ok) this.stats_.vouchersAccepted++
    else {
      this.stats_.vouchersRefused++
      // the tree took the leaves on trust in checkLeaves: rebuild it from the journal (what was accepted)
      this.trees.delete(channelKey(m.channelId))
    }
    return res
  }

  /**
   * The agent builds the batch's results tree itself: every leaf a voucher adds
   * must be a result this agent returned, and the voucher's root must be the
   * root of the tree with them appended. Returns why not, or undefined.
   */
  private checkLeaves(m: WireVoucher): string | undefined {
    for (const l of m.leaves) {
      const mine = this.leaves.get(l.jobId)
      if (mine === undefined) return 'UnknownResult'
      if (mine !== l.leaf) return 'WrongResultLeaf'
    }
    // appended now, O(log n) per leaf; a refused voucher makes intake rebuild the tree from the journal
    const tree = this.treeOf(channelKey(m.channelId))
    for (const l of m.leaves) tree.append(l.leaf)
    if (BigInt(m.jobCount) !== BigInt(tree.size)) return 'WrongJobCount'
    if (tree.root !== m.resultsRoot) return 'WrongResultsRoot'
    return undefined
  }

  private treeOf(channelHex: string): ResultsTree {
    let t = this.trees.get(channelHex)
    if (!t) {
      t = ResultsTree.from(this.journal.leaves(channelHex).map((l) => l.leaf))
      this.trees.set(channelHex, t)
    }
    return t
  }
}
