/**
 * The typed client of PaymentChannels over ethers v6: the real implementation of the
 * PaymentChannels port (payment-channels.ts), for the requester (open, top up, close) and the
 * agent (settle, settle many, and settleMany in steps for crash safety).
 * The voucher itself (EIP-712 typed data, signing, verification) is protocol: protocol/voucher.ts.
 *
 * Every failure is a ChainError; a revert is a TxRevertedError with `revert = {name, args}`
 * decoded from the ABIs of PaymentChannels and the token (so an ERC-20 refusal is named too).
 */
import {
  Contract,
  Transaction,
  getAddress,
  type ContractTransactionReceipt,
  type Log,
  type Provider,
  type Result,
  type Signer,
  type TransactionReceipt,
  type TypedDataDomain,
} from 'ethers'
import { ValidationError } from '../../protocol/errors.ts'
import { signVoucher, typedValue, verifyVoucher, VoucherHasher, type SignedVoucher, type Voucher, type VoucherCheck, type VoucherContext } from '../../protocol/voucher.ts'
import { loadArtifact } from '../artifacts.ts'
import { ContractMismatchError, toChainError } from '../chain-errors.ts'
import { ContractCaller } from '../contract-caller.ts'
import { waitForReceipt } from '../tx.ts'
import type { ChannelState, CloseStarted, PaymentChannels, Settlement, SettlementReceipt, SignedTransaction } from './payment-channels.ts'

function toChannelState(channelId: bigint, c: Result): ChannelState {
  const o = c.toObject() as Record<string, unknown>
  return {
    channelId,
    requester: o.requester as string,
    payee: o.payee as string,
    expiry: BigInt(o.expiry as bigint),
    closesAt: BigInt(o.closesAt as bigint),
    jobCount: BigInt(o.jobCount as bigint),
    finalized: o.finalized as boolean,
    deposit: BigInt(o.deposit as bigint),
    paid: BigInt(o.paid as bigint),
  }
}

/** PaymentChannels through one signer (a requester's or an agent's wallet). */
export class ChannelsClient implements PaymentChannels {
  readonly contract: Contract
  readonly signer: Signer
  readonly hasher: VoucherHasher
  readonly tokenAddress: string
  readonly address: string
  readonly account: string
  readonly #provider: Provider
  readonly #token: Contract
  readonly #caller: ContractCaller

  private constructor(p: { contract: Contract; token: Contract; signer: Signer; provider: Provider; hasher: VoucherHasher; tokenAddress: string; address: string; account: string }) {
    this.contract = p.contract
    this.#token = p.token
    this.signer = p.signer
    this.#provider = p.provider
    this.hasher = p.hasher
    this.tokenAddress = p.tokenAddress
    this.address = p.address
    this.account = p.account
    this.#caller = new ContractCaller(p.contract, p.token, p.account, 'PaymentChannels', p.address)
  }

  /** `signer` must be connected to a provider. */
  static async connect(channelsAddress: string, signer: Signer): Promise<ChannelsClient> {
    const provider = signer.provider
    if (!provider) throw new ValidationError('signer', 'a Signer connected to a provider')
    const address = getAddress(channelsAddress)
    const contract = new Contract(address, (await loadArtifact('PaymentChannels')).abi, signer)
    let chainId: bigint
    let tokenAddress: string
    let account: string
    try {
      ;[{ chainId }, tokenAddress, account] = await Promise.all([provider.getNetwork(), contract.getFunction('token')() as Promise<string>, signer.getAddress()])
    } catch (e) {
      throw toChainError(e, 'token', { address, contract: 'PaymentChannels' })
    }
    const token = new Contract(getAddress(tokenAddress), (await loadArtifact('MeshToken')).abi, signer)
    return new ChannelsClient({ contract, token, signer, provider, hasher: VoucherHasher.for(chainId, address), tokenAddress: getAddress(tokenAddress), address, account: getAddress(account) })
  }

