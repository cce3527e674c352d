/**
 * Stake in the market: which agents a requester may assign, read from the chain.
 *
 * An agent claims a stake in its presence (`stake`: chain, court, registry account, attester).
 * The filter checks the claim on chain (`VerificationCourt.standing`: the account's registered
 * mesh key must be the agent's ed25519 key, its bound attester the one claimed) and caches the
 * standing. It is admitted when the standing is eligible (registered, not unbonding, staked at
 * least the governed minimum, never convicted) and its stake covers the job's
 * `constraints.minStake`. Agents without a verified claim are not admitted.
 *
 * Refreshed on events: every `pollMs` it reads the logs of the court, the registry and the
 * parameters since the last poll; an account named in one is read again, a parameter change
 * re-reads the parameters and every account. So a slashed, unbonding or newly staked agent, or a
 * new minimum stake, reaches the market within one poll. At most `maxAccounts` are cached.
 */
import { EventEmitter } from 'node:events'
import { getAddress, ZeroAddress, type Log } from 'ethers'
import type { CourtClient, Standing } from '../contracts/verification/court-client.ts'
import type { MeshParams } from '../contracts/verification/deploy-verification.ts'
import type { StakeClaim } from '../protocol/messages.ts'
import { mergeOptions, type Ranges } from '../protocol/options.ts'
import type { AgentDirectory } from './directory.ts'
import type { JobRequest } from './job.ts'

export interface StakeFilterOptions {
  /** How often to read new chain logs, ms (default 2000). */
  pollMs?: number
  /** Accounts cached (default 100,000). */
  maxAccounts?: number
  /** How long `ready` waits for standings being read, ms (default 3000). */
  readyTimeoutMs?: number
}

const DEFAULTS = { pollMs: 2000, maxAccounts: 100_000, readyTimeoutMs: 3000 }
const RANGES: Ranges<StakeFilterOptions> = {
  pollMs: { min: 10, max: 3_600_000, integer: true },
  maxAccounts: { min: 1, max: 10_000_000, integer: true },
  readyTimeoutMs: { min: 0, max: 600_000, integer: true },
}

export interface AgentStake extends Standing {
  account: string
  /** The claim matched the chain (mesh key and attester). */
  verified: boolean
}

export interface StakeFilterEvents {
  /** An agent's standing as read from the chain. */
  standing: [{ agent: string; stake: AgentStake }]
  params: [MeshParams]
  /** Reading the chain failed (the cache stays as it was). */
  chainError: [{ message: string }]
  evicted: [{ account: string }]
}

export class StakeFilter extends EventEmitter<StakeFilterEvents> {
  private readonly opts: typeof DEFAULTS
  private readonly byAccount = new Map<string, Standing>()
  private readonly reading = new Map<string, Promise<void>>()
  private params_: MeshParams | undefined
  private lastBlock = -1
  private timer: NodeJS.Timeout | undefined
  private watched: string[] = []

  constructor(readonly court: CourtClient, private readonly directory: AgentDirectory, options: StakeFilterOptions = {}) {
    super()
    this.opts = mergeOptions(options, DEFAULTS, RANGES, 'stake')
  }

  async start(): Promise<void> {
    this.watched = [this.court.address, await this.court.registryAddress(), await this.court.params.getAddress()]
    this.lastBlock = await this.court.provider.getBlockNumber()
    await this.readParams()
    this.directory.on('online', (a) => {
      if (a.presence.stake) void this.read(a.presence.stake.account)
    })
    for (const a of this.directory.list('online')) if (a.presence.stake) void this.read(a.presence.stake.account)
    this.timer = setInterval(() => void this.poll(), this.opts.pollMs)
    this.timer.unref()
  }

  stop(): void {
    clearInterval(this.timer)
  }

  get params(): MeshParams | undefined {
    return this.params_
  }

  /** The verified stake of an online agent, from the cache (undefined: no claim, or not read yet). */
  stakeOf(agentId: string): AgentStake | undefined {
    const claim = this.claimOf(agentId)
    if (!claim) return undefined
    const s = this.byAccount.get(getAddress(claim.account))
    if (!s) return undefined
    return { ...s, account: getAddress(claim.account), verified: this.matches(agentId, claim, s) }
  }

  /** Whether the agent may run `job` here: a verified, eligible stake covering the job's minStake. */
  admits(agentId: string, job: Pick<JobRequest, 'constraints'>): boolean {
    const s = this.stakeOf(agentId)
    if (!s || !s.verified || !s.eligible) return false
    const min = job.constraints?.minStake
    return min === undefined || s.stake >= BigInt(min)
  }

