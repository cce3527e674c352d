/**
 * Waiting for a transaction without relying on new blocks — the one receipt poll of the code base.
 *
 * ethers' `tx.wait()` (and `provider.waitForTransaction`) checks for the receipt once and otherwise
 * waits for the NEXT block. Anvil in automine mode mines a transaction just after
 * `eth_sendRawTransaction` returns, so that first check can come too early; then no further block
 * ever comes (nothing else is sent) and wait() hangs. `waitForReceipt` polls for the receipt itself
 * (2 ms, backing off to 500 ms, so it also suits real networks); `confirm` then lets wait() do its
 * usual checks (status, revert) on the receipt it found.
 */
import type { ContractTransactionReceipt, ContractTransactionResponse, Provider, TransactionReceipt, TransactionResponse } from 'ethers'
import { ErrorCode } from '../protocol/errors.ts'
import { ChainError, TxTimeoutError, toChainError, type ChainCallContext } from './chain-errors.ts'

/** How long a transaction may take to be mined, by default. */
export const DEFAULT_TX_TIMEOUT_MS = 120_000

/** The receipt of `hash` once it is mined (also when it reverted: see `status`). */
export async function waitForReceipt(provider: Pick<Provider, 'getTransactionReceipt'>, hash: string, timeoutMs = DEFAULT_TX_TIMEOUT_MS): Promise<TransactionReceipt> {
  const deadline = Date.now() + timeoutMs
  for (let delay = 2; ; delay = Math.min(delay * 2, 500)) {
    let receipt: TransactionReceipt | null
    try {
      receipt = await provider.getTransactionReceipt(hash)
    } catch (e) {
      throw toChainError(e, 'eth_getTransactionReceipt')
    }
    if (receipt) return receipt
    if (Date.now() > deadline) throw new TxTimeoutError(hash, timeoutMs)
    await new Promise((r) => setTimeout(r, delay))
  }
}

/** Waits for `tx` and checks it succeeded; a revert becomes a TxRevertedError (decoded with `ctx.iface`). */
export async function confirm(tx: ContractTransactionResponse, timeoutMs?: number, ctx?: ChainCallContext): Promise<ContractTransactionReceipt>
export async function confirm(tx: TransactionResponse, timeoutMs?: number, ctx?: ChainCallContext): Promise<TransactionReceipt>
export async function confirm(tx: TransactionResponse, timeoutMs = DEFAULT_TX_TIMEOUT_MS, ctx: ChainCallContext = {}): Promise<TransactionReceipt> {
  await waitForReceipt(tx.provider, tx.hash, timeoutMs)
  let receipt: TransactionReceipt | null
  try {
    receipt = await tx.wait() // returns at once: the receipt is there (throws if it reverted)
  } catch (e) {
    throw toChainError(e, `transaction ${tx.hash}`, ctx)
  }
  if (!receipt) throw new ChainError(ErrorCode.internal, `transaction ${tx.hash}: no receipt`)
  return receipt
}
