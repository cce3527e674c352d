/**
 * The agent registry as a port: stake to join, one ed25519 mesh key bound to one payout address,
 * an unbonding delay, slashing by one slasher (src/AgentRegistry.sol).
 *
 *   RegistryClient      contracts/registry/registry-client.ts      the contract over ethers
 *   InMemoryRegistry    contracts/registry/in-memory-registry.ts   the same rules in memory
 *
 * An instance acts as one account (`account`). Failures are ChainErrors; a revert is a
 * TxRevertedError naming the contract's custom error (`StakeTooLow`, `KeyAlreadyBound`, ...).
 */

/** An agent as `AgentRegistry.getAgent` returns it (all zero when not registered). */
export interface AgentRecord {
  /** bytes32, 0x hex; ZeroHash: not registered */
  meshKey: string
  stake: bigint
  /** 0: not unbonding; else withdraw is possible from then on (seconds) */
  unbondingEndsAt: bigint
}

export interface AgentRegistry {
  /** The AgentRegistry contract. */
  readonly address: string
  /** The account this instance acts as (the agent's payout address). */
  readonly account: string
  /** Stakes `amount` (at least the minimum) and binds `meshKey` to this account. Approves the token first unless `approve` is false. */
  register(meshKey: string, amount: bigint, approve?: boolean): Promise<{ txHash: string }>
  addStake(amount: bigint, approve?: boolean): Promise<{ txHash: string }>
  requestUnbond(): Promise<{ unbondingEndsAt: bigint; txHash: string }>
  withdraw(): Promise<{ amount: bigint; txHash: string }>
  /** Only the slasher: takes `amount` of `agent`'s stake; `reason` is a bytes32. */
  slash(agent: string, amount: bigint, reason: string): Promise<{ remainingStake: bigint; txHash: string }>
  getAgent(agent: string): Promise<AgentRecord>
  isActive(agent: string): Promise<boolean>
  /** The active agent with this mesh key, or null. */
  activeAgentOf(meshKey: string): Promise<string | null>
  /** The address a mesh key is bound to for good, or null. */
  keyOwner(meshKey: string): Promise<string | null>
}
