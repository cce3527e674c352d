/**
 * The agent's side of payment: takes vouchers in, checks them against the
 * chain's view of the channel (signer, channel, amount within the deposit,
 * monotonic), journals them durably BEFORE they are acknowledged, and settles
 * what it is owed — many channels in one `settleMany` transaction — when its
 * policy says so (every N jobs, every T seconds, a value threshold).
 *
 * Crash safety: a settlement's transaction is signed first, its hash written
 * to the journal, and only then broadcast. After a crash, `reconcile` looks up
 * every settlement the journal has as sent and the chain's `paid` of every
 * channel: nothing acknowledged is lost (the journal has it), nothing is
 * claimed twice (cumulative vouchers: the contract pays cumulative − paid).
 */
import { EventEmitter } from 'node:events'
import { getAddress } from 'ethers'
import type { PayeeChannels, SettlementReceipt } from '../../contracts/channels/payment-channels.ts'
import { systemClock, type Clock, type Timer } from '../../protocol/clock.ts'
import { ValidationError } from '../../protocol/errors.ts'
import { mergeOptions } from '../../protocol/options.ts'
import { verifyVoucher, type SignedVoucher } from '../../protocol/voucher.ts'
import { channelKey, type VoucherJournal } from './journal.ts'

/**
 * A voucher as the settler takes it in: the signed voucher (bigints, as the contract reads it)
 * and the result leaves it adds to the batch. (On the wire it is a `WireVoucher`,
 * protocol/messages.ts, with amounts as decimal strings.)
 */
export interface ReceivedVoucher extends SignedVoucher {
  /** The result leaves this voucher adds to the batch (job id, leaf). */
  leaves?: Array<{ jobId: string; leaf: string }>
}

export interface SettlementPolicy {
  /** Settle once this many jobs were paid by vouchers since the last settlement. Default 1000. */
  everyJobs: number
  /** Settle at least this often while something is owed (ms). Default 30 s. */
  everyMs: number
  /** Skip channels owed less than this (token base units). Default 0. */
  minAmount: bigint
  /** Do not settle while the chain's gas price is above this (wei); undefined: any. */
  maxGasPrice?: bigint | undefined
  /** How often to look for requesters starting to close a channel we are owed on (ms). Default 2 s. */
  closeWatchMs: number
}

/** What a caller gives: any field left out (or undefined) keeps its default. */
export type SettlementPolicyOptions = { [K in keyof SettlementPolicy]?: SettlementPolicy[K] | undefined }

export const SETTLEMENT_DEFAULTS = { everyJobs: 1000, everyMs: 30_000, minAmount: 0n, closeWatchMs: 2000 }

/** The longest interval a Node timer takes (a longer one fires at once). */
const MAX_TIMER_MS = 2 ** 31 - 1

/** The policy with its defaults; out-of-range values refused with a ValidationError naming the field. */
export function settlementPolicy(given: SettlementPolicyOptions = {}): SettlementPolicy {
  const p = mergeOptions(given, SETTLEMENT_DEFAULTS, {
    everyJobs: { min: 1, integer: true },
    everyMs: { min: 1, max: MAX_TIMER_MS },
    closeWatchMs: { min: 1, max: MAX_TIMER_MS },
  }, 'settlement')
  if (typeof p.minAmount !== 'bigint' || p.minAmount < 0n) throw new ValidationError('settlement.minAmount', 'a token amount (bigint) of 0 or more')
  if (p.maxGasPrice !== undefined && (typeof p.maxGasPrice !== 'bigint' || p.maxGasPrice < 0n)) throw new ValidationError('settlement.maxGasPrice', 'a gas price in wei (bigint) of 0 or more')
  return p
}

export interface SettlementReport {
  txHash: string
  channels: number
  total: bigint
  jobs: bigint
  gasUsed: bigint
}

export interface SettlerEvents {
  settled: [SettlementReport]
  settleFailed: [{ error: Error }]
}

