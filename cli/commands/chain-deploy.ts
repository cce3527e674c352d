import { deployMesh } from '../../contracts/deploy.ts'
import { requireString, UsageError, type Command } from '../command.ts'
import { connectChain, openKeystore } from '../wallet.ts'

export const chainDeployCommand: Command = {
  name: 'chain deploy',
  summary: 'deploys the mesh contracts (token, agent registry, payment channels) to an EVM chain; prints their addresses',
  usage: `usage: fogmesh chain deploy --rpc URL --keystore FILE [--token ADDRESS]

  --rpc URL         the chain's JSON-RPC endpoint
  --keystore FILE   the deployer's encrypted JSON keystore; its password in $FOGMESH_KEYSTORE_PASSWORD
  --token ADDRESS   use this ERC-20 instead of deploying the mesh token

  Prints JSON: {"chainId", "token", "registry", "channels"}. Agents and gateways take the
  channels address as --channels.`,
  options: { rpc: { type: 'string' }, keystore: { type: 'string' }, token: { type: 'string' } },
  async run(values) {
    const rpc = requireString(values, 'rpc', "the chain's JSON-RPC URL")
    const keystore = requireString(values, 'keystore', 'the deployer keystore file')
    if (values.token !== undefined && !/^0x[0-9a-fA-F]{40}$/.test(String(values.token))) throw new UsageError('--token must be an 0x address')
    const provider = await connectChain(rpc)
    try {
      const { wallet } = await openKeystore(keystore, provider)
      const mesh = await deployMesh({ signer: wallet, ...(typeof values.token === 'string' ? { token: values.token } : {}) })
      console.log(JSON.stringify({ chainId: Number(mesh.chainId), ...mesh.addresses }, null, 2))
      return 0
    } finally {
      provider.destroy()
    }
  },
}
