/**
 * Deploys fogmesh's contracts with ethers v6: the token (MeshToken, unless an existing ERC-20 is
 * given), the AgentRegistry and the PaymentChannels, in that order, from one signer.
 *
 *   const mesh = await deployMesh({ rpc: node.rpc, signer: node.accounts[0] })
 *   mesh.addresses   // { token, registry, channels }
 *
 * `signer` is a connected ethers Signer or a private key (then `rpc` or `provider` says where).
 */
import {
  Contract,
  ContractFactory,
  JsonRpcProvider,
  Network,
  Wallet,
  getAddress,
  parseUnits,
  type ContractRunner,
  type Provider,
  type Signer,
} from 'ethers'
import { ValidationError } from '../protocol/errors.ts'
import { mergeOptions } from '../protocol/options.ts'
import { loadArtifact, type ContractName } from './artifacts.ts'
import { toChainError } from './chain-errors.ts'
import { rpcCall } from './rpc-call.ts'
import { confirm } from './tx.ts'
import { sendWithMargin } from './gas-margin.ts'

export interface DeployOptions {
  rpc?: string
  provider?: Provider
  /** a connected Signer, or a private key */
  signer: Signer | string
  /** an existing ERC-20 to use instead of deploying MeshToken */
  token?: string
  /** PaymentChannels: seconds between startClose and the end of the challenge window (default 3600) */
  challengePeriod?: number
  /** AgentRegistry: minimum stake in token units (default 100 tokens of 18 decimals) */
  minStake?: bigint
  /** AgentRegistry: seconds between requestUnbond and withdraw (default 7 days) */
  unbondingDelay?: number
  /** AgentRegistry: the one address allowed to slash (default: the deployer) */
  slasher?: string
  /** MeshToken only: mint these amounts after deployment */
  mint?: Array<{ to: string; amount: bigint }>
}

export interface MeshAddresses {
  token: string
  registry: string
  channels: string
}

export interface MeshDeployment {
  token: Contract
  registry: Contract
  channels: Contract
  addresses: MeshAddresses
  chainId: bigint
  deployer: string
  signer: Signer
  provider: Provider
  settings: { challengePeriod: number; minStake: bigint; unbondingDelay: number; slasher: string }
}

/** The contracts' settings when the deployment does not say. */
export const DEPLOY_DEFAULTS = {
  challengePeriod: 3600,
  minStake: parseUnits('100', 18),
  unbondingDelay: 7 * 24 * 3600,
}

const UINT48_MAX = 2 ** 48 - 1

/**
 * A JSON-RPC provider for one fixed chain: the chain id is asked once; no request batching
 * (no 10 ms batch stall per call) and no response cache (tests move the clock).
 */
export async function connectRpc(rpc: string): Promise<JsonRpcProvider> {
  const chainId = BigInt(await rpcCall<string>(rpc, 'eth_chainId', [], 10_000))
  return new JsonRpcProvider(rpc, Network.from(chainId), {
    staticNetwork: true,
    batchMaxCount: 1,
    cacheTimeout: -1,
    pollingInterval: 100,
  })
}

/** Deploys one compiled contract and waits until it is mined. */
export async function deployContract(name: ContractName, signer: Signer, args: unknown[] = []): Promise<Contract> {
  const artifact = await loadArtifact(name)
  const factory = new ContractFactory(artifact.abi, artifact.bytecode, signer)
  const what = `deploy ${name}`
  try {
    const contract = await factory.deploy(...args)
    const tx = contract.deploymentTransaction()
    if (tx) await confirm(tx, undefined, { iface: factory.interface })
    await contract.waitForDeployment() // the code is there now: returns at once
    return contract as Contract
  } catch (e) {
    throw toChainError(e, what, { iface: factory.interface })
  }
}

/** A contract at `address` with the ABI of the compiled `name`. */
export async function attach(name: ContractName, address: string, runner: ContractRunner): Promise<Contract> {
  return new Contract(address, (await loadArtifact(name)).abi, runner)
}

async function resolveSigner(opts: DeployOptions): Promise<{ signer: Signer; provider: Provider }> {
  if (typeof opts.signer !== 'string') {
    const provider = opts.signer.provider ?? opts.provider
    if (!provider) throw new ValidationError('signer', 'a Signer connected to a provider, or rpc or provider given')
    return { signer: opts.signer.provider ? opts.signer : opts.signer.connect(provider), provider }
  }
  const provider = opts.provider ?? (opts.rpc ? await connectRpc(opts.rpc) : null)
  if (!provider) throw new ValidationError('rpc', 'an RPC URL (or a provider) with a private key')
  return { signer: new Wallet(opts.signer, provider), provider }
}

export async function deployMesh(opts: DeployOptions): Promise<MeshDeployment> {
  const { signer, provider } = await resolveSigner(opts)
  const deployer = await signer.getAddress()
  const { chainId } = await provider.getNetwork()
  const merged = mergeOptions(opts, DEPLOY_DEFAULTS, {
    challengePeriod: { min: 1, max: UINT48_MAX, integer: true },
    unbondingDelay: { min: 0, max: UINT48_MAX, integer: true },
  }, 'deploy')
  if (merged.minStake < 0n) throw new ValidationError('deploy.minStake', `a token amount of 0 or more (got ${merged.minStake})`)
  const settings = {
    challengePeriod: merged.challengePeriod,
    minStake: merged.minStake,
    unbondingDelay: merged.unbondingDelay,
    slasher: getAddress(merged.slasher ?? deployer),
  }

  let token: Contract
  if (opts.token) {
    if (opts.mint?.length) throw new ValidationError('deploy.mint', 'no mint with an existing token (only a MeshToken deployed here mints)')
    token = await attach('MeshToken', opts.token, signer) // ERC-20 part of the ABI only
  } else {
    token = await deployContract('MeshToken', signer, [deployer])
    for (const { to, amount } of opts.mint ?? []) {
      try {
        // MeshToken is ERC20Votes: a mint's gas depends on the clock (gas-margin.ts)
        await sendWithMargin(token, 'mint', [to, amount])
      } catch (e) {
        throw toChainError(e, 'mint', { iface: token.interface })
      }
    }
  }
  const tokenAddress = await token.getAddress()
  const registry = await deployContract('AgentRegistry', signer, [
    tokenAddress,
    settings.minStake,
    settings.unbondingDelay,
    settings.slasher,
  ])
  const channels = await deployContract('PaymentChannels', signer, [tokenAddress, settings.challengePeriod])
  const addresses = {
    token: tokenAddress,
    registry: await registry.getAddress(),
    channels: await channels.getAddress(),
  }
  return { token, registry, channels, addresses, chainId, deployer, signer, provider, settings }
}

/** The three contracts of an existing deployment. */
export async function attachMesh(
  addresses: MeshAddresses,
  runner: ContractRunner,
): Promise<{ token: Contract; registry: Contract; channels: Contract }> {
  return {
    token: await attach('MeshToken', addresses.token, runner),
    registry: await attach('AgentRegistry', addresses.registry, runner),
    channels: await attach('PaymentChannels', addresses.channels, runner),
  }
}
