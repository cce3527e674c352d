/**
 * A fresh anvil with the mesh deployed with verification and governance (deployVerifiedMesh), for
 * the court, governance, market and CLI tests that need them. Like `useChain`: skipped without
 * anvil unless CI is set (then it fails), a failed set-up fails every test of the file.
 *
 *   const chain = useVerifiedChain(test, { params: { challengeWindow: 600 } })
 *   chain.test('...', async () => { const { v, wallets } = chain.ctx; const a = await stakedAgent(chain.ctx, 3) })
 */
import { hexlify, randomBytes, Wallet, type JsonRpcProvider } from 'ethers'
import type { Test } from 'uvu'
import { startAnvil, type Anvil } from '../../contracts/anvil.ts'
import { connectRpc } from '../../contracts/deploy.ts'
import { CourtClient } from '../../contracts/verification/court-client.ts'
import { deployVerifiedMesh, type VerifiedDeployOptions, type VerifiedDeployment } from '../../contracts/verification/deploy-verification.ts'
import { stakeAgent } from '../../contracts/verification/staking.ts'
import { Attester } from '../../protocol/statement.ts'
import { tokens, useAnvilFixture } from './chain.ts'

export interface VerifiedChainContext {
  node: Anvil
  provider: JsonRpcProvider
  /** wallets[0] deployed; every wallet holds `fund` tokens */
  wallets: Wallet[]
  v: VerifiedDeployment
}

export interface VerifiedChainOptions extends Omit<VerifiedDeployOptions, 'signer' | 'mint'> {
  accounts?: number
  fund?: bigint
}

type AnyTest = Test<Record<string, unknown>>

export async function startVerifiedChain(options: VerifiedChainOptions = {}): Promise<VerifiedChainContext> {
  const { accounts = 12, fund = tokens(1_000_000), ...deploy } = options
  const node = await startAnvil({ accounts })
  try {
    const provider = await connectRpc(node.rpc)
    const wallets = node.accounts.map((k) => new Wallet(k, provider))
    const v = await deployVerifiedMesh({ ...deploy, signer: wallets[0]!, mint: wallets.map((w) => ({ to: w.address, amount: fund })) })
    return { node, provider, wallets, v }
  } catch (e) {
    await node.stop()
    throw e
  }
}

export async function stopVerifiedChain(ctx: VerifiedChainContext | null): Promise<void> {
  if (!ctx) return
  ctx.provider.destroy()
  await ctx.node.stop()
}

export function useVerifiedChain(test: AnyTest, options: VerifiedChainOptions = {}): { test: AnyTest; readonly ctx: VerifiedChainContext } {
  return useAnvilFixture(test, () => startVerifiedChain(options), stopVerifiedChain)
}

export interface StakedAccount {
  wallet: Wallet
  attester: Attester
  court: CourtClient
  meshKey: string
}

/** Registers wallets[i] with a fresh mesh key and attester, staked `amount` (default: the minimum). */
export async function stakedAccount(ctx: VerifiedChainContext, i: number, amount?: bigint): Promise<StakedAccount> {
  const wallet = ctx.wallets[i]!
  const attester = new Attester(hexlify(randomBytes(32)))
  const court = await CourtClient.connect(ctx.v.addresses.court, wallet)
  const meshKey = hexlify(randomBytes(32))
  await stakeAgent({ court, meshKey, attester, amount: amount ?? ctx.v.settings.params.minStake })
  return { wallet, attester, court, meshKey }
}
