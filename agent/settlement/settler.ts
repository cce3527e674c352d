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
import { getAddress, Transaction, type Provider, type TransactionReceipt, type Wallet } from 'ethers'
import type { Voucher } from '../../protocol/voucher.ts'
import type { ChannelsClient } from '../../contracts/channels/channels-client.ts'
import { channelKey, type VoucherJournal } from './journal.ts'

export interface VoucherMessage {
  channelId: bigint
  cumulativeAmount: bigint
  resultsRoot: string
  jobCount: bigint
  signature: string
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

/**
 * Polls for a receipt. Not `provider.waitForTransaction`: it checks once and then waits for the
 * next block, which on an automining chain with nothing else to mine never comes.
 */
async function receiptOf(provider: Provider, hash: string, timeoutMs = 120_000): Promise<TransactionReceipt> {
  const deadline = Date.now() + timeoutMs
  for (let delay = 2; ; delay = Math.min(delay * 2, 500)) {
    const receipt = await provider.getTransactionReceipt(hash)
    if (receipt) return receipt
    if (Date.now() > deadline) throw new Error(`settlement ${hash} not mined within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, delay))
  }
}


export class Settler extends EventEmitter<SettlerEvents> {
  private readonly channels = new Map<bigint, ChannelView>()
  private readonly policy: SettlementPolicy
  private readonly payee: string
  private jobsSinceSettle = 0n
  private settling: Promise<SettlementReport | undefined> | undefined
  private timer: NodeJS.Timeout | undefined

  constructor(
    private readonly client: ChannelsClient,
    private readonly wallet: Wallet,
    private readonly journal: VoucherJournal,
    policy: Partial<SettlementPolicy> = {},
  ) {
    super()
    this.policy = { everyJobs: 1000, everyMs: 30_000, minAmount: 0n, closeWatchMs: 2000, ...policy }
    this.payee = getAddress(wallet.address)
  }

  /** Starts the time-based policy, and the watch for channels being closed. */
  start(): void {
    this.timer = setInterval(() => {
      if (this.journal.owed().length > 0) this.settle().catch(() => {})
    }, this.policy.everyMs)
    this.timer.unref()
    this.closeWatch = setInterval(() => this.watchCloses().catch(() => {}), this.policy.closeWatchMs)
    this.closeWatch.unref()
  }

  stop(): void {
    clearInterval(this.timer)
    clearInterval(this.closeWatch)
  }

  private closeWatch: NodeJS.Timeout | undefined
  private watchedTo: number | undefined

  /**
   * A requester may start closing a channel after its expiry; in the challenge
   * window that follows, the latest voucher still wins — if it is settled. So
   * a close of a channel we are owed on is settled at once, not at the next tick.
   */
  async watchCloses(): Promise<boolean> {
    const provider = this.wallet.provider
    if (!provider) return false
    const head = await provider.getBlockNumber()
    const from = this.watchedTo === undefined ? Math.max(0, head - 1000) : this.watchedTo + 1
    if (from > head) return false
    this.watchedTo = head
    const owed = new Set(this.journal.owed().map((o) => BigInt(o.channelId)))
    if (owed.size === 0) return false
    const events = await this.client.contract.queryFilter(this.client.contract.filters.ChannelCloseStarted!(), from, head)
    const closing = events.some((e) => owed.has(BigInt((e as unknown as { args: unknown[] }).args[0] as bigint)))
    if (closing) await this.settle()
    return closing
  }

  /**
   * Checks and journals a voucher. Resolves `{ok: true}` only once it is on
   * disk: that is when the caller may acknowledge it.
   */
  async intake(v: VoucherMessage): Promise<{ ok: true } | { ok: false; reason: string; message: string }> {
    let ch = await this.view(v.channelId)
    if (ch.payee !== this.payee) return { ok: false, reason: 'NotPayee', message: `channel ${v.channelId} pays ${ch.payee}, not this agent` }
    // a top-up since we looked: read the deposit again before refusing
    if (v.cumulativeAmount > ch.deposit) ch = await this.view(v.channelId, true)
    const id = channelKey(v.channelId)
    const prev = this.journal.latest(id)
    const voucher: Voucher = { channelId: v.channelId, cumulativeAmount: v.cumulativeAmount, resultsRoot: v.resultsRoot, jobCount: v.jobCount }
    const check = this.client.verifyVoucher(voucher, v.signature, {
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
    const c = await this.client.getChannel(channelId)
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
    const vouchers = owed.map((o) => ({
      channelId: BigInt(o.channelId),
      cumulativeAmount: o.voucher.cumulative,
      resultsRoot: o.voucher.resultsRoot,
      jobCount: BigInt(o.voucher.jobCount),
    }))
    const provider = this.wallet.provider
    if (!provider) throw new Error('settler: the wallet needs a provider')
    if (this.policy.maxGasPrice !== undefined) {
      const { gasPrice, maxFeePerGas } = await provider.getFeeData()
      const price = maxFeePerGas ?? gasPrice
      if (price !== null && price > this.policy.maxGasPrice) return undefined // gas too dear: wait (the journal keeps it owed)
    }
    try {
      const populated = await this.client.contract.getFunction('settleMany').populateTransaction(vouchers, owed.map((o) => o.voucher.signature))
      const signed = await this.wallet.signTransaction(await this.wallet.populateTransaction(populated))
      const txHash = Transaction.from(signed).hash!
      // on disk before it is on the wire: a crash from here on is reconciled by hash
      this.journal.settlementSent(txHash, owed.map((o) => ({ channelId: o.channelId, cumulative: o.voucher.cumulative })))
      await provider.broadcastTransaction(signed)
      const receipt = await receiptOf(provider, txHash)
      const report = this.applyReceipt(txHash, receipt, owed.map((o) => ({ channelId: o.channelId, cumulative: o.voucher.cumulative, paid: o.paid })))
      this.jobsSinceSettle -= jobsBefore
      if (report) this.emit('settled', report)
      return report
    } catch (err) {
      this.emit('settleFailed', { error: err as Error })
      throw err
    }
  }

  private applyReceipt(
    txHash: string,
    receipt: TransactionReceipt | null,
    channels: Array<{ channelId: string; cumulative: bigint; paid?: bigint }>,
  ): SettlementReport | undefined {
    if (!receipt) return undefined
    if (receipt.status !== 1) {
      this.journal.settlementDone(txHash, 'failed', receipt.gasUsed)
      return undefined
    }
    let total = 0n
    let jobs = 0n
    for (const s of this.client.parseSettlements(receipt as Parameters<ChannelsClient['parseSettlements']>[0])) {
      this.journal.setPaid(channelKey(s.channelId), s.cumulativeAmount)
      total += s.amount
      jobs += s.batchJobCount
    }
    this.journal.settlementDone(txHash, 'confirmed', receipt.gasUsed)
    return { txHash, channels: channels.length, total, jobs, gasUsed: receipt.gasUsed }
  }

  /**
   * After a restart: settles the fate of every settlement journaled as sent,
   * then brings every channel's paid amount in line with the chain.
   */
  async reconcile(): Promise<{ confirmed: number; failed: number }> {
    const provider = this.wallet.provider
    if (!provider) throw new Error('settler: the wallet needs a provider')
    let confirmed = 0
    let failed = 0
    for (const s of this.journal.openSettlements()) {
      const receipt = await provider.getTransactionReceipt(s.txHash)
      if (receipt && receipt.status === 1) {
        this.applyReceipt(s.txHash, receipt, s.channels)
        confirmed++
      } else {
        // never broadcast (crash before it left), or reverted: the vouchers are still owed
        this.journal.settlementDone(s.txHash, 'failed', receipt?.gasUsed)
        failed++
      }
    }
    for (const id of this.journal.channelIds()) {
      const c = await this.client.getChannel(BigInt(id))
      this.journal.setPaid(id, c.paid)
    }
    return { confirmed, failed }
  }
}
