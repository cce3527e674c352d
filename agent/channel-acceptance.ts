/**
 * Accepting work from requesters that pay: a requester is accepted when it
 * has a funded payment channel to this agent. The assignment carries
 * `payer: {address, channelId, proof}`, where `proof` is the payer wallet's
 * EIP-191 signature over
 *
 *   fogmesh requester key <requesterKey hex>
 *
 * — the EVM key vouching for the ed25519 key that signs assignments (anyone
 * can name someone else's channel; only its payer can sign this). The agent
 * recovers the address from the proof, then reads the channel on chain: its
 * payer is that address, its payee is this agent's wallet, it is not
 * closing or finalized, not expired (by the chain's time), and holds more than it paid out.
 * Verdicts are cached per (requester key, channel) — accepted for
 * `acceptedMs`, refused for `refusedMs` — in a bounded map, so the chain is
 * read once per requester, not per job.
 */
import { verifyMessage } from 'ethers'
import type { ChannelsView } from '../contracts/channels/payment-channels.ts'
import { requesterKeyStatement } from '../protocol/assignment.ts'
import type { Clock } from '../protocol/clock.ts'


export interface ChannelAcceptanceOptions {
  acceptedMs?: number
  refusedMs?: number
  maxEntries?: number
}

interface Verdict {
  reason: string | undefined
  until: number
  pending?: Promise<string | undefined>
}

export class ChannelAcceptance {
  private readonly verdicts = new Map<string, Verdict>()
  private readonly acceptedMs: number
  private readonly refusedMs: number
  private readonly maxEntries: number

  constructor(
    private readonly client: Pick<ChannelsView, 'getChannel' | 'chainTime'>,
    private readonly payee: string,
    private readonly clock: Clock,
    options: ChannelAcceptanceOptions = {},
  ) {
    this.acceptedMs = options.acceptedMs ?? 60_000
    this.refusedMs = options.refusedMs ?? 5_000
    this.maxEntries = options.maxEntries ?? 4096
  }

  /** Undefined when accepted, else why not. */
  async accepts(requesterKey: string, payer: { address: string; channelId: string; proof: string }): Promise<string | undefined> {
    const key = `${requesterKey}:${payer.channelId}:${payer.address.toLowerCase()}`
    const now = this.clock.now()
    const known = this.verdicts.get(key)
    if (known && (known.pending || known.until > now)) return known.pending ?? known.reason
    const pending = this.check(requesterKey, payer).catch((err: unknown) => `cannot read channel ${payer.channelId}: ${(err as Error).message.split('\n')[0]}`)
    if (this.verdicts.size >= this.maxEntries) this.verdicts.delete(this.verdicts.keys().next().value as string)
    const v: Verdict = { reason: undefined, until: 0, pending }
    this.verdicts.set(key, v)
    const reason = await pending
    v.reason = reason
    v.until = this.clock.now() + (reason === undefined ? this.acceptedMs : this.refusedMs)
    delete v.pending
    return reason
  }

  private async check(requesterKey: string, payer: { address: string; channelId: string; proof: string }): Promise<string | undefined> {
    let signer: string
    try {
      signer = verifyMessage(requesterKeyStatement(requesterKey), payer.proof)
    } catch {
      return 'payer proof is not a signature'
    }
    if (signer.toLowerCase() !== payer.address.toLowerCase()) return `payer proof is signed by ${signer}, not ${payer.address}`
    const c = await this.client.getChannel(BigInt(payer.channelId))
    if (c.requester.toLowerCase() !== payer.address.toLowerCase()) return `channel ${payer.channelId} is not ${payer.address}'s`
    if (c.payee.toLowerCase() !== this.payee.toLowerCase()) return `channel ${payer.channelId} pays ${c.payee}, not this agent`
    if (c.finalized || c.closesAt !== 0n) return `channel ${payer.channelId} is closing`
    if (c.expiry <= (await this.client.chainTime())) return `channel ${payer.channelId} expired`
    if (c.deposit <= c.paid) return `channel ${payer.channelId} holds nothing more`
    return undefined
  }
}
