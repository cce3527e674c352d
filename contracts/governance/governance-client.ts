/**
 * Governance of the mesh's parameters over ethers v6: MeshToken votes (delegate first), proposals
 * to the MeshGovernor that call MeshParameters setters, votes, queueing in the TimelockController,
 * execution. One instance acts as one account.
 *
 *   const gov = await GovernanceClient.connect({ governor, params }, wallet)
 *   const { proposalId } = await gov.proposeParams({ minStake: 200n * 10n ** 18n }, 'raise the minimum stake')
 *   await gov.vote(proposalId, 'for')      // once voting opened
 *   await gov.queue(proposalId)            // once it succeeded
 *   await gov.execute(proposalId)          // once the timelock delay passed
 */
import { Contract, ZeroAddress, getAddress, id, type Provider, type Signer } from 'ethers'
import { ErrorCode, FogmeshError, ValidationError } from '../../protocol/errors.ts'
import { loadArtifact } from '../artifacts.ts'
import { sendWithMargin } from '../gas-margin.ts'
import type { MeshParams } from '../verification/deploy-verification.ts'

export const PROPOSAL_STATES = ['pending', 'active', 'canceled', 'defeated', 'succeeded', 'queued', 'expired', 'executed'] as const
export type ProposalState = (typeof PROPOSAL_STATES)[number]

export const SUPPORT = { against: 0, for: 1, abstain: 2 } as const
export type Support = keyof typeof SUPPORT

/** The MeshParameters setter of each parameter. */
export const PARAM_SETTERS: Record<keyof MeshParams, string> = {
  minStake: 'setMinStake',
  slashFractionBps: 'setSlashFractionBps',
  reporterShareBps: 'setReporterShareBps',
  challengeWindow: 'setChallengeWindow',
  epochLength: 'setEpochLength',
  spotCheckBps: 'setSpotCheckBps',
  quorumMinAgents: 'setQuorumMinAgents',
  capacityFailThreshold: 'setCapacityFailThreshold',
}

export interface Proposal {
  proposalId: bigint
  proposer: string
  targets: string[]
  values: bigint[]
  calldatas: string[]
  description: string
  voteStart: bigint
  voteEnd: bigint
}

export interface ProposalStatus extends Proposal {
  state: ProposalState
  votes: { against: bigint; for: bigint; abstain: bigint }
  /** votes needed (for + abstain) at the snapshot */
  quorum: bigint
  /** when a queued proposal can be executed (seconds; 0 when not queued) */
  eta: bigint
  /** the parameter changes, decoded from the calldata when they are MeshParameters setters */
  changes: Array<{ name: string; value: bigint }>
}

export class GovernanceClient {
  private constructor(
    readonly governor: Contract,
    readonly params: Contract,
    readonly token: Contract,
    readonly account: string,
  ) {}

  /** `signer`: a Signer connected to a provider, or a Provider (read only). */
  static async connect(addresses: { governor: string; params: string }, signer: Signer | Provider): Promise<GovernanceClient> {
    if (!signer.provider) throw new ValidationError('signer', 'a Signer connected to a provider')
    const governor = new Contract(getAddress(addresses.governor), (await loadArtifact('MeshGovernor')).abi, signer)
    const params = new Contract(getAddress(addresses.params), (await loadArtifact('MeshParameters')).abi, signer)
    const token = new Contract((await governor.getFunction('token')()) as string, (await loadArtifact('MeshToken')).abi, signer)
    const account = 'getAddress' in signer ? getAddress(await signer.getAddress()) : ZeroAddress
    return new GovernanceClient(governor, params, token, account)
  }

  /** Votes count once delegated: delegate to yourself to vote with your own tokens. */
  async delegate(to: string = this.account): Promise<{ txHash: string }> {
    const r = await sendWithMargin(this.token, 'delegate', [to])
    return { txHash: r.hash }
  }

  async votingPower(account: string = this.account): Promise<bigint> {
    return BigInt((await this.token.getFunction('getVotes')(account)) as bigint)
  }

  /** A proposal that sets the given parameters. */
  async proposeParams(changes: Partial<MeshParams>, description: string): Promise<{ proposalId: bigint; txHash: string }> {
    const target = await this.params.getAddress()
    const calls = Object.entries(changes).map(([name, value]) => {
      const setter = PARAM_SETTERS[name as keyof MeshParams]
      if (!setter) throw new ValidationError(name, `a parameter (${Object.keys(PARAM_SETTERS).join(', ')})`)
      return { target, data: this.params.interface.encodeFunctionData(setter, [BigInt(value as number | bigint)]) }
    })
    if (calls.length === 0) throw new ValidationError('changes', 'at least one parameter to set')
    return this.propose(calls, description)
  }

