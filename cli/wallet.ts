/**
 * Wallets for real networks: an encrypted JSON keystore (ethers), its password
 * from the environment (never from a flag: flags end up in shell history and `ps`).
 */
import { readFileSync } from 'node:fs'
import { Wallet, type JsonRpcProvider } from 'ethers'
import { ChannelsClient } from '../contracts/channels/channels-client.ts'
import { connectRpc } from '../contracts/deploy.ts'
import { toFogmeshError } from '../protocol/errors.ts'
import { UsageError } from './command.ts'

export const PASSWORD_ENV = 'FOGMESH_KEYSTORE_PASSWORD'

export async function openKeystore(path: string, provider: JsonRpcProvider): Promise<{ wallet: Wallet; privateKey: string }> {
  let json: string
  try {
    json = readFileSync(path, 'utf8')
  } catch (err) {
    throw new UsageError(`cannot read keystore ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
  }
  const password = process.env[PASSWORD_ENV]
  if (password === undefined) throw new UsageError(`set ${PASSWORD_ENV} to the keystore's password`)
  let wallet: Wallet
  try {
    wallet = (await Wallet.fromEncryptedJson(json, password)) as Wallet
  } catch {
    throw new UsageError(`keystore ${path}: wrong password or not an encrypted JSON keystore`)
  }
  return { wallet: wallet.connect(provider), privateKey: wallet.privateKey }
}

/** A provider for `--rpc`; a chain that does not answer is a user error (one line, exit 2). */
export async function connectChain(rpc: string): Promise<JsonRpcProvider> {
  try {
    return await connectRpc(rpc)
  } catch (err) {
    const e = toFogmeshError(err)
    throw new UsageError(`cannot reach the chain at ${rpc} (${e.code}): ${(e.details ?? e.shortMessage).split('\n')[0]}`)
  }
}

/** `--rpc`, `--channels`, `--keystore` → a connected channels client, or undefined when none is given. */
export async function paymentFromOptions(values: Record<string, unknown>): Promise<{ client: ChannelsClient; wallet: Wallet; privateKey: string } | undefined> {
  const { rpc, channels, keystore, court } = values as { rpc?: string; channels?: string; keystore?: string; court?: string }
  if (rpc === undefined && channels === undefined && keystore === undefined) return undefined
  // --rpc and --keystore without --channels: a staked agent that is not paid through channels
  if (channels === undefined && court !== undefined) return undefined
  if (!rpc || !channels || !keystore) throw new UsageError('payment needs all three: --rpc URL --channels ADDRESS --keystore FILE')
  const provider = await connectChain(rpc)
  const { wallet, privateKey } = await openKeystore(keystore, provider)
  return { client: await ChannelsClient.connect(channels, wallet), wallet, privateKey }
}

export { PAYMENT_OPTIONS } from './payment-options.ts'
