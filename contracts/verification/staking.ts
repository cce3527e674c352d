/**
 * Staking an agent: its registry account (the payout wallet) stakes with the agent's ed25519 mesh
 * key and binds the agent's attester key in the court. `fogmesh stake` and the tests use this.
 *
 *   stakeAgent({ court, registry, meshKey, attester, amount })
 *     not registered:   approve + register(meshKey, amount)
 *     registered:       approve + addStake(amount)      (amount 0: nothing added)
 *     attester not the bound one: bindAttester(attester)
 *
 *   unstakeAgent(...)  requestUnbond, or withdraw once the unbonding delay has passed
 */
import { Contract, ZeroHash, getAddress } from 'ethers'
import { ErrorCode, FogmeshError } from '../../protocol/errors.ts'
import type { Attester } from '../../protocol/statement.ts'
import { attach } from '../deploy.ts'
import { sendWithMargin } from '../gas-margin.ts'
import type { CourtClient } from './court-client.ts'

export interface StakeReport {
  account: string
  registered: boolean
  added: bigint
  attesterBound: boolean
  stake: bigint
  gasUsed: bigint
}

async function registryOf(court: CourtClient): Promise<{ registry: Contract; token: Contract }> {
  const runner = court.contract.runner!
  const registry = await attach('AgentRegistry', await court.registryAddress(), runner)
  const token = await attach('MeshToken', (await registry.getFunction('stakeToken')()) as string, runner)
  return { registry, token }
}

/** `meshKey`: the agent's ed25519 public key as 0x + 64 hex. */
export async function stakeAgent(opts: { court: CourtClient; meshKey: string; attester: Attester; amount: bigint }): Promise<StakeReport> {
  const { court, meshKey, attester, amount } = opts
  const { registry, token } = await registryOf(court)
  const account = court.account
  let gasUsed = 0n
  const send = async (c: Contract, method: string, args: unknown[]) => {
    const r = await sendWithMargin(c, method, args)
    gasUsed += r.gasUsed
  }
  const before = (await registry.getFunction('getAgent')(account)).toObject() as { meshKey: string; stake: bigint; unbondingEndsAt: bigint }
  let registered = false
  if (before.meshKey === ZeroHash) {
    if (amount <= 0n) throw new FogmeshError(ErrorCode.usage, 'this account is not registered yet: stake a positive amount')
    await send(token, 'approve', [await registry.getAddress(), amount])
    await send(registry, 'register', [meshKey, amount])
    registered = true
  } else {
    if (before.meshKey.toLowerCase() !== meshKey.toLowerCase()) {
      throw new FogmeshError(ErrorCode.usage, `account ${account} is registered with another mesh key (${before.meshKey})`)
    }
    if (before.unbondingEndsAt !== 0n) throw new FogmeshError(ErrorCode.usage, `account ${account} is unbonding: withdraw first (fogmesh unstake)`)
    if (amount > 0n) {
      await send(token, 'approve', [await registry.getAddress(), amount])
      await send(registry, 'addStake', [amount])
    }
  }
  let attesterBound = false
  const current = (await court.contract.getFunction('attesterOf')(account)) as string
  if (getAddress(current) !== getAddress(attester.address)) {
    gasUsed += (await court.bindAttester(attester)).gasUsed
    attesterBound = true
  }
  const after = (await registry.getFunction('getAgent')(account)).toObject() as { stake: bigint }
  return { account, registered, added: registered || amount > 0n ? amount : 0n, attesterBound, stake: BigInt(after.stake), gasUsed }
}

export type UnstakeReport =
  | { step: 'unbonding'; account: string; unbondingEndsAt: bigint; stake: bigint }
  | { step: 'withdrawn'; account: string; amount: bigint }

/** First call: starts unbonding (the agent leaves the market at once). After the delay: withdraws. */
export async function unstakeAgent(court: CourtClient): Promise<UnstakeReport> {
  const { registry } = await registryOf(court)
  const account = court.account
  const a = (await registry.getFunction('getAgent')(account)).toObject() as { meshKey: string; stake: bigint; unbondingEndsAt: bigint }
  if (a.meshKey === ZeroHash) throw new FogmeshError(ErrorCode.usage, `account ${account} has no stake in the registry`)
  if (a.unbondingEndsAt === 0n) {
    const receipt = await sendWithMargin(registry, 'requestUnbond', [])
    const ev = receipt.logs.map((l) => registry.interface.parseLog(l)).find((e) => e?.name === 'UnbondRequested')
    return { step: 'unbonding', account, unbondingEndsAt: BigInt(ev?.args[2] as bigint), stake: BigInt(a.stake) }
  }
  const block = await court.contract.runner!.provider!.getBlock('latest')
  if (BigInt(block!.timestamp) < a.unbondingEndsAt) {
    throw new FogmeshError(ErrorCode.usage, `unbonding until ${new Date(Number(a.unbondingEndsAt) * 1000).toISOString()}: withdraw after that`)
  }
  await sendWithMargin(registry, 'withdraw', [])
  return { step: 'withdrawn', account, amount: BigInt(a.stake) }
}
