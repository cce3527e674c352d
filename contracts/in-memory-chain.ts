/**
 * An EVM chain in memory, with the mesh deployed on it: the twin behind InMemoryChannels and
 * InMemoryRegistry (wasmCloud-style in-memory capability), for fast unit tests of whatever
 * talks to the chain through the ports (payment-channels.ts, agent-registry.ts).
 *
 *   const chain = new InMemoryChain({ clock })                     // clock: a ManualClock in tests
 *   chain.mint(requester, tokens(1000))
 *   const payer = chain.channels(requester)                        // RequesterChannels + PayeeChannels
 *   const agent = chain.channels(payee)
 *
 * Faithful where it matters: the contracts' checks in the contracts' order, with their custom
 * errors and arguments (thrown as TxRevertedError, as the real clients throw them); a transaction
 * is all or nothing (the state is restored on a revert); every transaction mines a block (automine)
 * whose timestamp follows `clock` (+ `increaseTime`); events after state; nonces, signed
 * transactions whose hash is known before they are sent, and receipts — a transaction that reverts
 * when it is mined (not when it is signed) is mined with status `reverted` and uses its nonce.
 * Not modelled: gas (every receipt says 0 gas used; `gasPrice` is a setting), ether balances,
 * pending transactions (a transaction is mined when it is sent), reorgs.
 */
import { getAddress, hexlify, keccak256, toUtf8Bytes, toUtf8String } from 'ethers'
import { systemClock, type Clock } from '../protocol/clock.ts'
import { ValidationError } from '../protocol/errors.ts'
import { mergeOptions } from '../protocol/options.ts'
import { ChainUnreachableError, RpcError, TxRevertedError } from './chain-errors.ts'
import { DEPLOY_DEFAULTS } from './deploy.ts'
import { InMemoryChannels } from './channels/in-memory-channels.ts'
import { InMemoryRegistry } from './registry/in-memory-registry.ts'

export interface InMemoryChainOptions {
  /** Default 31337 (anvil's). */
  chainId?: number | bigint
  /** The chain's time follows this clock (plus `increaseTime`). Default: the system clock. */
  clock?: Clock
  /** PaymentChannels: seconds between startClose and the end of the challenge window. Default 3600. */
  challengePeriod?: number
  /** AgentRegistry: minimum stake. Default 100 tokens of 18 decimals. */
  minStake?: bigint
  /** AgentRegistry: seconds between requestUnbond and withdraw. Default 7 days. */
  unbondingDelay?: number
  /** AgentRegistry: the one address allowed to slash. Default: `DEPLOYER`. */
  slasher?: string
  /** What `gasPrice()` answers (wei); null: the chain does not say. Default 1 gwei. */
  gasPrice?: bigint | null
  /** Where the contracts live (to mirror a real deployment, so that vouchers sign the same). Default `IN_MEMORY_ADDRESSES`. */
  addresses?: { token: string; registry: string; channels: string }
}

/** The deployer of the in-memory mesh, and the addresses its contracts live at. */
export const DEPLOYER = getAddress('0x00000000000000000000000000000000000fdeed')
export const IN_MEMORY_ADDRESSES = {
  token: getAddress('0x000000000000000000000000000000000000f001'),
  registry: getAddress('0x000000000000000000000000000000000000f002'),
  channels: getAddress('0x000000000000000000000000000000000000f003'),
} as const

export interface ChainEvent {
  address: string
  name: string
  args: unknown[]
  blockNumber: number
  txHash: string
}

export interface MinedTransaction {
  hash: string
  from: string
  nonce: number
  method: string
  blockNumber: number
  status: 'success' | 'reverted'
  events: ChainEvent[]
}

/** What a contract's code sees while a transaction runs. */
export interface TxContext {
  /** msg.sender */
  from: string
  /** block.timestamp, seconds */
  timestamp: bigint
  emit(address: string, name: string, args: unknown[]): void
}

const revert = TxRevertedError.custom

/** PaymentChannels' storage of one channel. */
export interface StoredChannel {
  requester: string
  payee: string
  expiry: bigint
  closesAt: bigint
  finalized: boolean
  deposit: bigint
  paid: bigint
  jobCount: bigint
}

/** AgentRegistry's storage of one agent. */
export interface StoredAgent {
  meshKey: string
  stake: bigint
  unbondingEndsAt: bigint
}

/** The contracts' storage: what a revert restores. */
export interface ChainState {
  balances: Map<string, bigint>
  allowances: Map<string, bigint>
  totalSupply: bigint
  channels: { count: bigint; byId: Map<bigint, StoredChannel> }
  registry: { agents: Map<string, StoredAgent>; keyOwner: Map<string, string> }
}

const UINT256_MAX = (1n << 256n) - 1n

