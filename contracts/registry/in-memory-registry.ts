/**
 * AgentRegistry in memory: the in-memory twin of RegistryClient (same port, agent-registry.ts),
 * on an InMemoryChain — the contract's checks in its order (src/AgentRegistry.sol), with its
 * custom errors and their arguments, the unbonding delay on the chain's clock.
 */
import { getAddress, ZeroHash } from 'ethers'
import { ValidationError } from '../../protocol/errors.ts'
import { TxRevertedError } from '../chain-errors.ts'
import type { InMemoryChain, StoredAgent } from '../in-memory-chain.ts'
import type { AgentRecord, AgentRegistry } from './agent-registry.ts'

const revert = TxRevertedError.custom
const UINT128_MAX = (1n << 128n) - 1n

function bytes32(field: string, hex: string): string {
  if (!/^0x[0-9a-fA-F]{64}$/.test(hex)) throw new ValidationError(field, '32 bytes of 0x hex') // ethers refuses to encode it
  return hex.toLowerCase()
}

export class InMemoryRegistry implements AgentRegistry {
  readonly address: string
  readonly #chain: InMemoryChain

  constructor(
    chain: InMemoryChain,
    readonly account: string,
  ) {
    this.#chain = chain
    this.address = chain.addresses.registry
  }

  get #state() {
    return this.#chain.state.registry
  }

  get #settings() {
    return this.#chain.settings
  }

  async register(meshKey: string, amount: bigint, approve = true): Promise<{ txHash: string }> {
    const key = bytes32('meshKey', meshKey)
    if (approve) this.#chain.approveIfLower(this.account, this.address, amount)
    const { tx } = this.#chain.transact(this.account, 'register', (t) => {
      if (key === ZeroHash) throw revert('register', 'ZeroMeshKey')
      const a = this.#state.agents.get(t.from)
      if (a) throw revert('register', 'AlreadyRegistered', t.from, a.meshKey)
      const owner = this.#state.keyOwner.get(key)
      if (owner !== undefined && owner !== t.from) throw revert('register', 'KeyAlreadyBound', key, owner)
      if (amount < this.#settings.minStake || amount === 0n) throw revert('register', 'StakeTooLow', amount, this.#settings.minStake)
      if (amount > UINT128_MAX) throw revert('register', 'AmountTooLarge', amount)
      if (owner === undefined) this.#state.keyOwner.set(key, t.from)
      this.#state.agents.set(t.from, { meshKey: key, stake: amount, unbondingEndsAt: 0n })
      t.emit(this.address, 'AgentRegistered', [t.from, key, amount])
      this.#chain.pull('register', this.address, t, amount)
    })
    return { txHash: tx.hash }
  }

  async addStake(amount: bigint, approve = true): Promise<{ txHash: string }> {
    if (approve && amount > 0n) this.#chain.approveIfLower(this.account, this.address, amount)
    const { tx } = this.#chain.transact(this.account, 'addStake', (t) => {
      if (amount === 0n) throw revert('addStake', 'ZeroAmount')
      const a = this.#registered('addStake', t.from)
      if (a.unbondingEndsAt !== 0n) throw revert('addStake', 'AlreadyUnbonding', t.from, a.unbondingEndsAt)
      const stake = a.stake + amount
      if (stake > UINT128_MAX) throw revert('addStake', 'AmountTooLarge', stake)
      a.stake = stake
      t.emit(this.address, 'StakeAdded', [t.from, amount, stake])
      this.#chain.pull('addStake', this.address, t, amount)
    })
    return { txHash: tx.hash }
  }

  async requestUnbond(): Promise<{ unbondingEndsAt: bigint; txHash: string }> {
    const { result, tx } = this.#chain.transact(this.account, 'requestUnbond', (t) => {
      const a = this.#registered('requestUnbond', t.from)
      if (a.unbondingEndsAt !== 0n) throw revert('requestUnbond', 'AlreadyUnbonding', t.from, a.unbondingEndsAt)
      a.unbondingEndsAt = t.timestamp + BigInt(this.#settings.unbondingDelay)
      t.emit(this.address, 'UnbondRequested', [t.from, a.stake, a.unbondingEndsAt])
      return a.unbondingEndsAt
    })
    return { unbondingEndsAt: result!, txHash: tx.hash }
  }

  async withdraw(): Promise<{ amount: bigint; txHash: string }> {
    const { result, tx } = this.#chain.transact(this.account, 'withdraw', (t) => {
      const a = this.#registered('withdraw', t.from)
      if (a.unbondingEndsAt === 0n) throw revert('withdraw', 'NotUnbonding', t.from)
      if (t.timestamp < a.unbondingEndsAt) throw revert('withdraw', 'UnbondingNotElapsed', t.from, a.unbondingEndsAt, t.timestamp)
      const amount = a.stake
      this.#state.agents.delete(t.from) // the key stays bound to this address for good
      t.emit(this.address, 'StakeWithdrawn', [t.from, amount])
      if (amount !== 0n) this.#chain.transfer('withdraw', this.address, t.from, amount)
      return amount
    })
    return { amount: result!, txHash: tx.hash }
  }

  async slash(agent: string, amount: bigint, reason: string): Promise<{ remainingStake: bigint; txHash: string }> {
    const who = getAddress(agent)
    const why = bytes32('reason', reason)
    const { result, tx } = this.#chain.transact(this.account, 'slash', (t) => {
      if (t.from !== this.#settings.slasher) throw revert('slash', 'NotSlasher', t.from)
      if (amount === 0n) throw revert('slash', 'ZeroAmount')
      const a = this.#registered('slash', who)
      if (amount > a.stake) throw revert('slash', 'SlashExceedsStake', who, amount, a.stake)
      a.stake -= amount
      t.emit(this.address, 'Slashed', [who, amount, a.stake, why])
      this.#chain.transfer('slash', this.address, t.from, amount)
      return a.stake
    })
    return { remainingStake: result!, txHash: tx.hash }
  }

  async getAgent(agent: string): Promise<AgentRecord> {
    this.#chain.rpc('getAgent')
    const a = this.#state.agents.get(getAddress(agent))
    return a ? { ...a } : { meshKey: ZeroHash, stake: 0n, unbondingEndsAt: 0n }
  }

  async isActive(agent: string): Promise<boolean> {
    this.#chain.rpc('isActive')
    return this.#active(this.#state.agents.get(getAddress(agent)))
  }

  async activeAgentOf(meshKey: string): Promise<string | null> {
    this.#chain.rpc('activeAgentOf')
    const key = bytes32('meshKey', meshKey)
    const owner = this.#state.keyOwner.get(key)
    const a = owner === undefined ? undefined : this.#state.agents.get(owner)
    return owner !== undefined && a?.meshKey === key && this.#active(a) ? owner : null
  }

  async keyOwner(meshKey: string): Promise<string | null> {
    this.#chain.rpc('keyOwner')
    return this.#state.keyOwner.get(bytes32('meshKey', meshKey)) ?? null
  }

  #active(a: StoredAgent | undefined): boolean {
    return !!a && a.meshKey !== ZeroHash && a.unbondingEndsAt === 0n && a.stake >= this.#settings.minStake
  }

  #registered(method: string, agent: string): StoredAgent {
    const a = this.#state.agents.get(agent)
    if (!a) throw revert(method, 'NotRegistered', agent)
    return a
  }
}

