/**
 * The typed client of PaymentChannels, for the requester (open, top up, sign vouchers, close)
 * and the agent (verify vouchers off-chain, settle, settle many).
 *
 * Voucher = EIP-712 typed data
 *   domain:  { name: "fogmesh PaymentChannels", version: "1", chainId, verifyingContract }
 *   type:    Voucher(uint256 channelId,uint256 cumulativeAmount,bytes32 resultsRoot,uint64 jobCount)
 * signed with secp256k1 (an ethers Signer's signTypedData, or `FastVoucherSigner` on the
 * precomputed digest: same signature, since RFC 6979 signing is deterministic).
 *
 * `verifyVoucher` applies the contract's rules off-chain and names a failure after the error the
 * contract would revert with, so an agent can refuse what the chain would refuse.
 */
import {
  Contract,
  Interface,
  Signature,
  SigningKey,
  TypedDataEncoder,
  computeAddress,
  concat,
  getAddress,
  getBytes,
  keccak256,
  recoverAddress,
  type ContractTransactionReceipt,
  type Result,
  type Signer,
  type TypedDataDomain,
  type TypedDataField,
} from 'ethers'
import { loadArtifact } from './artifacts.ts'
import { confirm } from './tx.ts'

export const CHANNELS_EIP712_NAME = 'fogmesh PaymentChannels'
export const CHANNELS_EIP712_VERSION = '1'

export const VOUCHER_TYPES: Record<string, TypedDataField[]> = {
  Voucher: [
    { name: 'channelId', type: 'uint256' },
    { name: 'cumulativeAmount', type: 'uint256' },
    { name: 'resultsRoot', type: 'bytes32' },
    { name: 'jobCount', type: 'uint64' },
  ],
}
export const VOUCHER_TYPE_STRING =
  'Voucher(uint256 channelId,uint256 cumulativeAmount,bytes32 resultsRoot,uint64 jobCount)'

export interface Voucher {
  channelId: bigint
  /** total owed on the channel since it was opened (token base units) */
  cumulativeAmount: bigint
  /** root of the results tree over jobs 1..jobCount (contracts/merkle.ts); ZeroHash for none */
  resultsRoot: string
  /** jobs paid since the channel was opened */
  jobCount: bigint
}

export interface SignedVoucher extends Voucher {
  signature: string
}

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

export function voucherDomain(chainId: bigint | number, verifyingContract: string): TypedDataDomain {
  return {
    name: CHANNELS_EIP712_NAME,
    version: CHANNELS_EIP712_VERSION,
    chainId: BigInt(chainId),
    verifyingContract: getAddress(verifyingContract),
  }
}

const UINT64_MAX = (1n << 64n) - 1n
const UINT256_MAX = (1n << 256n) - 1n
/** secp256k1 group order and the highest s OpenZeppelin's ECDSA accepts (n / 2, rounded down) */
export const SECP256K1_N = 0xfffffffffffffffffffffffffffffffebaaedce6af48a03bbfd25e8cd0364141n
export const SECP256K1_HALF_N = SECP256K1_N / 2n

const TYPEHASH = getBytes(keccak256(new TextEncoder().encode(VOUCHER_TYPE_STRING)))

function putUint(buf: Uint8Array, offset: number, value: bigint, max: bigint, what: string): void {
  if (typeof value !== 'bigint' || value < 0n || value > max) throw new RangeError(`voucher ${what} out of range: ${value}`)
  for (let i = 31; i >= 0; i--) {
    buf[offset + i] = Number(value & 0xffn)
    value >>= 8n
  }
}

/**
 * EIP-712 digests of vouchers for one domain, with the domain separator computed once: the fast
 * path for signing and verifying many vouchers (what TypedDataEncoder.hash does, minus the
 * generic encoder walking the types every time).
 */
export class VoucherHasher {
  readonly domain: TypedDataDomain
  readonly domainSeparator: string
  readonly #prefix: Uint8Array // 0x1901 ‖ domainSeparator
  readonly #struct = new Uint8Array(160)

  constructor(domain: TypedDataDomain) {
    this.domain = domain
    this.domainSeparator = TypedDataEncoder.hashDomain(domain)
    this.#prefix = getBytes(concat(['0x1901', this.domainSeparator]))
    this.#struct.set(TYPEHASH, 0)
  }

