/**
 * Deploys the mesh with verification and governance: the governed parameters (MeshParameters,
 * owned by a TimelockController), the VerificationCourt as the AgentRegistry's slasher, and the
 * MeshGovernor over MeshToken votes as the timelock's only proposer.
 *
 *   const v = await deployVerifiedMesh({ signer, mint: [...] })
 *   v.addresses   // { token, registry, channels, params, court, governor, timelock }
 *
 * Order: timelock, parameters, court, then deployMesh (token, registry with the court as its
 * slasher, channels), then the court is bound to the registry, then the governor, which gets the
 * proposer and canceller roles; the deployer gives up the timelock's admin role last, so from
 * then on only a passed proposal changes a parameter.
 */
import { ZeroAddress, getAddress, id, parseUnits, type Contract, type Signer } from 'ethers'
import { ValidationError } from '../../protocol/errors.ts'
import { mergeOptions } from '../../protocol/options.ts'
import { deployContract, deployMesh, attach, type DeployOptions, type MeshAddresses, type MeshDeployment } from '../deploy.ts'
import { sendWithMargin } from '../gas-margin.ts'

/** MeshParameters as the contract stores them. */
export interface MeshParams {
  minStake: bigint
  slashFractionBps: number
  reporterShareBps: number
  challengeWindow: number
  epochLength: number
  spotCheckBps: number
  quorumMinAgents: number
  capacityFailThreshold: number
}

export const PARAM_DEFAULTS: MeshParams = {
  minStake: parseUnits('100', 18),
  slashFractionBps: 5000,
  reporterShareBps: 5000,
  challengeWindow: 3600,
  epochLength: 3600,
  spotCheckBps: 500,
  quorumMinAgents: 3,
  capacityFailThreshold: 3,
}

export interface GovernanceSettings {
  /** seconds from proposal to the start of voting */
  votingDelay: number
  /** seconds voting lasts */
  votingPeriod: number
  /** votes needed to propose (token base units) */
  proposalThreshold: bigint
  /** quorum: percent of the token supply (at the proposal's snapshot) that must vote for or abstain */
  quorumPercent: number
  /** seconds between queueing a passed proposal and executing it */
  timelockDelay: number
}

export const GOVERNANCE_DEFAULTS: GovernanceSettings = {
  votingDelay: 60,
  votingPeriod: 24 * 3600,
  proposalThreshold: 0n,
  quorumPercent: 4,
  timelockDelay: 24 * 3600,
}

export interface VerifiedDeployOptions extends Omit<DeployOptions, 'slasher' | 'signer' | 'minStake'> {
  /** a Signer connected to a provider: the deployer */
  signer: Signer
  params?: Partial<MeshParams>
  governance?: Partial<GovernanceSettings>
}

export interface VerifiedAddresses extends MeshAddresses {
  params: string
  court: string
  governor: string
  timelock: string
}

export interface VerifiedDeployment {
  mesh: MeshDeployment
  params: Contract
  court: Contract
  governor: Contract
  timelock: Contract
  addresses: VerifiedAddresses
  chainId: bigint
  settings: { params: MeshParams; governance: GovernanceSettings }
}

export const ROLES = {
  proposer: id('PROPOSER_ROLE'),
  canceller: id('CANCELLER_ROLE'),
  executor: id('EXECUTOR_ROLE'),
  admin: '0x' + '00'.repeat(32),
} as const

export async function deployVerifiedMesh(opts: VerifiedDeployOptions): Promise<VerifiedDeployment> {
  const p = mergeOptions(opts.params, PARAM_DEFAULTS, {
    slashFractionBps: { min: 1, max: 10_000, integer: true },
    reporterShareBps: { min: 0, max: 10_000, integer: true },
    challengeWindow: { min: 60, max: 3 * 86400, integer: true },
    epochLength: { min: 60, max: 30 * 86400, integer: true },
    spotCheckBps: { min: 0, max: 10_000, integer: true },
    quorumMinAgents: { min: 3, max: 16, integer: true },
    capacityFailThreshold: { min: 1, max: 65535, integer: true },
  }, 'params')
  if (p.minStake <= 0n) throw new ValidationError('params.minStake', `a positive token amount (got ${p.minStake})`)
  const g = mergeOptions(opts.governance, GOVERNANCE_DEFAULTS, {
    votingDelay: { min: 0, max: 2 ** 48 - 1, integer: true },
    votingPeriod: { min: 1, max: 2 ** 32 - 1, integer: true },
    quorumPercent: { min: 0, max: 100, integer: true },
    timelockDelay: { min: 0, max: 365 * 86400, integer: true },
  }, 'governance')

  // the registry's own floor stays at one base unit: the governed minimum is what counts
  const { params: _params, governance: _governance, ...meshOpts } = opts
  const signer = opts.signer
  if (!signer.provider) throw new ValidationError('signer', 'a Signer connected to a provider')
  const deployer = await signer.getAddress()
  const timelock = await deployContract('MeshTimelock', signer, [g.timelockDelay, [], [ZeroAddress], deployer])
  const timelockAddress = await timelock.getAddress()
  const params = await deployContract('MeshParameters', signer, [timelockAddress, [
    p.minStake, p.slashFractionBps, p.reporterShareBps, p.challengeWindow, p.epochLength, p.spotCheckBps, p.quorumMinAgents, p.capacityFailThreshold,
  ]])
  const paramsAddress = await params.getAddress()
  const court = await deployContract('VerificationCourt', signer, [paramsAddress])
  const courtAddress = await court.getAddress()
  // minted here, with a gas margin (vote checkpoints: see gas-margin.ts)
  const mesh = await deployMesh({ ...meshOpts, mint: [], signer, minStake: 1n, slasher: courtAddress })
  if (opts.mint?.length && opts.token) throw new ValidationError('deploy.mint', 'no mint with an existing token (only a MeshToken deployed here mints)')
  for (const { to, amount } of opts.mint ?? []) await sendWithMargin(mesh.token, 'mint', [to, amount])
  await sendWithMargin(court, 'bindRegistry', [mesh.addresses.registry])
  const governor = await deployContract('MeshGovernor', signer, [
    mesh.addresses.token, timelockAddress, g.votingDelay, g.votingPeriod, g.proposalThreshold, g.quorumPercent,
  ])
  const governorAddress = await governor.getAddress()
  await sendWithMargin(timelock, 'grantRole', [ROLES.proposer, governorAddress])
  await sendWithMargin(timelock, 'grantRole', [ROLES.canceller, governorAddress])
  await sendWithMargin(timelock, 'renounceRole', [ROLES.admin, deployer])
  return {
    mesh,
    params,
    court,
    governor,
    timelock,
    addresses: { ...mesh.addresses, params: paramsAddress, court: courtAddress, governor: governorAddress, timelock: timelockAddress },
    chainId: mesh.chainId,
    settings: { params: p, governance: g },
  }
}

/** The verification and governance contracts of an existing deployment. */
export async function attachVerification(addresses: Pick<VerifiedAddresses, 'params' | 'court' | 'governor' | 'timelock'>, runner: Parameters<typeof attach>[2]) {
  return {
    params: await attach('MeshParameters', getAddress(addresses.params), runner),
    court: await attach('VerificationCourt', getAddress(addresses.court), runner),
    governor: await attach('MeshGovernor', getAddress(addresses.governor), runner),
    timelock: await attach('MeshTimelock', getAddress(addresses.timelock), runner),
  }
}
