/**
 * Which assignments an agent runs: only signed ones, for this agent, from a
 * requester it accepts, not expired, with the input they were signed with,
 * each nonce once. In this order (cheap refusals first):
 *
 *  1. addressed to this agent (`agent`);
 *  2. from a requester it accepts — its id (sha256 of `requesterKey`, first 20 hex) in
 *     `acceptFrom`, or `acceptFrom: 'any'` (open test meshes), or a requester with a
 *     funded payment channel to this agent (agent/channel-acceptance.ts, checked last: it
 *     reads the chain);
 *  3. signed by that requester's key (protocol/assignment.ts), alone or in a batch — a batch's
 *     signature checked once (`verifiedRoots`, bounded), each assignment's proof every time;
 *  4. `expiresAt` not passed (nor further ahead than `maxTtlMs`), give or take `maxSkewMs`
 *     of clock difference;
 *  5. the input is what was signed: sha256(input) = `inputSha256`; a sealed input is opened
 *     (protocol/seal.ts, from the assignment's `replyKey`) and sha256(salt ‖ input) must be it;
 *  6. a nonce not seen before (agent/nonce-window.ts) — not `attempt`: a replay with a new
 *     attempt number fails the signature, an exact replay fails here.
 *
 * Stream starts and stops are admitted by the same rules (admitStreamControl).
 *
 * A refused assignment runs nothing and gets no answer (an answer would let
 * anyone aim the agent's publishes at any topic); the agent emits `rejected`
 * with the code: `not_accepted`, `bad_signature`, `expired`, `replayed`,
 * `seal_broken`, `invalid_field`.
 */
import { sha256Hex } from '../protocol/sha256.ts'
import type { Clock } from '../protocol/clock.ts'
import { ErrorCode } from '../protocol/errors.ts'
import type { Assign, Offer } from '../protocol/messages.ts'
import { assignmentSignedByItsRequester, requesterIdOf } from '../protocol/assignment.ts'
import { VerifiedRoots } from '../protocol/batch-signature.ts'
import { streamControlSignedByItsRequester } from '../protocol/stream-control.ts'
import type { StreamControl } from '../protocol/streams.ts'
import { jobSealContext as sealContext, SealError, unframeSalted, type Sealer } from '../protocol/seal.ts'
import type { ChannelAcceptance } from './channel-acceptance.ts'
import { NonceWindow } from './nonce-window.ts'
import { NonceJournal } from './nonce-journal.ts'

export type AcceptFrom = 'any' | readonly string[]

export interface AdmissionOptions {
  agentId: string
  acceptFrom: AcceptFrom
  clock: Clock
  /** Nonces kept (until their assignment expires). */
  nonceWindow: number
  /** Where the taken nonces are kept across restarts (agent/nonce-journal.ts); absent: in memory only. */
  nonceFile?: string | undefined
  /** Clock difference tolerated between requester and agent. */
  maxSkewMs: number
  /** Furthest ahead an expiry may lie (what a nonce may cost in memory time). */
  maxTtlMs: number
  /** Opens sealed inputs; absent: sealed jobs are refused. */
  sealer?: Sealer
  /** Requesters with a funded channel to this agent are accepted (an agent that takes payment). */
  channels?: ChannelAcceptance
  /** Batches of assignments whose signature verified, remembered (default VERIFIED_ROOTS_MAX). */
  verifiedRoots?: number
}

/** What the runner needs of a job: an admitted assignment, or a stream's window (agent/streams/). */
export type RunnableJob = Pick<Assign, 'id' | 'attempt' | 'requester' | 'replyTo' | 'module' | 'limits'> &
  Partial<Pick<Assign, 'inputSha256' | 'replyKey' | 'attest' | 'inputBlob' | 'batchResults'>> & { input: Buffer }

/** An assignment fit to run: its input in the clear, and the salt of a sealed job. */
export interface Admitted {
  job: RunnableJob
  requesterId: string
  salt?: Buffer
  /** Admission found sha256(job.input) = job.inputSha256 (the result's inputSha256 is that, not hashed again). */
  inputChecked?: true
}

export type AdmissionVerdict = { ok: true; admitted: Admitted } | { ok: false; code: ErrorCode; reason: string }

