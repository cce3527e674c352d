/**
 * The payment channels as a port (wasmCloud-style: one capability, two implementations):
 *
 *   ChannelsClient      contracts/channels/channels-client.ts     the contract over ethers (anvil, a real chain)
 *   InMemoryChannels    contracts/channels/in-memory-channels.ts  the same rules in memory, for fast tests
 *
 * An instance acts as one account (`account`): a requester opens, tops up, signs and closes; a
 * payee (the agent) settles. The settler (agent/settlement/settler.ts) takes `PayeeChannels`, the
 * payer (market/payer.ts) `RequesterChannels`. Failures are ChainErrors (contracts/chain-errors.ts):
 * a revert is a TxRevertedError whose `revert` names the contract's custom error and its arguments.
 */
import type { SignedVoucher, Voucher, VoucherHasher } from '../../protocol/voucher.ts'

/** A channel as `PaymentChannels.getChannel` returns it (all zero for a channel that does not exist). */
export interface ChannelState {
  channelId: bigint
  requester: string
  payee: string
  expiry: bigint
  /** 0: no close started; else the last second in which the payee can still settle */
  closesAt: bigint
  jobCount: bigint
  finalized: boolean
  deposit: bigint
  paid: bigint
}

/** One `ChannelSettled` event. */
export interface Settlement {
  channelId: bigint
  payee: string
  resultsRoot: string
  amount: bigint
  cumulativeAmount: bigint
  jobCount: bigint
  batchJobCount: bigint
}

/** One `ChannelCloseStarted` event and the block it is in. */
export interface CloseStarted {
  channelId: bigint
  closesAt: bigint
  blockNumber: number
}

/** A transaction signed but not sent: its hash is known before it is on the wire. */
export interface SignedTransaction {
  hash: string
  /** the signed transaction, 0x hex */
  raw: string
}

/** What a mined settlement did. */
export interface SettlementReceipt {
  hash: string
  status: 'success' | 'reverted'
  gasUsed: bigint
  settlements: Settlement[]
}

/** What both sides read. */
export interface ChannelsView {
  /** The PaymentChannels contract (the vouchers' `verifyingContract`). */
  readonly address: string
  /** The vouchers' EIP-712 domain (chain id, contract), with its digest cached. */
  readonly hasher: VoucherHasher
  /** The account this instance acts as. */
  readonly account: string
  getChannel(channelId: bigint): Promise<ChannelState>
  /** The chain's time: the latest block's timestamp, in seconds. */
  chainTime(): Promise<bigint>
}

/** The requester's side. Token approval is part of open and topUp unless `approve` is false. */
export interface RequesterChannels extends ChannelsView {
  openChannel(p: { payee: string; amount: bigint; expiry: bigint | number; approve?: boolean }): Promise<{ channelId: bigint; txHash: string }>
  /** Adds `amount` (0 when only extending) and moves the expiry to `newExpiry` if given (0: keep). */
  topUp(channelId: bigint, amount: bigint, newExpiry?: bigint | number, approve?: boolean): Promise<{ txHash: string }>
  startClose(channelId: bigint): Promise<{ closesAt: bigint; txHash: string }>
  finalizeClose(channelId: bigint): Promise<{ refund: bigint; txHash: string }>
}

/** The payee's (agent's) side. */
export interface PayeeChannels extends ChannelsView {
  settle(v: Voucher, signature: string): Promise<{ amount: bigint; settlement: Settlement; txHash: string }>
  /** Channels of this payee, one transaction, one transfer; all or nothing. */
  settleMany(vouchers: SignedVoucher[]): Promise<{ total: bigint; settlements: Settlement[]; txHash: string }>
  /**
   * `settleMany` in three steps, for crash safety: sign (refused here, as by gas estimation, when
   * it would revert now), journal the hash, `broadcast`, `waitForSettlement`.
   */
  signSettleMany(vouchers: SignedVoucher[]): Promise<SignedTransaction>
  broadcast(tx: SignedTransaction): Promise<void>
  /** Waits until `hash` is mined; TxTimeoutError after `timeoutMs`. */
  waitForSettlement(hash: string, timeoutMs?: number): Promise<SettlementReceipt>
  /** The receipt of a settlement, or null when it is not mined (never sent, or still pending). */
  settlementReceipt(hash: string): Promise<SettlementReceipt | null>
  /** The price a transaction pays per gas now (wei), or null when the chain does not say. */
  gasPrice(): Promise<bigint | null>
  blockNumber(): Promise<number>
  /** `ChannelCloseStarted` events in blocks `fromBlock..toBlock` (inclusive). */
  closesStarted(fromBlock: number, toBlock: number): Promise<CloseStarted[]>
}

export interface PaymentChannels extends RequesterChannels, PayeeChannels {}
