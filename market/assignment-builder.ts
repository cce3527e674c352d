/**
 * One signed assignment, as the requester sends it (protocol/assignment.ts),
 * and what the answer to it must match (market/verify-result.ts): a fresh
 * nonce, an expiry at the attempt's deadline, the input in the clear or —
 * for a sealed job — sealed to the agent's box key with a fresh salt, the
 * salted commitment signed in its place, and the requester's box key for
 * the output to come back sealed; for an agent that takes payment, the
 * channel and the payer's proof (market/payer.ts).
 */
import { createHash, randomBytes } from 'node:crypto'
import { signAssignment, type AssignmentFields, type WireAssign } from '../protocol/assignment.ts'
import type { KeyIdentity } from '../protocol/identity.ts'
import type { PresenceOnline, RequestedLimits } from '../protocol/messages.ts'
import { frameSalted, jobSealContext, SALT_BYTES, type Sealer } from '../protocol/seal.ts'
import type { Expected } from './verify-result.ts'
import { randomHex } from './random-hex.ts'

export interface AssignmentJob {
  id: string
  attempt: number
  module: string
  input: Buffer
  inputSha256: string
  /** A content-addressed input: the manifest's sha256 goes instead of the input (signed). */
  inputBlob?: string | undefined
  limits?: RequestedLimits | undefined
  sealed?: boolean | undefined
}

export interface AssignmentContext {
  identity: KeyIdentity
  sealer: Sealer
  /** The requester's inbox name and topic. */
  requester: string
  replyTo: string
  /** The lease's agent, its key and its signed presence. */
  agent: { id: string; publicKey: string; presence: PresenceOnline | undefined }
  expiresAt: number
  payer?: AssignmentFields['payer'] | undefined
  /** Ask the agent to co-sign its result for this court (verification: redundant, spot-checked, staked jobs). */
  attest?: AssignmentFields['attest'] | undefined
  /** This requester verifies batch-signed results: say so (`batchResults`). */
  batchResults?: boolean | undefined
}

/** The signed assignment and what its answer must be — or why none can be made (a sealed job for an agent without a box key). */
export function buildAssignment(job: AssignmentJob, c: AssignmentContext): { assign: WireAssign; expected: Expected } | { refused: string } {
  const built = assignmentFor(job, c)
  return 'refused' in built ? built : { assign: signAssignment(built.fields, c.identity.signer), expected: built.expected }
}

/** The assignment's fields, not signed yet (to sign alone or in a batch, protocol/assignment.ts), and what its answer must be. */
export function assignmentFor(job: AssignmentJob, c: AssignmentContext): { fields: AssignmentFields; expected: Expected } | { refused: string } {
  const fields: AssignmentFields = {
    id: job.id, attempt: job.attempt, requester: c.requester, replyTo: c.replyTo, module: job.module, inputSha256: job.inputSha256,
    agent: c.agent.id, requesterKey: c.identity.publicKeyHex, nonce: randomHex(16), expiresAt: c.expiresAt,
    ...(job.limits ? { limits: job.limits } : {}),
    ...(c.payer ? { payer: c.payer } : {}),
    ...(c.attest ? { attest: c.attest } : {}),
    ...(c.batchResults ? { batchResults: true } : {}),
  }
  const expected: Expected = { agent: c.agent.id, publicKey: c.agent.publicKey, module: job.module, inputSha256: job.inputSha256 }
  if (job.inputBlob !== undefined) {
    if (job.sealed) return { refused: 'a sealed job takes its input inline, not as a blob' }
    fields.inputBlob = job.inputBlob
  } else if (job.sealed) {
    const boxKey = c.agent.presence?.boxKey
    if (!boxKey) return { refused: `agent ${c.agent.id} advertises no box key for a sealed job` }
    const salt = randomBytes(SALT_BYTES)
    const framed = frameSalted(salt, job.input)
    fields.sealedInput = c.sealer.seal(framed, boxKey, jobSealContext('assign', job.id, c.agent.id))
    fields.inputSha256 = expected.inputSha256 = createHash('sha256').update(framed).digest('hex')
    fields.replyKey = c.identity.box.publicKeyHex
    expected.sealed = { salt, open: (env) => c.sealer.open(env, boxKey, jobSealContext('result', job.id, c.agent.id)) }
  } else {
    fields.input = job.input.toString('base64')
  }
  return { fields, expected }
}