  async propose(calls: Array<{ target: string; data: string; value?: bigint }>, description: string): Promise<{ proposalId: bigint; txHash: string }> {
    const targets = calls.map((c) => c.target)
    const values = calls.map((c) => c.value ?? 0n)
    const datas = calls.map((c) => c.data)
    const proposalId = BigInt(
      (await this.governor.getFunction('hashProposal')(targets, values, datas, id(description))) as bigint,
    )
    const r = await sendWithMargin(this.governor, 'propose', [targets, values, datas, description])
    return { proposalId, txHash: r.hash }
  }

  async vote(proposalId: bigint, support: Support, reason = ''): Promise<{ txHash: string }> {
    const r = await sendWithMargin(this.governor, 'castVoteWithReason', [proposalId, SUPPORT[support], reason])
    return { txHash: r.hash }
  }

  async queue(proposalId: bigint): Promise<{ txHash: string; eta: bigint }> {
    const p = await this.proposal(proposalId)
    const r = await sendWithMargin(this.governor, 'queue', [p.targets, p.values, p.calldatas, id(p.description)])
    return { txHash: r.hash, eta: BigInt((await this.governor.getFunction('proposalEta')(proposalId)) as bigint) }
  }

  async execute(proposalId: bigint): Promise<{ txHash: string }> {
    const p = await this.proposal(proposalId)
    const r = await sendWithMargin(this.governor, 'execute', [p.targets, p.values, p.calldatas, id(p.description)])
    return { txHash: r.hash }
  }

  async state(proposalId: bigint): Promise<ProposalState> {
    return PROPOSAL_STATES[Number(await this.governor.getFunction('state')(proposalId))]!
  }

  /** Every proposal made to this governor (from its ProposalCreated events). */
  async proposals(fromBlock = 0): Promise<Proposal[]> {
    const logs = await this.governor.queryFilter(this.governor.filters.ProposalCreated!(), fromBlock)
    return logs.map((log) => {
      const e = this.governor.interface.parseLog(log)!
      return {
        proposalId: BigInt(e.args.proposalId as bigint),
        proposer: e.args.proposer as string,
        targets: [...(e.args.targets as string[])],
        values: [...(e.args[3] as bigint[])].map(BigInt),
        calldatas: [...(e.args.calldatas as string[])],
        description: e.args.description as string,
        voteStart: BigInt(e.args.voteStart as bigint),
        voteEnd: BigInt(e.args.voteEnd as bigint),
      }
    })
  }

  async proposal(proposalId: bigint): Promise<Proposal> {
    const found = (await this.proposals()).find((p) => p.proposalId === proposalId)
    if (!found) throw new FogmeshError(ErrorCode.usage, `no proposal ${proposalId} on governor ${await this.governor.getAddress()}`)
    return found
  }

  async status(proposalId: bigint): Promise<ProposalStatus> {
    const p = await this.proposal(proposalId)
    const [state, votes, eta, snapshot] = await Promise.all([
      this.state(proposalId),
      this.governor.getFunction('proposalVotes')(proposalId) as Promise<[bigint, bigint, bigint]>,
      this.governor.getFunction('proposalEta')(proposalId) as Promise<bigint>,
      this.governor.getFunction('proposalSnapshot')(proposalId) as Promise<bigint>,
    ])
    const now = BigInt((await this.governor.getFunction('clock')()) as bigint)
    // quorum is defined at the snapshot, which must be in the past to be read
    const quorum = BigInt((await this.governor.getFunction('quorum')(snapshot < now ? snapshot : now - 1n)) as bigint)
    const paramsAddress = (await this.params.getAddress()).toLowerCase()
    const changes: ProposalStatus['changes'] = []
    p.calldatas.forEach((data, i) => {
      if (p.targets[i]!.toLowerCase() !== paramsAddress) return
      const parsed = this.params.interface.parseTransaction({ data })
      if (!parsed) return
      const name = Object.entries(PARAM_SETTERS).find(([, s]) => s === parsed.name)?.[0]
      if (name) changes.push({ name, value: BigInt(parsed.args[0] as bigint) })
    })
    return { ...p, state, votes: { against: BigInt(votes[0]), for: BigInt(votes[1]), abstain: BigInt(votes[2]) }, quorum, eta: BigInt(eta), changes }
  }
}
