/**
 * The requester's side of payment: a channel per agent it uses (opened on
 * first use, topped up as it goes, never beyond its budget), and a cumulative
 * EIP-712 voucher with each accepted result. The voucher carries the root of
 * the results it pays for (protocol/results-tree.ts), so any paid result can later
 * be proven part of a settled batch. Vouchers are signed once per event-loop
 * turn per channel, covering every result accepted in that turn.
 *
 * Agents that take work only from requesters with a funded channel to them
 * (agent/channel-acceptance.ts) get the channel before the first assignment
 * (`channelFor`: opened with `deposit`), and with each assignment the
 * payer's EIP-191 proof that the requester's ed25519 key speaks for it.
 */
import { EventEmitter } from 'node:events'
import { Wallet, ZeroHash } from 'ethers'
import { requesterKeyStatement } from '../protocol/assignment.ts'
import type { RequesterChannels } from '../contracts/channels/payment-channels.ts'
import { ValidationError } from '../protocol/errors.ts'
import type { PaymentTerms, VoucherAck } from '../protocol/messages.ts'
import { mergeOptions, type Merged } from '../protocol/options.ts'
import { ResultsTree, resultLeaf } from '../protocol/results-tree.ts'
import { topics } from '../protocol/topics.ts'
import type { Connection } from '../protocol/transport.ts'
import { FastVoucherSigner } from '../protocol/voucher.ts'

export interface PayerOptions {
  /** The payment channels as the requester (ChannelsClient, or InMemoryChannels in tests). */
  client: RequesterChannels
  /** The requester's private key: it signs the vouchers (the channels' requester is its address). */
  privateKey: string
  /** Most this requester will ever lock in channels (token base units). */
  budget: bigint
  /** Deposit of a new channel, and of each top-up. */
  deposit: bigint
  /** Channel lifetime (s). Default 1 day. */
  expirySeconds?: number | undefined
}

export const PAYER_DEFAULTS = { expirySeconds: 86_400 }

/** The options with their defaults; out-of-range values refused with a ValidationError naming the field. */
export function payerOptions(given: PayerOptions): Merged<PayerOptions, typeof PAYER_DEFAULTS> {
  const o = mergeOptions(given, PAYER_DEFAULTS, { expirySeconds: { min: 1, max: 2 ** 32, integer: true } }, 'payment')
  for (const field of ['budget', 'deposit'] as const) {
    if (typeof o[field] !== 'bigint' || o[field] <= 0n) throw new ValidationError(`payment.${field}`, 'a token amount (bigint) above 0')
  }
  return o
}

interface ChannelBook {
  agent: string
  payee: string
  channelId?: bigint
  opening?: Promise<void> | undefined
  deposit: bigint
  cumulative: bigint
  jobCount: bigint
  tree: ResultsTree
  pendingLeaves: Array<{ jobId: string; leaf: string }>
  dirty: boolean
  acked: bigint
  failed?: string
}

export interface PayerStats {
  channels: number
  locked: bigint
  owed: bigint
  acknowledged: bigint
  vouchers: number
}

export interface PayerEvents {
  channelOpened: [{ agent: string; channelId: bigint; deposit: bigint }]
  refused: [{ agent: string; reason: string }]
}

export class Payer extends EventEmitter<PayerEvents> {
  private readonly books = new Map<string, ChannelBook>()
  private readonly opts: Merged<PayerOptions, typeof PAYER_DEFAULTS>
  private readonly signer: FastVoucherSigner
  private locked = 0n
  private vouchers = 0
  private flushScheduled = false
  private txQueue: Promise<void> = Promise.resolve()
  /** The payer's address, and its signature binding the requester key to it (made once: neither changes). */
  private readonly payerAddress: string
  private readonly proof: string | undefined

  /** `conn`: where vouchers are published (only `publish` is used); `requesterKey`: the requester's ed25519 key, for `channelFor`. */
  constructor(
    private readonly conn: Pick<Connection, 'publish'>,
    private readonly requesterId: string,
    private readonly inbox: string,
    options: PayerOptions,
    requesterKey?: string,
  ) {
    super()
    this.opts = payerOptions(options)
    this.signer = new FastVoucherSigner(this.opts.privateKey, this.opts.client.hasher)
    const wallet = new Wallet(this.opts.privateKey)
    this.payerAddress = wallet.address
    this.proof = requesterKey ? wallet.signMessageSync(requesterKeyStatement(requesterKey)) : undefined
  }

  /** The address the channels are paid from. */
  get address(): string {
    return this.payerAddress
  }

  /**
   * The channel to `agent` and the proof that this requester's key speaks for its payer,
   * for an assignment: opens the channel first if there is none yet. Undefined when it cannot
   * be funded (budget, a failed transaction: `refused` told why).
   */
  async channelFor(agent: string, terms: PaymentTerms): Promise<{ address: string; channelId: string; proof: string } | undefined> {
    if (!this.proof) return undefined
    const book = this.bookFor(agent, terms)
    if (book.channelId === undefined && !book.failed) {
      if (!book.opening) this.ensureFunds(book, true)
      await book.opening
    }
    if (book.channelId === undefined || book.failed) return undefined
    return { address: this.payerAddress, channelId: book.channelId.toString(), proof: this.proof }
  }

  private bookFor(agent: string, terms: PaymentTerms): ChannelBook {
    let book = this.books.get(agent)
    if (!book) {
      book = { agent, payee: terms.payee, deposit: 0n, cumulative: 0n, jobCount: 0n, tree: new ResultsTree(), pendingLeaves: [], dirty: false, acked: 0n }
      this.books.set(agent, book)
    }
    return book
  }

