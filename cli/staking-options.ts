/**
 * The chain options of staking and governance commands, and what they open:
 *   --rpc URL            the chain
 *   --court ADDRESS      the VerificationCourt (it knows the registry, the token and the parameters)
 *   --keystore FILE      the account's encrypted JSON keystore (password in $FOGMESH_KEYSTORE_PASSWORD)
 */
import type { JsonRpcProvider, Wallet } from 'ethers'
import { CourtClient } from '../contracts/verification/court-client.ts'
import { requireString, UsageError } from './command.ts'
import { connectChain, openKeystore } from './wallet.ts'

export const COURT_OPTIONS = {
  rpc: { type: 'string' },
  court: { type: 'string' },
  keystore: { type: 'string' },
} as const

export function addressOption(values: Record<string, unknown>, name: string, what: string): string {
  const v = requireString(values, name, what)
  if (!/^0x[0-9a-fA-F]{40}$/.test(v)) throw new UsageError(`--${name} must be an 0x address (got ${v})`)
  return v
}

export function openRpc(values: Record<string, unknown>): Promise<JsonRpcProvider> {
  return connectChain(requireString(values, 'rpc', "the chain's JSON-RPC URL"))
}

/** A court client acting as the keystore's account; the caller destroys the provider. */
export async function openCourt(values: Record<string, unknown>, { readOnly = false } = {}): Promise<{ court: CourtClient; provider: JsonRpcProvider; wallet?: Wallet }> {
  const courtAddress = addressOption(values, 'court', 'the VerificationCourt address (fogmesh chain deploy prints it)')
  const provider = await openRpc(values)
  try {
    if (readOnly && values.keystore === undefined) return { court: await connectCourt(courtAddress, provider), provider }
    const { wallet } = await openKeystore(requireString(values, 'keystore', "the account's keystore file"), provider)
    return { court: await connectCourt(courtAddress, wallet), provider, wallet }
  } catch (err) {
    provider.destroy()
    throw err
  }
}

async function connectCourt(address: string, runner: Parameters<typeof CourtClient.connect>[1]): Promise<CourtClient> {
  try {
    const c = await CourtClient.connect(address, runner)
    await c.registryAddress()
    return c
  } catch (err) {
    if (err instanceof UsageError) throw err
    throw new UsageError(`no VerificationCourt at ${address} on this chain (${(err as Error).message.split('\n')[0]})`)
  }
}

/**
 * `fogmesh agent --court ADDRESS --rpc URL [--account ADDRESS | --keystore FILE]`: what the agent
 * advertises as its stake (requesters check it on chain). Undefined without --court.
 */
export async function stakingFromOptions(values: Record<string, unknown>, wallet: Wallet | undefined): Promise<{ chainId: number; court: string; account: string } | undefined> {
  if (values.court === undefined) {
    if (values.account !== undefined) throw new UsageError('--account goes with --court (the VerificationCourt the account is staked in)')
    return undefined
  }
  const court = addressOption(values, 'court', 'the VerificationCourt address')
  const provider = await openRpc(values)
  try {
    const { chainId } = await provider.getNetwork()
    let account = typeof values.account === 'string' ? addressOption(values, 'account', 'the registry account') : wallet?.address
    if (!account && typeof values.keystore === 'string') account = (await openKeystore(values.keystore, provider)).wallet.address
    if (!account) throw new UsageError('--court needs the registry account: --account ADDRESS or --keystore FILE')
    return { chainId: Number(chainId), court, account }
  } finally {
    provider.destroy()
  }
}
