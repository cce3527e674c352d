/**
 * The payment voucher on the wire: EIP-712 typed data that a requester signs and an agent checks.
 *
 *   domain:  { name: "fogmesh PaymentChannels", version: "1", chainId, verifyingContract }
 *   type:    Voucher(uint256 channelId,uint256 cumulativeAmount,bytes32 resultsRoot,uint64 jobCount)
 *
 * signed with secp256k1 (an ethers Signer's signTypedData, or `FastVoucherSigner` on the
 * precomputed digest: same signature, since RFC 6979 signing is deterministic).
 *
 * `verifyVoucher` applies the contract's rules off-chain and names a failure after the error the
 * contract would revert with, so an agent can refuse what the chain would refuse.
 */
import {
  Signature,
  SigningKey,
  TypedDataEncoder,
  computeAddress,
  concat,
  getAddress,
  getBytes,
  keccak256,
  recoverAddress,
  type Signer,
  type TypedDataDomain,
  type TypedDataField,
} from 'ethers'
import { ValidationError } from './errors.ts'

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
  /** root of the results tree over jobs 1..jobCount (protocol/results-tree.ts); ZeroHash for none */
  resultsRoot: string
  /** jobs paid since the channel was opened */
  jobCount: bigint
}

export interface SignedVoucher extends Voucher {
  signature: string
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
  if (typeof value !== 'bigint' || value < 0n || value > max) throw new ValidationError(`voucher.${what}`, `a ${max === UINT64_MAX ? 'uint64' : 'uint256'} (got ${value})`)
  for (let i = 31; i >= 0; i--) {
    buf[offset + i] = Number(value & 0xffn)
    value >>= 8n
  }
}

function hexBytes(hex: string, field: string): Uint8Array {
  try {
    return getBytes(hex)
  } catch {
    throw new ValidationError(field, '0x hex')
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
    const root = hexBytes(v.resultsRoot, 'voucher.resultsRoot')
    if (root.length !== 32) throw new ValidationError('voucher.resultsRoot', `32 bytes (got ${root.length})`)
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
export function typedValue(v: Voucher): Record<string, unknown> {
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
