/**
 * The compiled contracts (contracts/artifacts/<Name>.json, written by contracts/compile.js).
 * `loadArtifact` compiles first when the artifacts are missing or out of date (a fresh checkout
 * without the postinstall step); when they are up to date that check costs a few file reads.
 */
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { InterfaceAbi } from 'ethers'
import { ErrorCode, FogmeshError } from '../protocol/errors.ts'
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
  | 'Ed25519Verifier'

export interface Artifact {
  contractName: ContractName
  sourceName: string
  abi: InterfaceAbi
  bytecode: string
  deployedBytecode: string
}

let ensured: Promise<unknown> | null = null
const cache = new Map<ContractName, Artifact>()

/**
 * Compiles when out of date (once per process). compile.js is plain JavaScript (npm's postinstall
 * runs it without tsx) and throws plain Errors: they enter the error tree here.
 */
export function ensureArtifacts(): Promise<unknown> {
  ensured ??= compileContracts({ quiet: true }).catch((e: unknown) => {
    const [first, ...rest] = (e instanceof Error ? e.message : String(e)).split('\n')
    throw new FogmeshError(ErrorCode.internal, first ?? 'contracts: compile failed', { details: rest.join('\n') || undefined, cause: e })
  })
  return ensured
}

export async function loadArtifact(name: ContractName): Promise<Artifact> {
  const hit = cache.get(name)
  if (hit) return hit
  await ensureArtifacts()
  let artifact: Artifact
  try {
    artifact = JSON.parse(readFileSync(join(ARTIFACTS_DIR, `${name}.json`), 'utf8')) as Artifact
  } catch (e) {
    throw new FogmeshError(ErrorCode.internal, `contracts: no artifact for ${name}`, { details: (e as Error).message, cause: e })
  }
  cache.set(name, artifact)
  return artifact
}
