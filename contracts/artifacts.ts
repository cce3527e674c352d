/**
 * The compiled contracts (contracts/artifacts/<Name>.json, written by contracts/compile.js).
 * `loadArtifact` compiles first when the artifacts are missing or out of date (a fresh checkout
 * without the postinstall step); when they are up to date that check costs a few file reads.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { InterfaceAbi } from 'ethers'
import { ARTIFACTS_DIR, compileContracts } from './compile.js'

export type ContractName =
  | 'MeshToken'
  | 'AgentRegistry'
  | 'PaymentChannels'
  | 'Disperse'
  | 'HostileToken'
  | 'CompactSigChannels'
  | 'MeshParameters'
  | 'VerificationCourt'
  | 'MeshGovernor'
  | 'MeshTimelock'

export interface Artifact {
  contractName: ContractName
  sourceName: string
  abi: InterfaceAbi
  bytecode: string
  deployedBytecode: string
}

let ensured: Promise<unknown> | null = null
const cache = new Map<ContractName, Artifact>()

/** Compiles when out of date (once per process). */
export function ensureArtifacts(): Promise<unknown> {
  ensured ??= compileContracts({ quiet: true })
  return ensured
}

export async function loadArtifact(name: ContractName): Promise<Artifact> {
  const hit = cache.get(name)
  if (hit) return hit
  await ensureArtifacts()
  const artifact = JSON.parse(readFileSync(join(ARTIFACTS_DIR, `${name}.json`), 'utf8')) as Artifact
  cache.set(name, artifact)
  return artifact
}
