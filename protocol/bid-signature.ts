/**
 * Signed bids: an agent's price, load, slots and lease for one offer, signed
 * by its key (a `bid` statement, protocol/signed-statement.ts). A requester
 * counts a bid only when it verifies with the key of the agent it names, so
 * nobody can bid in an honest agent's name (a lower price, more slots, a
 * longer lease) to steer jobs to it or away from it. The offer id is random
 * per auction: a bid does not carry over to another.
 */
import type { Bid } from './messages.ts'
import { signed, verifyStatement } from './signed-statement.ts'
import type { Signer } from './signature.ts'

export function signBid(bid: Omit<Bid, 'signature'>, signer: Signer): Bid {
  return signed('bid', bid, signer)
}

export function bidSignedBy(raw: Readonly<Record<string, unknown>>, publicKeyHex: string): boolean {
  return verifyStatement('bid', raw, publicKeyHex)
}
