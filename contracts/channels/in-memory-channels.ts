/**
 * PaymentChannels in memory: the in-memory twin of ChannelsClient (same port, payment-channels.ts),
 * on an InMemoryChain. The contract's rules in the contract's order (src/PaymentChannels.sol),
 * with its custom errors and their arguments; the vouchers checked with the same EIP-712 digest
 * and OpenZeppelin ECDSA rules (protocol/voucher.ts); the token moved with ERC-20's checks.
 *
 *   const chain = new InMemoryChain({ clock })
 *   const requester = chain.channels(requesterAddress)
 *   const { channelId } = await requester.openChannel({ payee, amount, expiry })
 */
import { getAddress, ZeroAddress } from 'ethers'
import { ValidationError } from '../../protocol/errors.ts'
import { recoverVoucherSigner, VoucherHasher, type SignedVoucher, type Voucher } from '../../protocol/voucher.ts'
import { TxRevertedError, TxTimeoutError } from '../chain-errors.ts'
import { decodeCall, encodeCall, txHash, type InMemoryChain, type MinedTransaction, type StoredChannel, type TxContext } from '../in-memory-chain.ts'
import type { ChannelState, CloseStarted, PaymentChannels, Settlement, SettlementReceipt, SignedTransaction } from './payment-channels.ts'

const revert = TxRevertedError.custom
const UINT48_MAX = (1n << 48n) - 1n
const UINT96_MAX = (1n << 96n) - 1n

function uint48(field: string, value: bigint | number): bigint {
  const v = BigInt(value)
  if (v < 0n || v > UINT48_MAX) throw new ValidationError(field, `a uint48 (got ${v})`)
  return v
}

/** A signed settleMany of the twin: the call, its sender and nonce (what a raw transaction holds). */
interface RawSettleMany {
  from: string
  nonce: number
  vouchers: Array<{ channelId: string; cumulativeAmount: string; resultsRoot: string; jobCount: string; signature: string }>
}

export class InMemoryChannels implements PaymentChannels {
  readonly address: string
  readonly hasher: VoucherHasher
  readonly #chain: InMemoryChain

  constructor(
    chain: InMemoryChain,
    readonly account: string,
  ) {
    this.#chain = chain
    this.address = chain.addresses.channels
    this.hasher = VoucherHasher.for(chain.chainId, this.address)
  }

