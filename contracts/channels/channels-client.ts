/**
 * The typed client of PaymentChannels, for the requester (open, top up, sign vouchers, close)
 * and the agent (verify vouchers off-chain, settle, settle many), over ethers v6.
 * The voucher itself (EIP-712 typed data, signing, verification) is protocol: protocol/voucher.ts.
 */
import {
  Contract,
  getAddress,
  type ContractTransactionReceipt,
  type Result,
  type Signer,
  type TypedDataDomain,
} from 'ethers'
import { signVoucher, typedValue, verifyVoucher, VoucherHasher, type SignedVoucher, type Voucher, type VoucherCheck, type VoucherContext } from '../../protocol/voucher.ts'
import { loadArtifact } from '../artifacts.ts'
import { decodeRevert } from '../revert.ts'
import { confirm } from '../tx.ts'

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

export interface Settlement {
  channelId: bigint
  payee: string
  resultsRoot: string
  amount: bigint
  cumulativeAmount: bigint
  jobCount: bigint
  batchJobCount: bigint
}

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
export class ChannelsClient {
  readonly contract: Contract
  readonly signer: Signer
  readonly hasher: VoucherHasher
  readonly tokenAddress: string
  readonly address: string
  #token: Contract | null = null

  private constructor(contract: Contract, signer: Signer, hasher: VoucherHasher, tokenAddress: string, address: string) {
    this.contract = contract
    this.signer = signer
    this.hasher = hasher
    this.tokenAddress = tokenAddress
    this.address = address
  }

  /** `signer` must be connected to a provider. */
  static async connect(channelsAddress: string, signer: Signer): Promise<ChannelsClient> {
    if (!signer.provider) throw new Error('ChannelsClient: the signer needs a provider')
    const address = getAddress(channelsAddress)
    const contract = new Contract(address, (await loadArtifact('PaymentChannels')).abi, signer)
    const [{ chainId }, tokenAddress] = await Promise.all([signer.provider.getNetwork(), contract.getFunction('token')()])
    return new ChannelsClient(contract, signer, VoucherHasher.for(chainId, address), getAddress(tokenAddress as string), address)
  }

  get domain(): TypedDataDomain {
    return this.hasher.domain
  }

  async token(): Promise<Contract> {
    this.#token ??= new Contract(this.tokenAddress, (await loadArtifact('MeshToken')).abi, this.signer)
    return this.#token
  }

  /** Raises the token allowance to `amount` when it is lower. */
  async #approve(amount: bigint): Promise<void> {
    const token = await this.token()
    const owner = await this.signer.getAddress()
    const allowance = (await token.getFunction('allowance')(owner, this.address)) as bigint
    if (allowance < amount) await confirm(await token.getFunction('approve')(this.address, amount))
  }

  async openChannel(p: { payee: string; amount: bigint; expiry: bigint | number; approve?: boolean }): Promise<{ channelId: bigint; receipt: ContractTransactionReceipt }> {
    if (p.approve !== false) await this.#approve(p.amount)
    const receipt = await this.#send('open', [p.payee, p.amount, BigInt(p.expiry)])
    const opened = this.#events(receipt, 'ChannelOpened')[0]
    if (!opened) throw new Error('open: no ChannelOpened event')
    return { channelId: opened.args[0] as bigint, receipt }
  }

  /** Adds `amount` (may be 0 when only extending) and moves the expiry to `newExpiry` if given. */
  async topUp(channelId: bigint, amount: bigint, newExpiry: bigint | number = 0n, approve = true): Promise<ContractTransactionReceipt> {
    if (approve && amount > 0n) await this.#approve(amount)
    return this.#send('topUp', [channelId, amount, BigInt(newExpiry)])
  }

  /** EIP-712 through the signer (signTypedData). */
  signVoucher(v: Voucher): Promise<string> {
    return signVoucher(this.signer, this.domain, v)
  }

  verifyVoucher(v: Voucher, signature: string, ctx: Omit<VoucherContext, 'hasher'>): VoucherCheck {
    return verifyVoucher(v, signature, { ...ctx, hasher: this.hasher })
  }

  async settle(v: Voucher, signature: string): Promise<{ amount: bigint; settlement: Settlement; receipt: ContractTransactionReceipt }> {
    const receipt = await this.#send('settle', [typedValue(v), signature])
    const settlement = this.parseSettlements(receipt)[0]
    if (!settlement) throw new Error('settle: no ChannelSettled event')
    return { amount: settlement.amount, settlement, receipt }
  }

  /** All vouchers must be for channels whose payee is this signer. One transaction, one transfer. */
  async settleMany(vouchers: SignedVoucher[]): Promise<{ total: bigint; settlements: Settlement[]; receipt: ContractTransactionReceipt }> {
    const receipt = await this.#send('settleMany', [vouchers.map(typedValue), vouchers.map((v) => v.signature)])
    const settlements = this.parseSettlements(receipt)
    return { total: settlements.reduce((a, s) => a + s.amount, 0n), settlements, receipt }
  }

  async startClose(channelId: bigint): Promise<{ closesAt: bigint; receipt: ContractTransactionReceipt }> {
    const receipt = await this.#send('startClose', [channelId])
    const ev = this.#events(receipt, 'ChannelCloseStarted')[0]
    if (!ev) throw new Error('startClose: no ChannelCloseStarted event')
    return { closesAt: ev.args[1] as bigint, receipt }
  }

  async finalizeClose(channelId: bigint): Promise<{ refund: bigint; receipt: ContractTransactionReceipt }> {
    const receipt = await this.#send('finalizeClose', [channelId])
    const ev = this.#events(receipt, 'ChannelFinalized')[0]
    if (!ev) throw new Error('finalizeClose: no ChannelFinalized event')
    return { refund: ev.args[2] as bigint, receipt }
  }

  async getChannel(channelId: bigint): Promise<ChannelState> {
    const c = await this.contract.getFunction('getChannel')(channelId)
    return toChannelState(channelId, c)
  }

  parseSettlements(receipt: ContractTransactionReceipt): Settlement[] {
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

  #events(receipt: ContractTransactionReceipt, name: string) {
    const out = []
    for (const log of receipt.logs) {
      if (log.address.toLowerCase() !== this.address.toLowerCase()) continue
      const parsed = this.contract.interface.parseLog(log)
      if (parsed?.name === name) out.push(parsed)
    }
    return out
  }

  /** Sends and waits; a revert comes back with `revert: { name, args }` decoded from our ABI. */
  async #send(method: string, args: unknown[]): Promise<ContractTransactionReceipt> {
    try {
      return await confirm(await this.contract.getFunction(method)(...args))
    } catch (e) {
      const decoded = decodeRevert(e, this.contract.interface)
      if (decoded && e && typeof e === 'object' && !(e as { revert?: unknown }).revert) {
        Object.assign(e, { revert: { name: decoded.name, args: decoded.args } })
      }
      throw e
    }
  }
}