const refuse = (code: ErrorCode, reason: string): AdmissionVerdict => ({ ok: false, code, reason })

export class Admission {
  private readonly nonces: NonceWindow
  private readonly listed: ReadonlySet<string>
  /** Assignment batches whose signature verified (bounded). */
  readonly verifiedRoots: VerifiedRoots

  constructor(private readonly o: AdmissionOptions) {
    this.verifiedRoots = new VerifiedRoots(o.verifiedRoots)
    this.nonces = new NonceWindow(o.nonceWindow, o.nonceFile !== undefined ? new NonceJournal(o.nonceFile, o.nonceWindow) : undefined, o.clock.now())
    this.listed = new Set(o.acceptFrom === 'any' ? [] : o.acceptFrom)
  }

  /** What the agent accepts, in words (for its start-up line). */
  describe(): string {
    if (this.o.acceptFrom === 'any') return 'any requester (--accept-from any)'
    const parts = [...this.listed].map((id) => `requester ${id}`)
    if (this.o.channels) parts.push('requesters with a funded channel to it')
    return parts.length ? parts.join(', ') : 'nobody (no --accept-from, no payment channels)'
  }

  /** Whether to bid: the offer's requester is one this agent would take an assignment from. */
  wouldBid(offer: Offer): boolean {
    if (this.o.acceptFrom === 'any') return true
    if (offer.requesterKey === undefined) return false
    if (this.listed.has(requesterIdOf(offer.requesterKey))) return true
    return this.o.channels !== undefined && offer.payer !== undefined
  }

  /**
   * The nonces admitted so far on disk (the OS's): the agent calls it before it runs an admitted job,
   * so a job never runs before its nonce is kept — a burst's nonces still go out in one write.
   */
  commitNonces(): void {
    this.nonces.commit()
  }

  /** Releases the nonce journal's file (an agent closing). */
  close(): void {
    this.nonces.close()
  }

  get stats(): { nonces: number; evicted: number } {
    return { nonces: this.nonces.size, evicted: this.nonces.evicted }
  }

  async admit(raw: Readonly<Record<string, unknown>>, job: Assign): Promise<AdmissionVerdict> {
    const o = this.o
    if (job.agent !== o.agentId) return refuse(ErrorCode.notAccepted, `addressed to agent ${job.agent}, this is ${o.agentId}`)
    const requesterId = requesterIdOf(job.requesterKey)
    const byList = o.acceptFrom === 'any' || this.listed.has(requesterId)
    if (!byList && !(o.channels && job.payer)) return refuse(ErrorCode.notAccepted, `requester ${requesterId} is not accepted here`)
    // `job` is `raw` as assignSchema parsed it (one decode): its batch proof is validated already
    if (!assignmentSignedByItsRequester(raw, this.verifiedRoots, job.batch)) return refuse(ErrorCode.badSignature, `assignment ${job.id}: signature does not verify with requesterKey`)
    const now = o.clock.now()
    if (now > job.expiresAt + o.maxSkewMs) return refuse(ErrorCode.expired, `assignment ${job.id} expired ${now - job.expiresAt} ms ago`)
    if (job.expiresAt > now + o.maxTtlMs + o.maxSkewMs) return refuse(ErrorCode.expired, `assignment ${job.id} expires ${job.expiresAt - now} ms ahead (at most ${o.maxTtlMs})`)
    const opened = this.input(job)
    if ('code' in opened) return opened
    const seen = this.nonces.take(`${requesterId}:${job.nonce}`, job.expiresAt + o.maxSkewMs, now)
    if (seen === 'replayed') return refuse(ErrorCode.replayed, `assignment nonce ${job.nonce} of requester ${requesterId} was taken before`)
    if (seen === 'too-old') return refuse(ErrorCode.expired, `assignment ${job.id}: older than the nonces kept (nonceWindow full)`)
    if (!byList) {
      const why = await o.channels!.accepts(job.requesterKey, job.payer!)
      if (why !== undefined) return refuse(ErrorCode.notAccepted, `requester ${requesterId}: ${why}`)
    }
    const admitted: Admitted = { job: { ...job, input: opened.input }, requesterId }
    if (opened.salt) admitted.salt = opened.salt
    else if (job.input !== undefined) admitted.inputChecked = true // input() compared its hash with inputSha256
    return { ok: true, admitted }
  }

