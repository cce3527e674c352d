/**
 * The chain side of staked admission: AgentRegistry read over JSON-RPC, no
 * signer (the broker only reads). Implements `StakeRegistry` (admission.ts).
 */
import { Contract, getAddress, JsonRpcProvider, ZeroAddress } from 'ethers'
import { loadArtifact } from '../../contracts/artifacts.ts'
import { ErrorCode, FogmeshError } from '../../protocol/errors.ts'
import type { StakeRegistry } from './admission.ts'

export interface RegistryReader extends StakeRegistry {
  readonly address: string
  /** The registry's `minStake`, in token base units. */
  minStake(): Promise<bigint>
  close(): void
}

export async function connectRegistryReader(rpc: string, registryAddress: string): Promise<RegistryReader> {
  let address: string
  try {
    address = getAddress(registryAddress)
  } catch {
    throw new FogmeshError(ErrorCode.usage, `registry address ${registryAddress} is not an address`)
  }
  const provider = new JsonRpcProvider(rpc, undefined, { staticNetwork: true })
  const contract = new Contract(address, (await loadArtifact('AgentRegistry')).abi, provider)
  const call = async <T>(name: string, ...args: unknown[]): Promise<T> => (await contract.getFunction(name)(...args)) as T
  try {
    if ((await provider.getCode(address)) === '0x') throw new Error(`no contract at ${address}`)
    await call<bigint>('minStake')
  } catch (err) {
    provider.destroy()
    throw new FogmeshError(ErrorCode.usage, `cannot read AgentRegistry at ${address} over ${rpc}: ${(err as Error).message.split('\n')[0]}`, { cause: err })
  }
  return {
    address,
    async activeAgentOf(meshKey) {
      const a = await call<string>('activeAgentOf', meshKey)
      return a === ZeroAddress ? null : a
    },
    minStake: () => call<bigint>('minStake'),
    close: () => provider.destroy(),
  }
}