export class InMemoryChain {
  readonly chainId: bigint
  readonly clock: Clock
  readonly addresses: { token: string; registry: string; channels: string }
  readonly settings: { challengePeriod: number; minStake: bigint; unbondingDelay: number; slasher: string }
  gasPrice: bigint | null
  state: ChainState = {
    balances: new Map(),
    allowances: new Map(),
    totalSupply: 0n,
    channels: { count: 0n, byId: new Map() },
    registry: { agents: new Map(), keyOwner: new Map() },
  }
  #blockNumber = 0
  #timestamp: bigint
  #offset = 0n
  #nextTimestamp: bigint | undefined
  #reachable = true
  readonly #nonces = new Map<string, number>()
  readonly #mined = new Map<string, MinedTransaction>()
  readonly #events: ChainEvent[] = []

  constructor(options: InMemoryChainOptions = {}) {
    const o = mergeOptions(options, { chainId: 31337, clock: systemClock, ...DEPLOY_DEFAULTS, slasher: DEPLOYER, gasPrice: 1_000_000_000n as bigint | null, addresses: IN_MEMORY_ADDRESSES }, {
      challengePeriod: { min: 1, max: 2 ** 48 - 1, integer: true },
      unbondingDelay: { min: 0, max: 2 ** 48 - 1, integer: true },
    }, 'chain')
    this.chainId = BigInt(o.chainId)
    this.clock = o.clock
    this.settings = { challengePeriod: o.challengePeriod, minStake: o.minStake, unbondingDelay: o.unbondingDelay, slasher: getAddress(o.slasher) }
    this.gasPrice = o.gasPrice
    this.addresses = { token: getAddress(o.addresses.token), registry: getAddress(o.addresses.registry), channels: getAddress(o.addresses.channels) }
    this.#timestamp = this.#clockSeconds()
  }

  /** The PaymentChannels contract as `account` sees it (requester and payee sides). */
  channels(account: string): InMemoryChannels {
    return new InMemoryChannels(this, getAddress(account))
  }

  /** The AgentRegistry as `account` sees it. */
  registry(account: string): InMemoryRegistry {
    return new InMemoryRegistry(this, getAddress(account))
  }

  // ---- time and blocks ----------------------------------------------------------------------