  /** Waits (up to readyTimeoutMs) until every online agent's claimed account has been read once. */
  async ready(): Promise<void> {
    const pending: Promise<void>[] = []
    for (const a of this.directory.list('online')) {
      const c = a.presence.stake
      if (c && !this.byAccount.has(getAddress(c.account))) pending.push(this.read(c.account))
    }
    if (pending.length === 0) return
    let timer: NodeJS.Timeout | undefined
    await Promise.race([Promise.allSettled(pending), new Promise<void>((r) => (timer = setTimeout(r, this.opts.readyTimeoutMs)))])
    clearTimeout(timer)
  }

  /** Reads the parameters and every cached account again, and the logs since the last poll. */
  async refresh(): Promise<void> {
    await this.poll()
    await this.readParams()
    await Promise.allSettled([...this.byAccount.keys()].map((a) => this.read(a, true)))
  }

  private claimOf(agentId: string): StakeClaim | undefined {
    const claim = this.directory.get(agentId)?.presence.stake
    if (!claim || BigInt(claim.chainId) !== this.court.chainId || getAddress(claim.court) !== this.court.address) return undefined
    return claim
  }

  private matches(agentId: string, claim: StakeClaim, s: Standing): boolean {
    const p = this.directory.get(agentId)?.presence
    return !!p && s.meshKey.toLowerCase() === `0x${p.publicKey}` && s.attester !== ZeroAddress && getAddress(s.attester) === getAddress(claim.attester)
  }

  private read(account: string, force = false): Promise<void> {
    const key = getAddress(account)
    const inFlight = this.reading.get(key)
    if (inFlight && !force) return inFlight
    const p = this.court
      .standing(key)
      .then((s) => {
        this.byAccount.delete(key)
        this.byAccount.set(key, s)
        while (this.byAccount.size > this.opts.maxAccounts) {
          const oldest = this.byAccount.keys().next().value!
          this.byAccount.delete(oldest)
          this.emit('evicted', { account: oldest })
        }
        for (const a of this.directory.list('online')) {
          if (a.presence.stake && getAddress(a.presence.stake.account) === key) this.emit('standing', { agent: a.presence.id, stake: this.stakeOf(a.presence.id)! })
        }
      })
      .catch((err: unknown) => {
        this.emit('chainError', { message: (err as Error).message.split('\n')[0] ?? 'error' })
      })
      .finally(() => this.reading.delete(key))
    this.reading.set(key, p)
    return p
  }

  private async readParams(): Promise<void> {
    try {
      this.params_ = await this.court.meshParams()
      this.emit('params', this.params_)
    } catch (err) {
      this.emit('chainError', { message: (err as Error).message.split('\n')[0] ?? 'error' })
    }
  }

  private polling: Promise<void> | undefined
  private poll(): Promise<void> {
    this.polling ??= this.pollOnce().finally(() => (this.polling = undefined))
    return this.polling
  }

  private async pollOnce(): Promise<void> {
    let logs: Log[]
    let head: number
    try {
      head = await this.court.provider.getBlockNumber()
      if (head <= this.lastBlock) return
      logs = await this.court.provider.getLogs({ address: this.watched, fromBlock: this.lastBlock + 1, toBlock: head })
    } catch (err) {
      this.emit('chainError', { message: (err as Error).message.split('\n')[0] ?? 'error' })
      return
    }
    this.lastBlock = head
    const params = this.watched[2]!.toLowerCase()
    const accounts = new Set<string>()
    let paramsChanged = false
    for (const log of logs) {
      if (log.address.toLowerCase() === params) paramsChanged = true
      // the registry's and court's events about an account name it first (others decode to addresses nobody claims)
      else if (log.topics[1]) accounts.add(getAddress(`0x${log.topics[1].slice(26)}`))
    }
    if (paramsChanged) {
      await this.readParams()
      await Promise.allSettled([...this.byAccount.keys()].map((a) => this.read(a, true)))
      return
    }
    await Promise.allSettled([...accounts].filter((a) => this.byAccount.has(a) || this.isClaimed(a)).map((a) => this.read(a, true)))
  }

  private isClaimed(account: string): boolean {
    return this.directory.list('online').some((a) => a.presence.stake && getAddress(a.presence.stake.account) === account)
  }
}
