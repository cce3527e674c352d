/**
 * Signed assignments for tests that play the requester by hand: a requester
 * identity and `assignment(...)`, which fills in what a real requester would
 * (inputSha256, nonce, expiry, its key) and signs, with any field overridden
 * first — so a test can sign exactly the assignment it wants to send.
 */
import { createHash, randomBytes } from 'node:crypto'
import { signAssignment, type AssignmentFields, type WireAssign } from '../../protocol/assignment.ts'
import { ephemeralIdentity, type KeyIdentity } from '../../protocol/identity.ts'

export interface AssignmentDefaults {
  agent: string
  module: string
  requester?: string
  replyTo?: string
  /** Now, on the clock the agent checks expiries with. */
  now: number
  ttlMs?: number
}

export function assignment(identity: KeyIdentity, d: AssignmentDefaults, o: Partial<AssignmentFields> & { input?: string } = {}): WireAssign {
  const input = o.input ?? Buffer.from('hello').toString('base64')
  const fields: AssignmentFields = {
    id: `j-${randomBytes(4).toString('hex')}`, attempt: 1, requester: d.requester ?? 'r1', replyTo: d.replyTo ?? 'inbox/r1', module: d.module,
    inputSha256: createHash('sha256').update(Buffer.from(input, 'base64')).digest('hex'),
    agent: d.agent, requesterKey: identity.publicKeyHex, nonce: randomBytes(16).toString('hex'), expiresAt: d.now + (d.ttlMs ?? 60_000),
    input,
    ...o,
  }
  if (o.sealedInput !== undefined && o.input === undefined) delete fields.input
  return signAssignment(fields, identity.signer)
}

export { ephemeralIdentity }