  #clockSeconds(): bigint {
    return BigInt(Math.floor(this.clock.now() / 1000)) + this.#offset
  }

  get blockNumber(): number {
    return this.#blockNumber
  }

  /** The latest block's timestamp (seconds). */
  get timestamp(): bigint {
    return this.#timestamp
  }

  /** Moves the chain's clock forward and mines a block with the new time (anvil's evm_increaseTime + evm_mine). */
  increaseTime(seconds: number | bigint): void {
    this.#offset += BigInt(seconds)
    this.mine()
  }

  /** The next block gets exactly this timestamp (anvil's evm_setNextBlockTimestamp). */
  setNextBlockTimestamp(timestamp: bigint): void {
    if (timestamp < this.#timestamp) throw new ValidationError('timestamp', `at least the latest block's ${this.#timestamp} (got ${timestamp})`)
    this.#nextTimestamp = timestamp
  }

  /** Mines an empty block. */
  mine(): void {
    this.#timestamp = this.#pendingTimestamp()
    this.#nextTimestamp = undefined
    this.#blockNumber++
  }

  #pendingTimestamp(): bigint {
    if (this.#nextTimestamp !== undefined) return this.#nextTimestamp
    const now = this.#clockSeconds()
    return now > this.#timestamp ? now : this.#timestamp
  }

  // ---- the node -------------------------------------------------------------------------------

  /** Takes the node down (every call fails with ChainUnreachableError) or brings it back. */
  setReachable(reachable: boolean): void {
    this.#reachable = reachable
  }

  /** Throws as a client would when the node does not answer. */
  rpc(what: string): void {
    if (!this.#reachable) throw new ChainUnreachableError(`${what}: the chain does not answer`, { url: 'memory:' })
  }

  nonceOf(account: string): number {
    return this.#nonces.get(account) ?? 0
  }

  transaction(hash: string): MinedTransaction | undefined {
    return this.#mined.get(hash)
  }

  /** Events in blocks `fromBlock..toBlock`, optionally of one contract and name. */
  events(filter: { address?: string; name?: string; fromBlock?: number; toBlock?: number } = {}): ChainEvent[] {
    return this.#events.filter(
      (e) =>
        (filter.address === undefined || e.address === filter.address) &&
        (filter.name === undefined || e.name === filter.name) &&
        e.blockNumber >= (filter.fromBlock ?? 0) &&
        e.blockNumber <= (filter.toBlock ?? Number.MAX_SAFE_INTEGER),
    )
  }

  /**
   * Runs `body` as one transaction of `from` with the next nonce, in a new block. A revert
   * restores the state and is thrown (nothing mined, as when gas estimation refuses it), unless
   * `mineReverted`: then it is mined with status `reverted` (a signed transaction sent anyway).
   */
  transact<T>(from: string, method: string, body: (tx: TxContext) => T, p: { hash?: string; mineReverted?: boolean } = {}): { result: T | undefined; tx: MinedTransaction } {
    this.rpc(method)
    const nonce = this.nonceOf(from)
    const hash = p.hash ?? txHash(this.chainId, from, nonce, method)
    const snapshot = structuredClone(this.state)
    const timestamp = this.#pendingTimestamp()
    const events: ChainEvent[] = []
    const blockNumber = this.#blockNumber + 1
    let result: T | undefined
    let status: MinedTransaction['status'] = 'success'
    try {
      result = body({ from, timestamp, emit: (address, name, args) => events.push({ address, name, args, blockNumber, txHash: hash }) })
    } catch (e) {
      this.state = snapshot
      if (!(e instanceof TxRevertedError) || !p.mineReverted) throw e
      status = 'reverted'
      events.length = 0
    }
    this.mine()
    this.#nonces.set(from, nonce + 1)
    const tx: MinedTransaction = { hash, from, nonce, method, blockNumber, status, events }
    this.#mined.set(hash, tx)
    this.#events.push(...events)
    return { result, tx }
  }

  /** Runs `body` against the state as if it were a transaction now, and undoes it: a revert is thrown. */
  simulate<T>(from: string, body: (tx: TxContext) => T): T {
    this.rpc('eth_estimateGas')
    const snapshot = structuredClone(this.state)
    try {
      return body({ from, timestamp: this.#pendingTimestamp(), emit: () => {} })
    } finally {
      this.state = snapshot
    }
  }

  /** A signed transaction's nonce must be the account's next one. */
  checkNonce(from: string, nonce: number): void {
    const next = this.nonceOf(from)
    if (nonce < next) throw new RpcError('eth_sendRawTransaction', `nonce too low: next nonce ${next}, tx nonce ${nonce}`)
    if (nonce > next) throw new RpcError('eth_sendRawTransaction', `nonce too high: next nonce ${next}, tx nonce ${nonce} (the twin keeps no pending transactions)`)
  }

  // ---- the token (OpenZeppelin ERC20's checks and errors) -----------------------------------

  /** MeshToken.mint by its owner, outside any transaction of the test's accounts. */
  mint(to: string, amount: bigint): void {
    const who = getAddress(to)
    this.state.balances.set(who, this.balanceOf(who) + amount)
    this.state.totalSupply += amount
  }

  balanceOf(who: string): bigint {
    return this.state.balances.get(getAddress(who)) ?? 0n
  }

  allowance(owner: string, spender: string): bigint {
    return this.state.allowances.get(`${owner}/${spender}`) ?? 0n
  }

  approve(owner: string, spender: string, amount: bigint): void {
    this.state.allowances.set(`${owner}/${spender}`, amount)
  }

  /** What the real clients do before a deposit: an `approve` transaction of its own when the allowance is lower. */
  approveIfLower(owner: string, spender: string, amount: bigint): void {
    if (this.allowance(owner, spender) >= amount) return
    this.transact(owner, 'approve', () => this.approve(owner, spender, amount))
  }

  /** A contract pulling a deposit from the caller (`_pull`: safeTransferFrom to itself). */
  pull(method: string, contract: string, t: TxContext, amount: bigint): void {
    this.transferFrom(method, contract, t.from, contract, amount)
  }

  /** ERC20._transfer: ERC20InsufficientBalance(sender, balance, needed). */
  transfer(method: string, from: string, to: string, amount: bigint): void {
    const balance = this.balanceOf(from)
    if (balance < amount) throw revert(method, 'ERC20InsufficientBalance', from, balance, amount)
    this.state.balances.set(from, balance - amount)
    this.state.balances.set(to, this.balanceOf(to) + amount)
  }

  /** ERC20.transferFrom: the allowance first (ERC20InsufficientAllowance(spender, allowance, needed)), then the balance. */
  transferFrom(method: string, spender: string, from: string, to: string, amount: bigint): void {
    const allowed = this.allowance(from, spender)
    if (allowed !== UINT256_MAX) {
      if (allowed < amount) throw revert(method, 'ERC20InsufficientAllowance', spender, allowed, amount)
      this.approve(from, spender, allowed - amount)
    }
    this.transfer(method, from, to, amount)
  }
}

/** A deterministic transaction hash: the same account, nonce and call give the same hash (as deterministic signatures do). */
export function txHash(chainId: bigint, from: string, nonce: number, call: string): string {
  return keccak256(toUtf8Bytes(`${chainId}/${from}/${nonce}/${call}`))
}

/** A call as the twin's "raw transaction": JSON (amounts as decimal strings) in 0x hex. */
export function encodeCall(value: unknown): string {
  return hexlify(toUtf8Bytes(JSON.stringify(value)))
}

export function decodeCall<T>(raw: string): T | undefined {
  try {
    return JSON.parse(toUtf8String(raw)) as T
  } catch {
    return undefined
  }
}
