/**
 * The typed client of AgentRegistry over ethers v6: the real implementation of the AgentRegistry
 * port (agent-registry.ts). Reverts come back as TxRevertedError with the custom error decoded.
 */
import { Contract, getAddress, ZeroAddress, type ContractTransactionReceipt, type Result, type Signer } from 'ethers'
import { ValidationError } from '../../protocol/errors.ts'
import { loadArtifact } from '../artifacts.ts'
import { ContractMismatchError, toChainError } from '../chain-errors.ts'
import { ContractCaller } from '../contract-caller.ts'
import type { AgentRecord, AgentRegistry } from './agent-registry.ts'

export class RegistryClient implements AgentRegistry {
  readonly contract: Contract
  readonly address: string
  readonly account: string
  readonly #caller: ContractCaller

  private constructor(contract: Contract, token: Contract, address: string, account: string) {
    this.contract = contract
    this.address = address
    this.account = account
    this.#caller = new ContractCaller(contract, token, account, 'AgentRegistry', address)
  }

  /** `signer` must be connected to a provider. */
  static async connect(registryAddress: string, signer: Signer): Promise<RegistryClient> {
    if (!signer.provider) throw new ValidationError('signer', 'a Signer connected to a provider')
    const address = getAddress(registryAddress)
    const contract = new Contract(address, (await loadArtifact('AgentRegistry')).abi, signer)
    let token: string
    let account: string
    try {
      ;[token, account] = await Promise.all([contract.getFunction('stakeToken')() as Promise<string>, signer.getAddress()])
    } catch (e) {
      throw toChainError(e, 'stakeToken', { address, contract: 'AgentRegistry' })
    }
    return new RegistryClient(contract, new Contract(getAddress(token), (await loadArtifact('MeshToken')).abi, signer), address, getAddress(account))
  }

  async register(meshKey: string, amount: bigint, approve = true): Promise<{ txHash: string }> {
    if (approve) await this.#caller.approve(amount)
    return { txHash: (await this.#caller.send('register', [meshKey, amount])).hash }
  }

  async addStake(amount: bigint, approve = true): Promise<{ txHash: string }> {
    if (approve && amount > 0n) await this.#caller.approve(amount)
    return { txHash: (await this.#caller.send('addStake', [amount])).hash }
  }

  async requestUnbond(): Promise<{ unbondingEndsAt: bigint; txHash: string }> {
    const receipt = await this.#caller.send('requestUnbond', [])
    return { unbondingEndsAt: this.#event(receipt, 'UnbondRequested')[2] as bigint, txHash: receipt.hash }
  }

  async withdraw(): Promise<{ amount: bigint; txHash: string }> {
    const receipt = await this.#caller.send('withdraw', [])
    return { amount: this.#event(receipt, 'StakeWithdrawn')[1] as bigint, txHash: receipt.hash }
  }

  async slash(agent: string, amount: bigint, reason: string): Promise<{ remainingStake: bigint; txHash: string }> {
    const receipt = await this.#caller.send('slash', [agent, amount, reason])
    return { remainingStake: this.#event(receipt, 'Slashed')[2] as bigint, txHash: receipt.hash }
  }

  async getAgent(agent: string): Promise<AgentRecord> {
    const a = (await this.#caller.read(() => this.contract.getFunction('getAgent')(agent) as Promise<Result>, 'getAgent')).toObject() as Record<string, unknown>
    return { meshKey: a.meshKey as string, stake: BigInt(a.stake as bigint), unbondingEndsAt: BigInt(a.unbondingEndsAt as bigint) }
  }

  isActive(agent: string): Promise<boolean> {
    return this.#caller.read(() => this.contract.getFunction('isActive')(agent) as Promise<boolean>, 'isActive')
  }

  async activeAgentOf(meshKey: string): Promise<string | null> {
    const a = await this.#caller.read(() => this.contract.getFunction('activeAgentOf')(meshKey) as Promise<string>, 'activeAgentOf')
    return a === ZeroAddress ? null : a
  }

  async keyOwner(meshKey: string): Promise<string | null> {
    const a = await this.#caller.read(() => this.contract.getFunction('keyOwner')(meshKey) as Promise<string>, 'keyOwner')
    return a === ZeroAddress ? null : a
  }

  /** The arguments of the first `name` event of the receipt. */
  #event(receipt: ContractTransactionReceipt, name: string): unknown[] {
    for (const log of receipt.logs) {
      if (log.address.toLowerCase() !== this.address.toLowerCase()) continue
      const parsed = this.contract.interface.parseLog(log)
      if (parsed?.name === name) return [...parsed.args]
    }
    throw new ContractMismatchError(this.address, 'AgentRegistry', { details: `no ${name} event` })
  }
}