interface ChannelView {
  requester: string
  payee: string
  deposit: bigint
}

export class Settler extends EventEmitter<SettlerEvents> {
  private readonly channels = new Map<bigint, ChannelView>()
  private readonly policy: SettlementPolicy
  private readonly payee: string
  private jobsSinceSettle = 0n
  private settling: Promise<SettlementReport | undefined> | undefined
  private timers: Timer[] = []
  private watchedTo: number | undefined

  /** `chain`: the PaymentChannels as this agent (the payee); `clock` runs the policy's intervals. */
  constructor(
    private readonly chain: PayeeChannels,
    private readonly journal: VoucherJournal,
    policy: SettlementPolicyOptions = {},
    private readonly clock: Clock = systemClock,
  ) {
    super()
    this.policy = settlementPolicy(policy)
    this.payee = getAddress(chain.account)
  }

  /** Starts the time-based policy, and the watch for channels being closed. */
  start(): void {
    this.stop()
    this.timers = [
      this.clock.setInterval(() => {
        if (this.journal.owed().length > 0) this.settle().catch(() => {})
      }, this.policy.everyMs, { unref: true }),
      this.clock.setInterval(() => this.watchCloses().catch(() => {}), this.policy.closeWatchMs, { unref: true }),
    ]
  }

  stop(): void {
    for (const t of this.timers) t.cancel()
    this.timers = []
  }

  /**
   * A requester may start closing a channel after its expiry; in the challenge
   * window that follows, the latest voucher still wins — if it is settled. So
   * a close of a channel we are owed on is settled at once, not at the next tick.
   */
  async watchCloses(): Promise<boolean> {
    const head = await this.chain.blockNumber()
    const from = this.watchedTo === undefined ? Math.max(0, head - 1000) : this.watchedTo + 1
    if (from > head) return false
    this.watchedTo = head
    const owed = new Set(this.journal.owed().map((o) => BigInt(o.channelId)))
    if (owed.size === 0) return false
    const closing = (await this.chain.closesStarted(from, head)).some((e) => owed.has(e.channelId))
    if (closing) await this.settle()
    return closing
  }

  /**
   * Checks and journals a voucher. Resolves `{ok: true}` only once it is on
   * disk: that is when the caller may acknowledge it.
   */
  async intake(v: ReceivedVoucher): Promise<{ ok: true } | { ok: false; reason: string; message: string }> {
    let ch = await this.view(v.channelId)
    if (ch.payee !== this.payee) return { ok: false, reason: 'NotPayee', message: `channel ${v.channelId} pays ${ch.payee}, not this agent` }
    // a top-up since we looked: read the deposit again before refusing
    if (v.cumulativeAmount > ch.deposit) ch = await this.view(v.channelId, true)
    const id = channelKey(v.channelId)
    const prev = this.journal.latest(id)
    const check = verifyVoucher(v, v.signature, {
      hasher: this.chain.hasher,
      requester: ch.requester,
      channelId: v.channelId,
      deposit: ch.deposit,
      ...(prev ? { previous: { cumulativeAmount: prev.cumulative, jobCount: BigInt(prev.jobCount) } } : {}),
    })
    if (!check.ok) return { ok: false, reason: check.reason, message: check.message }
    const stored = this.journal.acceptVoucher(
      { channelId: id, cumulative: v.cumulativeAmount, resultsRoot: v.resultsRoot, jobCount: Number(v.jobCount), signature: v.signature },
      v.leaves ?? [],
    )
    if (!stored) return { ok: false, reason: 'NothingToSettle', message: 'not newer than the voucher already held' }
    this.jobsSinceSettle += v.jobCount - BigInt(prev?.jobCount ?? 0)
    if (this.jobsSinceSettle >= BigInt(this.policy.everyJobs)) this.settle().catch(() => {})
    return { ok: true }
  }

