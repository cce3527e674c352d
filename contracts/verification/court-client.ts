/**
 * The VerificationCourt over ethers v6: standing of accounts, the governed parameters, attester
 * binding, evidence cases and capacity epochs. One instance acts as one account (its signer).
 */
import { Contract, ZeroAddress, getAddress, type ContractTransactionReceipt, type Provider, type Signer } from 'ethers'
import { ValidationError } from '../../protocol/errors.ts'
import { StatementHasher, type Attester, type CompactSignature, type Statement } from '../../protocol/statement.ts'
import { loadArtifact } from '../artifacts.ts'
import { sendWithMargin } from '../gas-margin.ts'
import type { MeshParams } from './deploy-verification.ts'

export interface Standing {
  /** the ed25519 mesh key the account registered (0x + 64 hex; ZeroHash: not registered) */
  meshKey: string
  stake: bigint
  /** the governed minimum (or the registry's floor when that is higher) */
  minStake: bigint
  registered: boolean
  unbonding: boolean
  convictions: number
  /** the attester the account signs with now (ZeroAddress: none) */
  attester: string
  eligible: boolean
}

/** A statement with its signature, as `accuse` takes it (the job is the case's). */
export interface Vote extends CompactSignature {
  outcome: number
  output: string
  fuel: number
}

export interface CaseRecord {
  reporter: string
  closesAt: bigint
  resolved: boolean
  classes: number
  statements: number
  topCount: number
  tie: boolean
  top: string
  winner: string
}

export interface CapacityProof {
  challenger: string
  reports: bigint[]
  index: number
}

export interface Sent {
  txHash: string
  gasUsed: bigint
  receipt: ContractTransactionReceipt
}

export class CourtClient {
  readonly contract: Contract
  readonly params: Contract
  readonly address: string
  readonly account: string
  readonly chainId: bigint
  readonly hasher: StatementHasher

  private constructor(contract: Contract, params: Contract, address: string, account: string, chainId: bigint) {
    this.contract = contract
    this.params = params
    this.address = address
    this.account = account
    this.chainId = chainId
    this.hasher = StatementHasher.for(chainId, address)
  }

  /** `runner`: a Signer connected to a provider (to send), or a Provider (read only: `account` is the zero address). */
  static async connect(courtAddress: string, runner: Signer | Provider): Promise<CourtClient> {
    const signer = 'getAddress' in runner ? runner : undefined
    const provider = signer ? signer.provider : (runner as Provider)
    if (!provider) throw new ValidationError('signer', 'a Signer connected to a provider')
    const address = getAddress(courtAddress)
    const contract = new Contract(address, (await loadArtifact('VerificationCourt')).abi, runner)
    const [paramsAddress, account, network] = await Promise.all([
      contract.getFunction('params')() as Promise<string>,
      signer ? signer.getAddress() : Promise.resolve(ZeroAddress),
      provider.getNetwork(),
    ])
    const params = new Contract(paramsAddress, (await loadArtifact('MeshParameters')).abi, runner)
    return new CourtClient(contract, params, address, getAddress(account), network.chainId)
  }

  get provider(): Provider {
    return this.contract.runner!.provider!
  }

  async registryAddress(): Promise<string> {
    return (await this.contract.getFunction('registry')()) as string
  }

  async standing(account: string): Promise<Standing> {
    const s = (await this.contract.getFunction('standing')(account)).toObject() as Record<string, unknown>
    return {
      meshKey: s.meshKey as string,
      stake: BigInt(s.stake as bigint),
      minStake: BigInt(s.minStake as bigint),
      registered: s.registered as boolean,
      unbonding: s.unbonding as boolean,
      convictions: Number(s.convictions),
      attester: s.attester as string,
      eligible: s.eligible as boolean,
    }
  }

  async isEligible(account: string): Promise<boolean> {
    return (await this.contract.getFunction('isEligible')(account)) as boolean
  }

  async meshParams(): Promise<MeshParams> {
    const p = (await this.params.getFunction('get')()).toObject() as Record<string, unknown>
    return {
      minStake: BigInt(p.minStake as bigint),
      slashFractionBps: Number(p.slashFractionBps),
      reporterShareBps: Number(p.reporterShareBps),
      challengeWindow: Number(p.challengeWindow),
      epochLength: Number(p.epochLength),
      spotCheckBps: Number(p.spotCheckBps),
      quorumMinAgents: Number(p.quorumMinAgents),
      capacityFailThreshold: Number(p.capacityFailThreshold),
    }
  }

  async bindAttester(attester: Attester): Promise<Sent> {
    const proof = attester.bindingProof(this.hasher, this.account)
    return this.send('bindAttester', [attester.address, proof.r, proof.vs])
  }

  /** A vote for `accuse`: the statement's fields and its compact signature. */
  static vote(s: Statement, sig: CompactSignature): Vote {
    return { outcome: s.outcome, output: s.output, fuel: s.fuel, r: sig.r, vs: sig.vs }
  }

  accuse(job: string, votes: Vote[]): Promise<Sent> {
    return this.send('accuse', [job, votes.map(voteTuple)])
  }

  resolve(job: string, losers: string[]): Promise<Sent> {
    return this.send('resolve', [job, losers])
  }

  punish(job: string, losers: string[]): Promise<Sent> {
    return this.send('punish', [job, losers])
  }

  convictSelfContradiction(job: string, a: Vote, b: Vote): Promise<Sent> {
    return this.send('convictSelfContradiction', [job, voteTuple(a), voteTuple(b)])
  }

  async caseOf(job: string): Promise<CaseRecord> {
    const c = (await this.contract.getFunction('caseOf')(job)).toObject() as Record<string, unknown>
    return {
      reporter: c.reporter as string,
      closesAt: BigInt(c.closesAt as bigint),
      resolved: c.resolved as boolean,
      classes: Number(c.classes),
      statements: Number(c.statements),
      topCount: Number(c.topCount),
      tie: c.tie as boolean,
      top: c.top as string,
      winner: c.winner as string,
    }
  }

  async currentEpoch(): Promise<bigint> {
    return BigInt((await this.contract.getFunction('currentEpoch')()) as bigint)
  }

  commitCapacity(epoch: bigint, reports: bigint[]): Promise<Sent> {
    return this.send('commitCapacity', [epoch, reports])
  }

  slashCapacity(agent: string, epoch: bigint, proofs: CapacityProof[]): Promise<Sent> {
    return this.send('slashCapacity', [agent, epoch, proofs.map((p) => [p.challenger, p.reports, p.index])])
  }

  private async send(method: string, args: unknown[]): Promise<Sent> {
    const receipt = await sendWithMargin(this.contract, method, args)
    return { txHash: receipt.hash, gasUsed: receipt.gasUsed, receipt }
  }
}

function voteTuple(v: Vote): [number, string, number, string, string] {
  return [v.outcome, v.output, v.fuel, v.r, v.vs]
}

/** A capacity report as the court packs it: agent << 96 | passed << 48 | failed. */
export function packReport(agent: string, passed: number, failed: number): bigint {
  return (BigInt(getAddress(agent)) << 96n) | (BigInt(passed) << 48n) | BigInt(failed)
}

export function unpackReport(r: bigint): { agent: string; passed: number; failed: number } {
  const mask = (1n << 48n) - 1n
  return { agent: getAddress(`0x${(r >> 96n).toString(16).padStart(40, '0')}`), passed: Number((r >> 48n) & mask), failed: Number(r & mask) }
}
