/**
 * Waiting for a transaction without relying on new blocks.
 *
 * ethers' `tx.wait()` checks for the receipt once and otherwise waits for the NEXT block. Anvil in
 * automine mode mines a transaction just after `eth_sendRawTransaction` returns, so that first
 * check can come too early; then no further block ever comes (nothing else is sent) and wait()
 * hangs. `confirm` polls for the receipt itself (2 ms, backing off to 500 ms, so it also suits
 * real networks), then lets wait() do its usual checks (status, revert) on the receipt it finds.
 */
import type { ContractTransactionReceipt, ContractTransactionResponse, TransactionReceipt, TransactionResponse } from 'ethers'

export async function confirm(tx: ContractTransactionResponse, timeoutMs?: number): Promise<ContractTransactionReceipt>
export async function confirm(tx: TransactionResponse, timeoutMs?: number): Promise<TransactionReceipt>
export async function confirm(tx: TransactionResponse, timeoutMs = 120_000): Promise<TransactionReceipt> {
  const deadline = Date.now() + timeoutMs
  for (let delay = 2; !(await tx.provider.getTransactionReceipt(tx.hash)); delay = Math.min(delay * 2, 500)) {
    if (Date.now() > deadline) throw new Error(`transaction ${tx.hash} not mined within ${timeoutMs} ms`)
    await new Promise((r) => setTimeout(r, delay))
  }
  const receipt = await tx.wait() // returns at once: the receipt is there (throws if it reverted)
  if (!receipt) throw new Error(`transaction ${tx.hash}: no receipt`)
  return receipt
}