  /** A stream start or stop (protocol/stream-control.ts): admitted by the same rules as an assignment, bar the input. */
  async admitStreamControl(raw: Readonly<Record<string, unknown>>, m: StreamControl): Promise<{ ok: true } | { ok: false; code: ErrorCode; reason: string }> {
    const o = this.o
    const what = m.type === 'start' ? `stream ${m.spec.stream} start` : `stream ${m.stream} stop`
    if (m.agent !== o.agentId) return refuse(ErrorCode.notAccepted, `${what}: addressed to agent ${m.agent}, this is ${o.agentId}`)
    const requesterId = requesterIdOf(m.requesterKey)
    const byList = o.acceptFrom === 'any' || this.listed.has(requesterId)
    if (!byList && !(o.channels && m.payer)) return refuse(ErrorCode.notAccepted, `${what}: requester ${requesterId} is not accepted here`)
    if (!streamControlSignedByItsRequester(raw)) return refuse(ErrorCode.badSignature, `${what}: signature does not verify with requesterKey`)
    const now = o.clock.now()
    if (now > m.expiresAt + o.maxSkewMs) return refuse(ErrorCode.expired, `${what} expired ${now - m.expiresAt} ms ago`)
    if (m.expiresAt > now + o.maxTtlMs + o.maxSkewMs) return refuse(ErrorCode.expired, `${what} expires ${m.expiresAt - now} ms ahead (at most ${o.maxTtlMs})`)
    const seen = this.nonces.take(`${requesterId}:${m.nonce}`, m.expiresAt + o.maxSkewMs, now)
    if (seen === 'replayed') return refuse(ErrorCode.replayed, `${what}: nonce ${m.nonce} of requester ${requesterId} was taken before`)
    if (seen === 'too-old') return refuse(ErrorCode.expired, `${what}: older than the nonces kept (nonceWindow full)`)
    if (!byList) {
      const why = await o.channels!.accepts(m.requesterKey, m.payer!)
      if (why !== undefined) return refuse(ErrorCode.notAccepted, `${what}: requester ${requesterId}: ${why}`)
    }
    this.nonces.commit() // few: on disk before the stream control acts
    return { ok: true }
  }

  private input(job: Assign): { input: Buffer; salt?: Buffer } | { ok: false; code: ErrorCode; reason: string } {
    if (job.inputBlob !== undefined) {
      // fetched and checked against the signed inputSha256 when it runs (agent/assignment-runner.ts)
      if (job.input !== undefined || job.sealedInput !== undefined) return { ok: false, code: ErrorCode.invalidField, reason: 'input: inputBlob and an inline input' }
      return { input: Buffer.alloc(0) }
    }
    if ((job.input === undefined) === (job.sealedInput === undefined)) {
      return { ok: false, code: ErrorCode.invalidField, reason: 'input: exactly one of input and sealedInput' }
    }
    if (job.input !== undefined) {
      if (sha256(job.input) !== job.inputSha256) return { ok: false, code: ErrorCode.badSignature, reason: `assignment ${job.id}: input does not hash to the signed inputSha256` }
      return { input: job.input }
    }
    if (!this.o.sealer) return { ok: false, code: ErrorCode.sealBroken, reason: 'this agent takes no sealed jobs' }
    if (job.replyKey === undefined) return { ok: false, code: ErrorCode.invalidField, reason: 'replyKey: a sealed job needs the requester box key' }
    try {
      const plain = this.o.sealer.open(job.sealedInput!, job.replyKey, sealContext('assign', job.id, this.o.agentId))
      const { salt, data } = unframeSalted(plain)
      if (sha256(plain) !== job.inputSha256) return { ok: false, code: ErrorCode.badSignature, reason: `assignment ${job.id}: sealed input does not match the signed inputSha256` }
      return { input: data, salt }
    } catch (err) {
      return { ok: false, code: ErrorCode.sealBroken, reason: err instanceof SealError ? err.shortMessage : 'sealed input does not open' }
    }
  }
}

const sha256 = sha256Hex