  get #state() {
    return this.#chain.state.channels
  }

  // ---- views ----------------------------------------------------------------------------------

  async getChannel(channelId: bigint): Promise<ChannelState> {
    this.#chain.rpc('getChannel')
    const c = this.#state.byId.get(channelId)
    if (!c) return { channelId, requester: ZeroAddress, payee: ZeroAddress, expiry: 0n, closesAt: 0n, jobCount: 0n, finalized: false, deposit: 0n, paid: 0n }
    return { channelId, ...c }
  }

  async chainTime(): Promise<bigint> {
    this.#chain.rpc('eth_getBlockByNumber')
    return this.#chain.timestamp
  }

  async gasPrice(): Promise<bigint | null> {
    this.#chain.rpc('eth_gasPrice')
    return this.#chain.gasPrice
  }

  async blockNumber(): Promise<number> {
    this.#chain.rpc('eth_blockNumber')
    return this.#chain.blockNumber
  }

  async closesStarted(fromBlock: number, toBlock: number): Promise<CloseStarted[]> {
    this.#chain.rpc('eth_getLogs')
    return this.#chain
      .events({ address: this.address, name: 'ChannelCloseStarted', fromBlock, toBlock })
      .map((e) => ({ channelId: e.args[0] as bigint, closesAt: e.args[1] as bigint, blockNumber: e.blockNumber }))
  }

  // ---- requester ------------------------------------------------------------------------------

  async openChannel(p: { payee: string; amount: bigint; expiry: bigint | number; approve?: boolean }): Promise<{ channelId: bigint; txHash: string }> {
    const payee = getAddress(p.payee)
    const expiry = uint48('expiry', p.expiry)
    if (p.approve !== false) this.#chain.approveIfLower(this.account, this.address, p.amount)
    const { result, tx } = this.#chain.transact(this.account, 'open', (t) => {
      if (payee === ZeroAddress) throw revert('open', 'InvalidPayee', payee)
      if (p.amount === 0n) throw revert('open', 'ZeroAmount')
      if (p.amount > UINT96_MAX) throw revert('open', 'AmountTooLarge', p.amount)
      if (expiry <= t.timestamp) throw revert('open', 'ExpiryNotInFuture', expiry, t.timestamp)
      const channelId = ++this.#state.count
      this.#state.byId.set(channelId, { requester: t.from, payee, expiry, closesAt: 0n, finalized: false, deposit: p.amount, paid: 0n, jobCount: 0n })
      t.emit(this.address, 'ChannelOpened', [channelId, t.from, payee, p.amount, expiry])
      this.#chain.pull('open', this.address, t, p.amount)
      return channelId
    })
    return { channelId: result!, txHash: tx.hash }
  }

  async topUp(channelId: bigint, amount: bigint, newExpiry: bigint | number = 0n, approve = true): Promise<{ txHash: string }> {
    const requested = uint48('newExpiry', newExpiry)
    if (approve && amount > 0n) this.#chain.approveIfLower(this.account, this.address, amount)
    const { tx } = this.#chain.transact(this.account, 'topUp', (t) => {
      const c = this.#existing('topUp', channelId)
      if (c.requester !== t.from) throw revert('topUp', 'NotRequester', channelId, t.from)
      if (c.finalized) throw revert('topUp', 'AlreadyFinalized', channelId)
      if (c.closesAt !== 0n) throw revert('topUp', 'ChannelClosing', channelId, c.closesAt)
      let expiry = c.expiry
      if (requested !== 0n) {
        if (requested < expiry) throw revert('topUp', 'ExpiryDecrease', channelId, expiry, requested)
        expiry = requested
      }
      if (amount === 0n && expiry === c.expiry) throw revert('topUp', 'ZeroAmount')
      const deposit = c.deposit + amount
      if (deposit > UINT96_MAX) throw revert('topUp', 'AmountTooLarge', deposit)
      c.deposit = deposit
      c.expiry = expiry
      t.emit(this.address, 'ChannelToppedUp', [channelId, amount, deposit, expiry])
      if (amount !== 0n) this.#chain.pull('topUp', this.address, t, amount)
    })
    return { txHash: tx.hash }
  }

  async startClose(channelId: bigint): Promise<{ closesAt: bigint; txHash: string }> {
    const { result, tx } = this.#chain.transact(this.account, 'startClose', (t) => {
      const c = this.#existing('startClose', channelId)
      if (c.requester !== t.from) throw revert('startClose', 'NotRequester', channelId, t.from)
      if (c.closesAt !== 0n) throw revert('startClose', 'ChannelClosing', channelId, c.closesAt)
      if (t.timestamp < c.expiry) throw revert('startClose', 'ChannelNotExpired', channelId, c.expiry)
      c.closesAt = t.timestamp + BigInt(this.#chain.settings.challengePeriod)
      t.emit(this.address, 'ChannelCloseStarted', [channelId, c.closesAt])
      return c.closesAt
    })
    return { closesAt: result!, txHash: tx.hash }
  }

  async finalizeClose(channelId: bigint): Promise<{ refund: bigint; txHash: string }> {
    const { result, tx } = this.#chain.transact(this.account, 'finalizeClose', (t) => {
      const c = this.#existing('finalizeClose', channelId)
      if (c.requester !== t.from) throw revert('finalizeClose', 'NotRequester', channelId, t.from)
      if (c.finalized) throw revert('finalizeClose', 'AlreadyFinalized', channelId)
      if (c.closesAt === 0n) throw revert('finalizeClose', 'CloseNotStarted', channelId)
      if (t.timestamp <= c.closesAt) throw revert('finalizeClose', 'ChallengeWindowOpen', channelId, c.closesAt)
      c.finalized = true
      const refund = c.deposit - c.paid
      t.emit(this.address, 'ChannelFinalized', [channelId, c.requester, refund, c.paid])
      if (refund !== 0n) this.#chain.transfer('finalizeClose', this.address, c.requester, refund)
      return refund
    })
    return { refund: result!, txHash: tx.hash }
  }

  // ---- payee ----------------------------------------------------------------------------------

  async settle(v: Voucher, signature: string): Promise<{ amount: bigint; settlement: Settlement; txHash: string }> {
    const { tx } = this.#chain.transact(this.account, 'settle', (t) => {
      const amount = this.#settleOne(t, 'settle', v, signature)
      this.#chain.transfer('settle', this.address, t.from, amount)
    })
    const settlement = settlementsOf(tx)[0]!
    return { amount: settlement.amount, settlement, txHash: tx.hash }
  }

  async settleMany(vouchers: SignedVoucher[]): Promise<{ total: bigint; settlements: Settlement[]; txHash: string }> {
    const { tx } = this.#chain.transact(this.account, 'settleMany', (t) => this.#settleMany(t, vouchers))
    const settlements = settlementsOf(tx)
    return { total: settlements.reduce((a, s) => a + s.amount, 0n), settlements, txHash: tx.hash }
  }

  async signSettleMany(vouchers: SignedVoucher[]): Promise<SignedTransaction> {
    this.#chain.simulate(this.account, (t) => this.#settleMany(t, vouchers)) // as gas estimation: refused now, refused here
    const call: RawSettleMany = {
      from: this.account,
      nonce: this.#chain.nonceOf(this.account),
      vouchers: vouchers.map((v) => ({ channelId: `${v.channelId}`, cumulativeAmount: `${v.cumulativeAmount}`, resultsRoot: v.resultsRoot, jobCount: `${v.jobCount}`, signature: v.signature })),
    }
    const raw = encodeCall(call)
    return { hash: txHash(this.#chain.chainId, call.from, call.nonce, raw), raw }
  }

  async broadcast(signed: SignedTransaction): Promise<void> {
    this.#chain.rpc('eth_sendRawTransaction')
    const call = decodeCall<RawSettleMany>(signed.raw)
    if (!call || txHash(this.#chain.chainId, call.from, call.nonce, signed.raw) !== signed.hash) throw new ValidationError('raw', 'a settleMany signed by the in-memory chain, with its hash')
    this.#chain.checkNonce(call.from, call.nonce)
    const vouchers = call.vouchers.map((v) => ({ channelId: BigInt(v.channelId), cumulativeAmount: BigInt(v.cumulativeAmount), resultsRoot: v.resultsRoot, jobCount: BigInt(v.jobCount), signature: v.signature }))
    // checked again when mined: what changed since it was signed makes it revert, on chain, using its nonce
    this.#chain.transact(call.from, 'settleMany', (t) => this.#settleMany(t, vouchers), { hash: signed.hash, mineReverted: true })
  }

  async waitForSettlement(hash: string, timeoutMs?: number): Promise<SettlementReceipt> {
    const receipt = await this.settlementReceipt(hash)
    // automine: a transaction that was sent is mined; one that was not will never be
    if (!receipt) throw new TxTimeoutError(hash, timeoutMs ?? 0, { details: 'the in-memory chain has no such transaction' })
    return receipt
  }

  async settlementReceipt(hash: string): Promise<SettlementReceipt | null> {
    this.#chain.rpc('eth_getTransactionReceipt')
    const tx = this.#chain.transaction(hash)
    if (!tx) return null
    return { hash, status: tx.status, gasUsed: 0n, settlements: settlementsOf(tx) }
  }

  // ---- the contract's code ----------------------------------------------------------------------

  #existing(method: string, channelId: bigint): StoredChannel {
    const c = this.#state.byId.get(channelId)
    if (!c) throw revert(method, 'ChannelNotFound', channelId)
    return c
  }

  #settleMany(t: TxContext, vouchers: SignedVoucher[]): void {
    if (vouchers.length === 0) throw revert('settleMany', 'EmptyBatch')
    let total = 0n
    for (const v of vouchers) total += this.#settleOne(t, 'settleMany', v, v.signature)
    this.#chain.transfer('settleMany', this.address, t.from, total)
  }

  /** PaymentChannels._settle: the cheap storage checks first, the signature last. */
  #settleOne(t: TxContext, method: string, v: Voucher, signature: string): bigint {
    const id = v.channelId
    const c = this.#state.byId.get(id)
    if (!c) throw revert(method, 'ChannelNotFound', id)
    if (c.payee !== t.from) throw revert(method, 'NotPayee', id, t.from)
    if (c.closesAt !== 0n && t.timestamp > c.closesAt) throw revert(method, 'ChannelClosed', id, c.closesAt)
    if (v.cumulativeAmount <= c.paid) throw revert(method, 'NothingToSettle', id, v.cumulativeAmount, c.paid)
    if (v.cumulativeAmount > c.deposit) throw revert(method, 'VoucherExceedsDeposit', id, v.cumulativeAmount, c.deposit)
    if (v.jobCount < c.jobCount) throw revert(method, 'JobCountDecreased', id, v.jobCount, c.jobCount)
    const signer = recoverSigner(method, this.hasher, v, signature)
    if (signer !== c.requester) throw revert(method, 'InvalidVoucherSigner', id, signer, c.requester)
    const amount = v.cumulativeAmount - c.paid
    const batchJobCount = v.jobCount - c.jobCount
    c.paid = v.cumulativeAmount
    c.jobCount = v.jobCount
    t.emit(this.address, 'ChannelSettled', [id, c.payee, v.resultsRoot, amount, v.cumulativeAmount, v.jobCount, batchJobCount])
    return amount
  }
}

/** OpenZeppelin ECDSA.recoverCalldata, with its errors and their arguments. */
function recoverSigner(method: string, hasher: VoucherHasher, v: Voucher, signature: string): string {
  if (!/^0x([0-9a-fA-F]{2})*$/.test(signature)) throw new ValidationError('signature', '0x hex') // ethers refuses to encode it
  const r = recoverVoucherSigner(hasher, v, signature)
  if (r.ok) return r.signer
  if (r.reason === 'ECDSAInvalidSignatureLength') throw revert(method, r.reason, BigInt((signature.length - 2) / 2))
  if (r.reason === 'ECDSAInvalidSignatureS') throw revert(method, r.reason, `0x${signature.slice(66, 130).toLowerCase()}`)
  throw revert(method, 'ECDSAInvalidSignature')
}

function settlementsOf(tx: MinedTransaction): Settlement[] {
  return tx.events
    .filter((e) => e.name === 'ChannelSettled')
    .map((e) => {
      const [channelId, payee, resultsRoot, amount, cumulativeAmount, jobCount, batchJobCount] = e.args as [bigint, string, string, bigint, bigint, bigint, bigint]
      return { channelId, payee, resultsRoot, amount, cumulativeAmount, jobCount, batchJobCount }
    })
}
