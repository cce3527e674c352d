/**
 * The chain's errors, in the one error tree (protocol/errors.ts), viem-style: a short message,
 * details, the cause (the ethers or Node error underneath) and a stable code.
 *
 *   ChainError                     any failure talking to the chain
 *   ├─ TxRevertedError             tx_reverted: the contract said no — `revert` = {name, args} of its custom error
 *   ├─ TxTimeoutError              tx_timeout: not mined in time
 *   ├─ ChainUnreachableError       chain_unreachable: no answer from the JSON-RPC endpoint
 *   ├─ RpcError                    rpc_error: the node answered with an error of its own
 *   ├─ InsufficientFundsError      insufficient_funds: the account cannot pay the gas
 *   ├─ ContractMismatchError       contract_mismatch: not the expected contract at that address
 *   └─ AnvilMissingError           anvil_missing (contracts/anvil.ts)
 *
 * `toChainError` sorts whatever ethers (or fetch) threw into these, decoding revert data to the
 * contract's custom error with the ABI it is given. The in-memory twins throw the same errors.
 */
import type { Interface } from 'ethers'
import { ErrorCode, FogmeshError, toFogmeshError, type FogmeshErrorOptions } from '../protocol/errors.ts'
import { decodeRevert, revertData, type Revert } from './revert.ts'

export class ChainError extends FogmeshError {
  override name = 'ChainError'
}

/** `NothingToSettle(1, 100, 100)`: a custom error as Solidity would print it. */
export function formatRevert(r: Revert): string {
  return `${r.name}(${r.args.map((a) => String(a)).join(', ')})`
}

export class TxRevertedError extends ChainError {
  override name = 'TxRevertedError'
  /** What was called (`settleMany`, `deploy PaymentChannels`, ...). */
  readonly method: string
  /** The contract's custom error and its arguments, when the revert data could be decoded. */
  readonly revert: Revert | undefined
  /** The raw revert data (0x hex), when the node returned it. */
  readonly data: string | undefined
  /** The transaction, when it was mined and reverted. */
  readonly txHash: string | undefined

  constructor(p: { method: string; revert?: Revert | undefined; data?: string | undefined; txHash?: string | undefined } & FogmeshErrorOptions) {
    super(ErrorCode.txReverted, p.revert ? `${p.method} reverted: ${formatRevert(p.revert)}` : `${p.method} reverted`, {
      details: p.details ?? (p.revert ? undefined : p.data ? `revert data ${p.data}` : 'no revert data'),
      cause: p.cause,
    })
    this.method = p.method
    this.revert = p.revert
    this.data = p.data
    this.txHash = p.txHash
  }

  /** A revert with a custom error, as the clients decode it: `TxRevertedError.custom('settle', 'NothingToSettle', id, cum, paid)`. */
  static custom(method: string, name: string, ...args: unknown[]): TxRevertedError {
    return new TxRevertedError({ method, revert: { name, args } })
  }
}

export class TxTimeoutError extends ChainError {
  override name = 'TxTimeoutError'
  readonly txHash: string
  readonly timeoutMs: number
  constructor(txHash: string, timeoutMs: number, options: FogmeshErrorOptions = {}) {
    super(ErrorCode.txTimeout, `transaction ${txHash} not mined within ${timeoutMs} ms`, options)
    this.txHash = txHash
    this.timeoutMs = timeoutMs
  }
}

export class ChainUnreachableError extends ChainError {
  override name = 'ChainUnreachableError'
  /** The endpoint, when known. */
  readonly url: string | undefined
  constructor(shortMessage: string, options: FogmeshErrorOptions & { url?: string | undefined } = {}) {
    super(ErrorCode.chainUnreachable, shortMessage, options)
    this.url = options.url
  }
}

export class RpcError extends ChainError {
  override name = 'RpcError'
  readonly method: string
  constructor(method: string, message: string, options: FogmeshErrorOptions = {}) {
    super(ErrorCode.rpcError, `${method}: ${message}`, options)
    this.method = method
  }
}

export class InsufficientFundsError extends ChainError {
  override name = 'InsufficientFundsError'
  readonly method: string
  constructor(method: string, options: FogmeshErrorOptions = {}) {
    super(ErrorCode.insufficientFunds, `${method}: the account cannot pay for the transaction`, options)
    this.method = method
  }
}

export class ContractMismatchError extends ChainError {
  override name = 'ContractMismatchError'
  readonly address: string
  /** The contract that was expected there (`PaymentChannels`, ...). */
  readonly expected: string
  constructor(address: string, expected: string, options: FogmeshErrorOptions = {}) {
    super(ErrorCode.contractMismatch, `no ${expected} at ${address}`, options)
    this.address = address
    this.expected = expected
  }
}

/** Error codes of Node and undici that mean "nobody answered". */
const UNREACHABLE = new Set(['ECONNREFUSED', 'ECONNRESET', 'ENOTFOUND', 'EHOSTUNREACH', 'ENETUNREACH', 'ETIMEDOUT', 'EPIPE', 'EAI_AGAIN', 'UND_ERR_SOCKET', 'UND_ERR_CONNECT_TIMEOUT', 'NETWORK_ERROR', 'TIMEOUT'])

function codeOf(e: unknown): string | undefined {
  for (let cur = e, depth = 0; cur && typeof cur === 'object' && depth < 4; cur = (cur as { cause?: unknown }).cause, depth++) {
    const code = (cur as { code?: unknown }).code
    if (typeof code === 'string') return code
  }
  return undefined
}

function firstLine(e: unknown): string {
  const err = e as { shortMessage?: unknown; message?: unknown } | null
  const m = typeof err?.shortMessage === 'string' ? err.shortMessage : typeof err?.message === 'string' ? err.message : String(e)
  return m.split('\n')[0] ?? 'unknown error'
}

export interface ChainCallContext {
  /** decodes revert data to the contract's custom error */
  iface?: Interface | undefined
  /** the contract called, and what it should be: an undecodable empty answer is a ContractMismatchError */
  address?: string | undefined
  contract?: string | undefined
}

/**
 * Whatever a chain call threw, as a ChainError of the tree (a FogmeshError passes through).
 * `what` names the call (`settleMany`, `deploy PaymentChannels`).
 */
export function toChainError(e: unknown, what: string, ctx: ChainCallContext = {}): FogmeshError {
  if (e instanceof FogmeshError) return e
  const code = codeOf(e)
  const revert = decodeRevert(e, ctx.iface)
  const data = revertData(e)
  if (code === 'CALL_EXCEPTION' || revert || data) {
    const receipt = (e as { receipt?: { hash?: unknown } | null }).receipt
    return new TxRevertedError({ method: what, revert, data, txHash: typeof receipt?.hash === 'string' ? receipt.hash : undefined, cause: e })
  }
  if (code === 'INSUFFICIENT_FUNDS') return new InsufficientFundsError(what, { details: firstLine(e), cause: e })
  if (code !== undefined && UNREACHABLE.has(code)) return new ChainUnreachableError(`${what}: the chain does not answer`, { details: firstLine(e), cause: e })
  // a call to an address without code returns 0x, which does not decode
  if (code === 'BAD_DATA' && ctx.address) return new ContractMismatchError(ctx.address, ctx.contract ?? 'contract', { details: `${what}: ${firstLine(e)}`, cause: e })
  if (code !== undefined && /^[A-Z_]+$/.test(code)) return new RpcError(what, firstLine(e), { cause: e })
  return toFogmeshError(e)
}