  static for(chainId: bigint | number, verifyingContract: string): VoucherHasher {
    return new VoucherHasher(voucherDomain(chainId, verifyingContract))
  }

  /** hashStruct(voucher) */
  structHash(v: Voucher): string {
    const s = this.#struct
    putUint(s, 32, v.channelId, UINT256_MAX, 'channelId')
    putUint(s, 64, v.cumulativeAmount, UINT256_MAX, 'cumulativeAmount')
    const root = getBytes(v.resultsRoot)
    if (root.length !== 32) throw new RangeError(`voucher resultsRoot must be 32 bytes: ${v.resultsRoot}`)
    s.set(root, 96)
    putUint(s, 128, v.jobCount, UINT64_MAX, 'jobCount')
    return keccak256(s)
  }

  /** keccak256(0x1901 ‖ domainSeparator ‖ hashStruct(voucher)): what the requester signs. */
  digest(v: Voucher): string {
    return keccak256(concat([this.#prefix, this.structHash(v)]))
  }
}

/** Voucher as a plain object for signTypedData / TypedDataEncoder. */
function typedValue(v: Voucher): Record<string, unknown> {
  return { channelId: v.channelId, cumulativeAmount: v.cumulativeAmount, resultsRoot: v.resultsRoot, jobCount: v.jobCount }
}

/** Signs with any ethers Signer (eth_signTypedData_v4 semantics). Returns the 65-byte signature. */
export async function signVoucher(signer: Signer, domain: TypedDataDomain, v: Voucher): Promise<string> {
  return signer.signTypedData(domain, VOUCHER_TYPES, typedValue(v))
}

/** The generic EIP-712 digest via ethers' TypedDataEncoder (reference for VoucherHasher). */
export function voucherDigest(domain: TypedDataDomain, v: Voucher): string {
  return TypedDataEncoder.hash(domain, VOUCHER_TYPES, typedValue(v))
}

/** Synchronous signing on the cached domain separator: SigningKey.sign(digest). */
export class FastVoucherSigner {
  readonly hasher: VoucherHasher
  readonly #key: SigningKey
  readonly address: string

  constructor(privateKey: string | SigningKey, domainOrHasher: TypedDataDomain | VoucherHasher) {
    this.#key = typeof privateKey === 'string' ? new SigningKey(privateKey) : privateKey
    this.hasher = domainOrHasher instanceof VoucherHasher ? domainOrHasher : new VoucherHasher(domainOrHasher)
    this.address = computeAddress(this.#key.publicKey)
  }

  sign(v: Voucher): string {
    return this.#key.sign(this.hasher.digest(v)).serialized
  }
}

/** Contract error names, plus WrongChannel (the voucher is for another channel than expected). */
export type VoucherRejection =
  | 'ECDSAInvalidSignatureLength'
  | 'ECDSAInvalidSignatureS'
  | 'ECDSAInvalidSignature'
  | 'InvalidVoucherSigner'
  | 'NothingToSettle'
  | 'VoucherExceedsDeposit'
  | 'JobCountDecreased'
  | 'WrongChannel'

export type VoucherCheck =
  | { ok: true; signer: string; digest: string }
  | { ok: false; reason: VoucherRejection; message: string; signer?: string }

export interface VoucherContext {
  /** the domain (chain id, PaymentChannels address) */
  hasher: VoucherHasher
  /** the channel's requester: the only valid signer */
  requester: string
  /** when given, the voucher must be for this channel */
  channelId?: bigint
  /** when given, cumulativeAmount must not exceed it */
  deposit?: bigint
  /** the newest voucher already held (or the chain's paid/jobCount): this one must be newer */
  previous?: { cumulativeAmount: bigint; jobCount: bigint }
}

/**
 * The contract's rules, off-chain: a 65-byte signature (r ‖ s ‖ v) with v 27 or 28 and s <= n/2
 * (OpenZeppelin ECDSA; 64-byte ERC-2098 signatures are refused), signed by the requester over this
 * domain; cumulativeAmount above the previous one and not above the deposit; jobCount not lower.
 */
export function verifyVoucher(v: Voucher, signature: string, ctx: VoucherContext): VoucherCheck {
  if (ctx.channelId !== undefined && v.channelId !== ctx.channelId) {
    return { ok: false, reason: 'WrongChannel', message: `voucher is for channel ${v.channelId}, expected ${ctx.channelId}` }
  }
  if (ctx.previous && v.cumulativeAmount <= ctx.previous.cumulativeAmount) {
    return { ok: false, reason: 'NothingToSettle', message: `cumulativeAmount ${v.cumulativeAmount} is not above ${ctx.previous.cumulativeAmount}` }
  }
  if (ctx.deposit !== undefined && v.cumulativeAmount > ctx.deposit) {
    return { ok: false, reason: 'VoucherExceedsDeposit', message: `cumulativeAmount ${v.cumulativeAmount} exceeds the deposit ${ctx.deposit}` }
  }
  if (ctx.previous && v.jobCount < ctx.previous.jobCount) {
    return { ok: false, reason: 'JobCountDecreased', message: `jobCount ${v.jobCount} is below ${ctx.previous.jobCount}` }
  }
  const sig = recoverVoucherSigner(ctx.hasher, v, signature)
  if (!sig.ok) return sig
  if (sig.signer !== getAddress(ctx.requester)) {
    return { ok: false, reason: 'InvalidVoucherSigner', message: `signed by ${sig.signer}, not the requester ${ctx.requester}`, signer: sig.signer }
  }
  return sig
}

/** The signer of a voucher under OpenZeppelin ECDSA's rules, or why there is none. */
export function recoverVoucherSigner(
  hasher: VoucherHasher,
  v: Voucher,
  signature: string,
): { ok: true; signer: string; digest: string } | { ok: false; reason: VoucherRejection; message: string } {
  let bytes: Uint8Array
  try {
    bytes = getBytes(signature)
  } catch {
    return { ok: false, reason: 'ECDSAInvalidSignatureLength', message: 'signature is not hex' }
  }
  if (bytes.length !== 65) {
    return { ok: false, reason: 'ECDSAInvalidSignatureLength', message: `signature is ${bytes.length} bytes, not 65` }
  }
  const r = BigInt(`0x${Buffer.from(bytes.subarray(0, 32)).toString('hex')}`)
  const s = BigInt(`0x${Buffer.from(bytes.subarray(32, 64)).toString('hex')}`)
  const recoveryV = bytes[64] as number
  if (s > SECP256K1_HALF_N) return { ok: false, reason: 'ECDSAInvalidSignatureS', message: 'high s (malleable signature)' }
  if ((recoveryV !== 27 && recoveryV !== 28) || r === 0n || s === 0n || r >= SECP256K1_N) {
    return { ok: false, reason: 'ECDSAInvalidSignature', message: 'not a recoverable signature' }
  }
  const digest = hasher.digest(v)
  try {
    return { ok: true, signer: recoverAddress(digest, Signature.from(signature)), digest }
  } catch {
    return { ok: false, reason: 'ECDSAInvalidSignature', message: 'not a recoverable signature' }
  }
}

/** The revert data of a failed call or estimateGas, wherever ethers put it. */
export function revertData(e: unknown): string | undefined {
  const err = e as { data?: unknown; info?: { error?: { data?: unknown } }; error?: { data?: unknown } } | null
  for (const d of [err?.data, err?.info?.error?.data, err?.error?.data]) {
    if (typeof d === 'string' && d.startsWith('0x') && d.length >= 10) return d
  }
  return undefined
}

/**
 * The custom error of a reverted call: ethers' decoded `revert` when it has one (static calls),
 * else the revert data decoded with `iface` (estimateGas of a send is not decoded by ethers).
 */
export function decodeRevert(e: unknown, iface?: Interface): { name: string; args: unknown[] } | undefined {
  const known = (e as { revert?: { name?: string; args?: unknown[] } | null } | null)?.revert
  if (known?.name) return { name: known.name, args: [...(known.args ?? [])] }
  const data = revertData(e)
  if (!data || !iface) return undefined
  try {
    const parsed = iface.parseError(data)
    return parsed ? { name: parsed.name, args: [...parsed.args] } : undefined
  } catch {
    return undefined
  }
}

/** The custom error name of a reverted call, if any (see decodeRevert). */
export function revertName(e: unknown, iface?: Interface): string | undefined {
  return decodeRevert(e, iface)?.name
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