  private async view(channelId: bigint, refresh = false): Promise<ChannelView> {
    const known = this.channels.get(channelId)
    if (known && !refresh) return known
    const c = await this.chain.getChannel(channelId)
    const view = { requester: getAddress(c.requester), payee: getAddress(c.payee), deposit: c.deposit }
    this.channels.set(channelId, view)
    return view
  }

  /**
   * Settles everything owed now, in one transaction. Settlements run one at a
   * time: a call made while one is in flight waits for it and then settles
   * what is still owed (vouchers that arrived meanwhile are not in the one in
   * flight).
   */
  async settle(): Promise<SettlementReport | undefined> {
    while (this.settling) await this.settling.catch(() => {})
    const p = this.settleOnce().finally(() => {
      if (this.settling === p) this.settling = undefined
    })
    this.settling = p
    return p
  }

  private async settleOnce(): Promise<SettlementReport | undefined> {
    const owed = this.journal.owed().filter((o) => o.voucher.cumulative - o.paid >= this.policy.minAmount)
    if (owed.length === 0) return undefined
    const jobsBefore = this.jobsSinceSettle
    const vouchers: SignedVoucher[] = owed.map((o) => ({
      channelId: BigInt(o.channelId),
      cumulativeAmount: o.voucher.cumulative,
      resultsRoot: o.voucher.resultsRoot,
      jobCount: BigInt(o.voucher.jobCount),
      signature: o.voucher.signature,
    }))
    if (this.policy.maxGasPrice !== undefined) {
      const price = await this.chain.gasPrice()
      if (price !== null && price > this.policy.maxGasPrice) return undefined // gas too dear: wait (the journal keeps it owed)
    }
    try {
      const signed = await this.chain.signSettleMany(vouchers)
      // on disk before it is on the wire: a crash from here on is reconciled by hash
      this.journal.settlementSent(signed.hash, owed.map((o) => ({ channelId: o.channelId, cumulative: o.voucher.cumulative })))
      await this.chain.broadcast(signed)
      const receipt = await this.chain.waitForSettlement(signed.hash)
      const report = this.applyReceipt(receipt, owed.length)
      this.jobsSinceSettle -= jobsBefore
      if (report) this.emit('settled', report)
      return report
    } catch (err) {
      this.emit('settleFailed', { error: err as Error })
      throw err
    }
  }

  private applyReceipt(receipt: SettlementReceipt, channels: number): SettlementReport | undefined {
    if (receipt.status !== 'success') {
      this.journal.settlementDone(receipt.hash, 'failed', receipt.gasUsed)
      return undefined
    }
    let total = 0n
    let jobs = 0n
    for (const s of receipt.settlements) {
      this.journal.setPaid(channelKey(s.channelId), s.cumulativeAmount)
      total += s.amount
      jobs += s.batchJobCount
    }
    this.journal.settlementDone(receipt.hash, 'confirmed', receipt.gasUsed)
    return { txHash: receipt.hash, channels, total, jobs, gasUsed: receipt.gasUsed }
  }

  /**
   * After a restart: settles the fate of every settlement journaled as sent,
   * then brings every channel's paid amount in line with the chain.
   */
  async reconcile(): Promise<{ confirmed: number; failed: number }> {
    let confirmed = 0
    let failed = 0
    for (const s of this.journal.openSettlements()) {
      const receipt = await this.chain.settlementReceipt(s.txHash)
      if (receipt && receipt.status === 'success') {
        this.applyReceipt(receipt, s.channels.length)
        confirmed++
      } else {
        // never broadcast (crash before it left), or reverted: the vouchers are still owed
        this.journal.settlementDone(s.txHash, 'failed', receipt?.gasUsed)
        failed++
      }
    }
    for (const id of this.journal.channelIds()) {
      const c = await this.chain.getChannel(BigInt(id))
      this.journal.setPaid(id, c.paid)
    }
    return { confirmed, failed }
  }
}
