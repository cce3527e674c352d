/**
 * How the real clients (ChannelsClient, RegistryClient) call a contract through one signer:
 * reads, sends that wait for their receipt, and the token approval before a deposit — every
 * failure sorted into the error tree (contracts/chain-errors.ts), reverts decoded with the
 * custom errors of the contract and its token.
 */
import { Interface, type Contract, type ContractTransactionReceipt, type ErrorFragment } from 'ethers'
import { toChainError, type ChainCallContext } from './chain-errors.ts'
import { confirm } from './tx.ts'

/** One Interface with the custom errors of several ABIs (a revert can bubble up from the token). */
export function errorsOf(...abis: Interface[]): Interface {
  const bySelector = new Map<string, ErrorFragment>()
  for (const iface of abis) iface.forEachError((f) => bySelector.set(f.selector, f))
  return new Interface([...bySelector.values()])
}

export class ContractCaller {
  readonly ctx: ChainCallContext

  constructor(
    readonly contract: Contract,
    readonly token: Contract,
    readonly account: string,
    contractName: string,
    address: string,
  ) {
    this.ctx = { iface: errorsOf(contract.interface, token.interface), address, contract: contractName }
  }

  /** A read (or any provider call), its failure a ChainError. */
  async read<T>(call: () => Promise<T>, what: string): Promise<T> {
    try {
      return await call()
    } catch (e) {
      throw toChainError(e, what, this.ctx)
    }
  }

  /** Sends `method` and waits until it is mined; a revert comes back as a TxRevertedError with `revert: { name, args }`. */
  async send(method: string, args: unknown[], contract: Contract = this.contract): Promise<ContractTransactionReceipt> {
    let tx
    try {
      tx = await contract.getFunction(method)(...args)
    } catch (e) {
      throw toChainError(e, method, this.ctx)
    }
    return confirm(tx, undefined, this.ctx)
  }

  /** Raises the token allowance of the contract to `amount` when it is lower. */
  async approve(amount: bigint): Promise<void> {
    const spender = this.ctx.address!
    const allowance = await this.read(() => this.token.getFunction('allowance')(this.account, spender) as Promise<bigint>, 'allowance')
    if (allowance < amount) await this.send('approve', [spender, amount], this.token)
  }
}