  /** Whether this payer pays agents with these terms (same chain and contract). */
  accepts(terms: PaymentTerms | undefined): terms is PaymentTerms {
    return !!terms && BigInt(terms.chainId) === BigInt(this.opts.client.hasher.domain.chainId as bigint) && terms.channels.toLowerCase() === this.opts.client.address.toLowerCase()
  }

  /** Pays `price` for one accepted result of `agent`. */
  pay(agent: string, terms: PaymentTerms, job: { id: string; outputSha256: string | undefined; fuel: number }, price: bigint): void {
    const book = this.bookFor(agent, terms)
    if (book.failed) return
    const leaf = resultLeaf({ jobId: job.id, outputSha256: job.outputSha256 ?? ZeroHash, fuel: job.fuel })
    book.tree.append(leaf)
    book.pendingLeaves.push({ jobId: job.id, leaf })
    book.cumulative += price
    book.jobCount += 1n
    book.dirty = true
    this.ensureFunds(book)
    this.scheduleFlush()
  }

  /** Opens the channel, or tops it up when the next voucher would exceed the deposit; `open`: open it now, nothing owed yet. */
  private ensureFunds(book: ChannelBook, open = false): void {
    if (book.failed || book.opening || (open ? book.channelId !== undefined : book.cumulative <= book.deposit)) return
    const amount = this.opts.deposit > book.cumulative - book.deposit ? this.opts.deposit : book.cumulative - book.deposit
    if (this.locked + amount > this.opts.budget) {
      book.failed = `budget of ${this.opts.budget} exhausted`
      this.emit('refused', { agent: book.agent, reason: book.failed })
      return
    }
    this.locked += amount
    // one wallet, one nonce sequence: the payer's transactions go out one at a time
    const work = async () => {
      if (book.channelId === undefined) {
        const expiry = (await this.opts.client.chainTime()) + BigInt(this.opts.expirySeconds)
        const { channelId } = await this.opts.client.openChannel({ payee: book.payee, amount, expiry })
        book.channelId = channelId
        this.emit('channelOpened', { agent: book.agent, channelId, deposit: amount })
      } else {
        await this.opts.client.topUp(book.channelId, amount)
      }
      book.deposit += amount
    }
    const sent = this.txQueue.then(work)
    this.txQueue = sent.catch(() => {})
    book.opening = sent
      .catch((err: unknown) => {
        this.locked -= amount
        book.failed = `cannot fund the channel: ${(err as Error).message.split('\n')[0]}`
        this.emit('refused', { agent: book.agent, reason: book.failed })
      })
      .finally(() => {
        book.opening = undefined
        this.ensureFunds(book) // results kept coming while the transaction was mined
        this.scheduleFlush()
      })
  }

  private scheduleFlush(): void {
    if (this.flushScheduled) return
    this.flushScheduled = true
    setImmediate(() => {
      this.flushScheduled = false
      for (const book of this.books.values()) this.flush(book)
    })
  }

  /** Signs and sends the latest voucher of a channel (never beyond its deposit). */
  private flush(book: ChannelBook): void {
    if (!book.dirty || book.failed || book.channelId === undefined || book.opening || book.cumulative > book.deposit) return
    const voucher = { channelId: book.channelId, cumulativeAmount: book.cumulative, resultsRoot: book.tree.root, jobCount: book.jobCount }
    const message = {
      requester: this.requesterId,
      replyTo: this.inbox,
      channelId: voucher.channelId.toString(),
      cumulativeAmount: voucher.cumulativeAmount.toString(),
      resultsRoot: voucher.resultsRoot,
      jobCount: voucher.jobCount.toString(),
      signature: this.signer.sign(voucher),
      leaves: book.pendingLeaves,
    }
    book.pendingLeaves = []
    book.dirty = false
    this.vouchers++
    this.conn.publish(topics.agentVouchers(book.agent), JSON.stringify(message), { qos: 1 })
  }

  /** An agent acknowledged (journaled) a voucher. */
  onAck(ack: VoucherAck): void {
    const book = this.books.get(ack.agent)
    if (!book) return
    if (ack.ok) {
      const amount = BigInt(ack.cumulativeAmount)
      if (amount > book.acked) book.acked = amount
    } else this.emit('refused', { agent: ack.agent, reason: ack.reason ?? 'refused' })
  }

  stats(): PayerStats {
    let owed = 0n
    let acknowledged = 0n
    for (const b of this.books.values()) {
      owed += b.cumulative
      acknowledged += b.acked
    }
    return { channels: this.books.size, locked: this.locked, owed, acknowledged, vouchers: this.vouchers }
  }

  /** The most this payer locks in channels. */
  get budget(): bigint {
    return this.opts.budget
  }

  /** Every channel this payer keeps, for operators. */
  channels(): Array<{ agent: string; channelId: bigint | undefined; deposit: bigint; cumulative: bigint; acked: bigint; failed: string | undefined }> {
    return [...this.books.values()].map((b) => ({ agent: b.agent, channelId: b.channelId, deposit: b.deposit, cumulative: b.cumulative, acked: b.acked, failed: b.failed }))
  }

  /** Resolves when every voucher sent has been acknowledged (or `timeoutMs` passed). */
  async drain(timeoutMs: number): Promise<boolean> {
    const until = Date.now() + timeoutMs
    for (;;) {
      const open = [...this.books.values()].some((b) => !b.failed && (b.dirty || b.opening || b.acked < b.cumulative))
      if (!open) return true
      if (Date.now() > until) return false
      this.scheduleFlush()
      await new Promise((r) => setTimeout(r, 20))
    }
  }
}
