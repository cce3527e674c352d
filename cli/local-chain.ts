/**
 * The local chain of `fogmesh up`: anvil on a free port, the mesh contracts
 * deployed, the sensor's requester funded, a wallet per agent.
 */
import { parseUnits, Wallet, type JsonRpcProvider } from 'ethers'
import { startAnvil, type Anvil } from '../contracts/anvil.ts'
import { ChannelsClient } from '../contracts/channels/channels-client.ts'
import { connectRpc, deployMesh, type MeshDeployment } from '../contracts/deploy.ts'

export interface LocalChain {
  anvil: Anvil
  provider: JsonRpcProvider
  mesh: MeshDeployment
  /** The requester's (gateway's) wallet and client, funded with tokens. */
  requester: { wallet: Wallet; privateKey: string; client: ChannelsClient }
  /** One wallet and client per agent. */
  agents: Array<{ wallet: Wallet; client: ChannelsClient }>
  stop(): Promise<void>
}

/** Tokens have 18 decimals; this is how `up` shows amounts. */
export const MESH = (amount: bigint) => `${(Number(amount) / 1e18).toFixed(6)} MESH`

export async function startLocalChain(agentCount: number): Promise<LocalChain> {
  const anvil = await startAnvil({ accounts: agentCount + 2 })
  try {
    const provider = await connectRpc(anvil.rpc)
    const wallets = anvil.accounts.map((k) => new Wallet(k, provider))
    const deployer = wallets[0]!
    const requesterWallet = wallets[1]!
    const mesh = await deployMesh({ signer: deployer, mint: [{ to: requesterWallet.address, amount: parseUnits('1000', 18) }] })
    const requester = { wallet: requesterWallet, privateKey: anvil.accounts[1]!, client: await ChannelsClient.connect(mesh.addresses.channels, requesterWallet) }
    const agents = await Promise.all(
      wallets.slice(2, 2 + agentCount).map(async (wallet) => ({ wallet, client: await ChannelsClient.connect(mesh.addresses.channels, wallet) })),
    )
    return {
      anvil,
      provider,
      mesh,
      requester,
      agents,
      async stop() {
        provider.destroy()
        await anvil.stop()
      },
    }
  } catch (err) {
    await anvil.stop()
    throw err
  }
}
