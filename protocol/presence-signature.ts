/**
 * Signed presence (after Sparkplug's birth/death sequence): what an agent
 * says about itself, and the one rule every watcher judges it by.
 *
 * Each connection is an *epoch* (a number that only grows: the agent's ms
 * clock, kept above the last one in its data dir). Within an epoch the
 * agent's presences carry a growing `seq`, its heartbeats their own growing
 * `seq`. Every statement is signed by the agent's key (protocol/signed-statement.ts):
 *
 *   online    `presence` statement, fields as in protocol/messages.ts, with epoch and seq;
 *   offline   `presence` statement `{status:"offline", id, name, reason, epoch, publicKey}`:
 *             `lost` is the last will, signed at connect for that connection's epoch
 *             (the broker releases it only when the connection dies); `stopped` is a clean leave;
 *   beat      `heartbeat` statement `{id, epoch, seq, load}`.
 *
 * A watcher keeps, per agent, the newest (epoch, seq) it believed and whether
 * that epoch ended, and believes a statement only if it is signed by the key
 * the id derives from and is newer:
 *
 *   online    a later epoch; or the same epoch, not ended, a higher seq;
 *   offline   a later epoch; or the same epoch, not ended (it ends it);
 *   beat      the current epoch, not ended, a higher beat seq.
 *
 * Everything else — an empty retained payload, an unsigned or forged
 * `{"status":"offline"}`, a replay of an older epoch's presence or will, a
 * forged beat — changes nothing. A will that arrives late (the broker noticed
 * a dead socket after the agent reconnected) is an older epoch: ignored.
 */
import { agentIdFromPublicKey } from './agent-id.ts'
import type { Heartbeat, Load, PresenceOffline, PresenceOnline } from './messages.ts'
import { signed, verifyStatement } from './signed-statement.ts'
import type { Signer } from './signature.ts'

/** What a watcher remembers of an agent's statements. */
export interface PresenceMark {
  epoch: number
  seq: number
  /** The epoch was ended by a believed offline statement. */
  ended: boolean
  /** The highest heartbeat seq believed in this epoch (-1: none yet). */
  beatSeq: number
}

export type Verdict = 'accept' | 'stale'

export function judgeOnline(mark: PresenceMark | undefined, p: Pick<PresenceOnline, 'epoch' | 'seq'>): Verdict {
  if (!mark || p.epoch > mark.epoch) return 'accept'
  return p.epoch === mark.epoch && !mark.ended && p.seq > mark.seq ? 'accept' : 'stale'
}

export function judgeOffline(mark: PresenceMark | undefined, p: Pick<PresenceOffline, 'epoch'>): Verdict {
  if (!mark || p.epoch > mark.epoch) return 'accept'
  return p.epoch === mark.epoch && !mark.ended ? 'accept' : 'stale'
}

export function judgeBeat(mark: PresenceMark | undefined, h: Pick<Heartbeat, 'epoch' | 'seq'>): Verdict {
  return mark && !mark.ended && h.epoch === mark.epoch && h.seq > mark.beatSeq ? 'accept' : 'stale'
}

/** The mark after a believed statement. */
export function markAfter(mark: PresenceMark | undefined, s: { status: 'online' | 'offline'; epoch: number; seq?: number }): PresenceMark {
  const sameEpoch = mark !== undefined && mark.epoch === s.epoch
  return {
    epoch: s.epoch,
    seq: s.status === 'online' ? (s.seq ?? 0) : sameEpoch ? mark.seq : 0,
    ended: s.status === 'offline',
    beatSeq: sameEpoch ? mark.beatSeq : -1,
  }
}

/** Whether `raw` (a presence as received: online or offline) is signed by the key it names, and that key is its id's. */
export function presenceSignedByItsAgent(raw: Readonly<Record<string, unknown>>): boolean {
  const key = raw.publicKey
  if (typeof key !== 'string' || typeof raw.id !== 'string' || agentIdFromPublicKey(key) !== raw.id) return false
  return verifyStatement('presence', raw, key)
}

export function heartbeatSignedBy(raw: Readonly<Record<string, unknown>>, publicKeyHex: string): boolean {
  return verifyStatement('heartbeat', raw, publicKeyHex)
}

export function signOnline(p: Omit<PresenceOnline, 'signature'>, signer: Signer): PresenceOnline {
  return signed('presence', p, signer)
}

export function signOffline(p: Omit<PresenceOffline, 'signature'>, signer: Signer): PresenceOffline {
  return signed('presence', p, signer)
}

export function signHeartbeat(h: { id: string; epoch: number; seq: number; load: Load }, signer: Signer): Heartbeat {
  return signed('heartbeat', h, signer)
}
