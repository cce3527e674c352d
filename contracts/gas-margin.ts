/**
 * Sending with a gas margin. MeshToken is ERC20Votes: a transfer, mint or burn that touches a
 * vote checkpoint pushes a new one when the clock moved since the last, and updates it in place
 * when it did not. A node estimates gas on the latest block, the transaction runs in the next one:
 * the estimate can miss a push (~20k gas) and the transaction runs out of gas. Everything the
 * verification and governance code sends goes through here: the estimate plus 25% and 30,000.
 */
import type { Contract, ContractTransactionReceipt } from 'ethers'
import { confirm } from './tx.ts'

export const GAS_MARGIN = { percent: 25n, fixed: 30_000n } as const

export function withMargin(estimate: bigint): bigint {
  return (estimate * (100n + GAS_MARGIN.percent)) / 100n + GAS_MARGIN.fixed
}

/** `contract.method(...args)` with the gas limit set to the estimate plus the margin; waits for the receipt. */
export async function sendWithMargin(contract: Contract, method: string, args: unknown[]): Promise<ContractTransactionReceipt> {
  const fn = contract.getFunction(method)
  const gasLimit = withMargin(await fn.estimateGas(...args))
  return confirm(await fn(...args, { gasLimit }))
}
