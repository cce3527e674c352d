/**
 * Signed stream control: a placer's order to one agent to start (or stop) a
 * stream job, on `fm/v1/agents/<id>/streams`. A stream runs work on the agent
 * for as long as it stands, so it is admitted like an assignment
 * (agent/admission.ts): the `stream-control` statement
 * (protocol/signed-statement.ts) covers every field — the spec, the role, the
 * receipt inbox, the `agent` it is for, a 16-byte `nonce`, `expiresAt` — and is
 * signed by `requesterKey`, whose id (first 20 hex of its sha256) is what
 * agents list in `--accept-from`. Without the key nobody starts, promotes or
 * stops a stream on an agent, and a replay of an old order is refused by its nonce.
 */
import { randomBytes } from 'node:crypto'
import type { KeyIdentity } from './identity.ts'
import type { PayerProof } from './messages.ts'
import { signed, verifyStatement } from './signed-statement.ts'
import type { StreamControl, StreamSpec } from './streams.ts'

/** A stream control as the placer decides it, before it is addressed and signed. */
export type StreamOrder =
  | { type: 'start'; role: 'primary' | 'standby'; spec: StreamSpec; requester: string; inbox: string }
  | { type: 'stop'; stream: string }

/** `order` for `agent`, signed by `identity`, valid until `expiresAt` (ms since 1970); with the channel proof of a paying placer. */
export function signStreamControl(order: StreamOrder, agent: string, identity: KeyIdentity, expiresAt: number, payer?: PayerProof): StreamControl {
  const body: Record<string, unknown> = { ...order, agent, requesterKey: identity.publicKeyHex, nonce: randomBytes(16).toString('hex'), expiresAt, ...(payer ? { payer } : {}) }
  return signed('stream-control', body, identity.signer) as unknown as StreamControl
}

/** Whether `raw` (as received) is signed by the key in its own `requesterKey`. Who that key is, admission decides. */
export function streamControlSignedByItsRequester(raw: Readonly<Record<string, unknown>>): boolean {
  return typeof raw.requesterKey === 'string' && verifyStatement('stream-control', raw, raw.requesterKey)
}