  get domain(): TypedDataDomain {
    return this.hasher.domain
  }

  /** The token (ERC-20 part of MeshToken's ABI). */
  async token(): Promise<Contract> {
    return this.#token
  }

  async openChannel(p: { payee: string; amount: bigint; expiry: bigint | number; approve?: boolean }): Promise<{ channelId: bigint; txHash: string; receipt: ContractTransactionReceipt }> {
    if (p.approve !== false) await this.#caller.approve(p.amount)
    const receipt = await this.#caller.send('open', [p.payee, p.amount, BigInt(p.expiry)])
    const opened = this.#events(receipt, 'ChannelOpened')[0]
    if (!opened) throw new ContractMismatchError(this.address, 'PaymentChannels', { details: 'open: no ChannelOpened event' })
    return { channelId: opened.args[0] as bigint, txHash: receipt.hash, receipt }
  }

  async topUp(channelId: bigint, amount: bigint, newExpiry: bigint | number = 0n, approve = true): Promise<{ txHash: string; receipt: ContractTransactionReceipt }> {
    if (approve && amount > 0n) await this.#caller.approve(amount)
    const receipt = await this.#caller.send('topUp', [channelId, amount, BigInt(newExpiry)])
    return { txHash: receipt.hash, receipt }
  }

  /** EIP-712 through the signer (signTypedData). */
  signVoucher(v: Voucher): Promise<string> {
    return signVoucher(this.signer, this.domain, v)
  }

  verifyVoucher(v: Voucher, signature: string, ctx: Omit<VoucherContext, 'hasher'>): VoucherCheck {
    return verifyVoucher(v, signature, { ...ctx, hasher: this.hasher })
  }

  async settle(v: Voucher, signature: string): Promise<{ amount: bigint; settlement: Settlement; txHash: string; receipt: ContractTransactionReceipt }> {
    const receipt = await this.#caller.send('settle', [typedValue(v), signature])
    const settlement = this.parseSettlements(receipt)[0]
    if (!settlement) throw new ContractMismatchError(this.address, 'PaymentChannels', { details: 'settle: no ChannelSettled event' })
    return { amount: settlement.amount, settlement, txHash: receipt.hash, receipt }
  }

  /** All vouchers must be for channels whose payee is this signer. One transaction, one transfer. */
  async settleMany(vouchers: SignedVoucher[]): Promise<{ total: bigint; settlements: Settlement[]; txHash: string; receipt: ContractTransactionReceipt }> {
    const receipt = await this.#caller.send('settleMany', settleManyArgs(vouchers))
    const settlements = this.parseSettlements(receipt)
    return { total: settlements.reduce((a, s) => a + s.amount, 0n), settlements, txHash: receipt.hash, receipt }
  }

