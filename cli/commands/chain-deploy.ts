import { parseUnits } from 'ethers'
import { deployVerifiedMesh, GOVERNANCE_DEFAULTS, PARAM_DEFAULTS } from '../../contracts/verification/deploy-verification.ts'
import { intOption, requireString, UsageError, type Command } from '../command.ts'
import { connectChain, openKeystore } from '../wallet.ts'

export const chainDeployCommand: Command = {
  name: 'chain deploy',
  summary: 'deploys the mesh contracts (token, registry, channels, verification court, governed parameters, governor) to an EVM chain; prints their addresses',
  usage: `usage: fogmesh chain deploy --rpc URL --keystore FILE [--token ADDRESS] [--min-stake N]
                           [--voting-delay S] [--voting-period S] [--timelock-delay S]

  --rpc URL            the chain's JSON-RPC endpoint
  --keystore FILE      the deployer's encrypted JSON keystore; its password in $FOGMESH_KEYSTORE_PASSWORD
  --token ADDRESS      use this ERC-20 instead of deploying the mesh token
  --min-stake N        the governed minimum stake, in MESH (default ${Number(PARAM_DEFAULTS.minStake / 10n ** 18n)})
  --voting-delay S     seconds from a proposal to its vote (default ${GOVERNANCE_DEFAULTS.votingDelay})
  --voting-period S    seconds a vote lasts (default ${GOVERNANCE_DEFAULTS.votingPeriod})
  --timelock-delay S   seconds between queueing a passed proposal and executing it (default ${GOVERNANCE_DEFAULTS.timelockDelay})

  Prints JSON: {"chainId", "token", "registry", "channels", "params", "court", "governor", "timelock"}.
  Agents and gateways take the channels address as --channels and the court as --court.
  The parameters are owned by the timelock: only a passed proposal changes them (fogmesh gov).`,
  options: {
    rpc: { type: 'string' }, keystore: { type: 'string' }, token: { type: 'string' }, 'min-stake': { type: 'string' },
    'voting-delay': { type: 'string' }, 'voting-period': { type: 'string' }, 'timelock-delay': { type: 'string' },
  },
  async run(values) {
    const rpc = requireString(values, 'rpc', "the chain's JSON-RPC URL")
    const keystore = requireString(values, 'keystore', 'the deployer keystore file')
    if (values.token !== undefined && !/^0x[0-9a-fA-F]{40}$/.test(String(values.token))) throw new UsageError('--token must be an 0x address')
    const minStake = values['min-stake'] === undefined ? undefined : String(values['min-stake'])
    if (minStake !== undefined && !/^\d+(\.\d{1,18})?$/.test(minStake)) throw new UsageError(`--min-stake takes MESH as a decimal number (got ${minStake})`)
    const governance = {
      votingDelay: intOption(values, 'voting-delay', GOVERNANCE_DEFAULTS.votingDelay, 0, 2 ** 47),
      votingPeriod: intOption(values, 'voting-period', GOVERNANCE_DEFAULTS.votingPeriod, 1, 2 ** 31),
      timelockDelay: intOption(values, 'timelock-delay', GOVERNANCE_DEFAULTS.timelockDelay, 0, 365 * 86400),
    }
    const provider = await connectChain(rpc)
    try {
      const { wallet } = await openKeystore(keystore, provider)
      const v = await deployVerifiedMesh({
        signer: wallet,
        governance,
        ...(minStake !== undefined ? { params: { minStake: parseUnits(minStake, 18) } } : {}),
        ...(typeof values.token === 'string' ? { token: values.token } : {}),
      })
      console.log(JSON.stringify({ chainId: Number(v.chainId), ...v.addresses }, null, 2))
      return 0
    } finally {
      provider.destroy()
    }
  },
}