  async signSettleMany(vouchers: SignedVoucher[]): Promise<SignedTransaction> {
    try {
      const call = await this.contract.getFunction('settleMany').populateTransaction(...settleManyArgs(vouchers))
      // populateTransaction estimates the gas: a batch that would revert now is refused here, decoded
      const raw = await this.signer.signTransaction(await this.signer.populateTransaction(call))
      return { hash: Transaction.from(raw).hash!, raw }
    } catch (e) {
      throw toChainError(e, 'settleMany', this.#caller.ctx)
    }
  }

  async broadcast(tx: SignedTransaction): Promise<void> {
    try {
      await this.#provider.broadcastTransaction(tx.raw)
    } catch (e) {
      throw toChainError(e, 'eth_sendRawTransaction', this.#caller.ctx)
    }
  }

  async waitForSettlement(hash: string, timeoutMs?: number): Promise<SettlementReceipt> {
    return this.#settlementReceipt(await waitForReceipt(this.#provider, hash, timeoutMs))
  }

  async settlementReceipt(hash: string): Promise<SettlementReceipt | null> {
    const receipt = await this.#caller.read(() => this.#provider.getTransactionReceipt(hash), 'eth_getTransactionReceipt')
    return receipt ? this.#settlementReceipt(receipt) : null
  }

  #settlementReceipt(r: TransactionReceipt): SettlementReceipt {
    return { hash: r.hash, status: r.status === 1 ? 'success' : 'reverted', gasUsed: r.gasUsed, settlements: r.status === 1 ? this.parseSettlements(r) : [] }
  }

  async startClose(channelId: bigint): Promise<{ closesAt: bigint; txHash: string; receipt: ContractTransactionReceipt }> {
    const receipt = await this.#caller.send('startClose', [channelId])
    const ev = this.#events(receipt, 'ChannelCloseStarted')[0]
    if (!ev) throw new ContractMismatchError(this.address, 'PaymentChannels', { details: 'startClose: no ChannelCloseStarted event' })
    return { closesAt: ev.args[1] as bigint, txHash: receipt.hash, receipt }
  }

  async finalizeClose(channelId: bigint): Promise<{ refund: bigint; txHash: string; receipt: ContractTransactionReceipt }> {
    const receipt = await this.#caller.send('finalizeClose', [channelId])
    const ev = this.#events(receipt, 'ChannelFinalized')[0]
    if (!ev) throw new ContractMismatchError(this.address, 'PaymentChannels', { details: 'finalizeClose: no ChannelFinalized event' })
    return { refund: ev.args[2] as bigint, txHash: receipt.hash, receipt }
  }

  async getChannel(channelId: bigint): Promise<ChannelState> {
    const c = await this.#caller.read(() => this.contract.getFunction('getChannel')(channelId) as Promise<Result>, 'getChannel')
    return toChannelState(channelId, c)
  }

  async chainTime(): Promise<bigint> {
    const block = await this.#caller.read(() => this.#provider.getBlock('latest'), 'eth_getBlockByNumber')
    if (!block) throw new ContractMismatchError(this.address, 'PaymentChannels', { details: 'the chain has no latest block' })
    return BigInt(block.timestamp)
  }

  async gasPrice(): Promise<bigint | null> {
    const { gasPrice, maxFeePerGas } = await this.#caller.read(() => this.#provider.getFeeData(), 'eth_gasPrice')
    return maxFeePerGas ?? gasPrice
  }

  blockNumber(): Promise<number> {
    return this.#caller.read(() => this.#provider.getBlockNumber(), 'eth_blockNumber')
  }

  async closesStarted(fromBlock: number, toBlock: number): Promise<CloseStarted[]> {
    const events = await this.#caller.read(() => this.contract.queryFilter(this.contract.filters.ChannelCloseStarted!(), fromBlock, toBlock), 'eth_getLogs')
    return events.map((e) => {
      const args = (e as unknown as { args: unknown[] }).args
      return { channelId: BigInt(args[0] as bigint), closesAt: BigInt(args[1] as bigint), blockNumber: e.blockNumber }
    })
  }

  parseSettlements(receipt: { logs: readonly Log[] }): Settlement[] {
    return this.#events(receipt, 'ChannelSettled').map((ev) => ({
      channelId: ev.args[0] as bigint,
      payee: ev.args[1] as string,
      resultsRoot: ev.args[2] as string,
      amount: ev.args[3] as bigint,
      cumulativeAmount: ev.args[4] as bigint,
      jobCount: ev.args[5] as bigint,
      batchJobCount: ev.args[6] as bigint,
    }))
  }

  #events(receipt: { logs: readonly Log[] }, name: string) {
    const out = []
    for (const log of receipt.logs) {
      if (log.address.toLowerCase() !== this.address.toLowerCase()) continue
      const parsed = this.contract.interface.parseLog(log)
      if (parsed?.name === name) out.push(parsed)
    }
    return out
  }
}

function settleManyArgs(vouchers: SignedVoucher[]): [Record<string, unknown>[], string[]] {
  return [vouchers.map(typedValue), vouchers.map((v) => v.signature)]
}
