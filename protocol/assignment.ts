/**
 * Signed assignments: a requester's order to one agent to run one job.
 *
 * The requester has an ed25519 identity like an agent's (protocol/identity.ts);
 * its *requester id* is the first 20 hex of sha256(requesterKey), the id
 * agents list in `--accept-from`. The signature (an `assign` statement,
 * protocol/signed-statement.ts) covers every field of the assignment except
 * `input` and `sealedInput`; it covers their hash, `inputSha256`, instead,
 * which the agent checks against the bytes it got (for a sealed job: the
 * salted hash of what it opened). So nothing in an assignment can be changed
 * — not the attempt number, not the agent it is for, not the reply topic —
 * without the requester's key, and the `nonce` makes each one single-use
 * (agent/admission.ts). `expiresAt` bounds how long an agent must remember it.
 *
 * A requester may sign a turn's assignments in one batch (protocol/batch-signature.ts) for the
 * agents that say `batchAssign` in their presence: the leaf of each is the same `assign`
 * statement (without `batch`, the proof itself), `signature` the batch's.
 */
import { agentIdFromPublicKey } from './agent-id.ts'
import { verifiedRoots, verifyBatched, verifyBatchProof, type BatchProof, type VerifiedRoots } from './batch-signature.ts'
import type { BatchSigner } from './batch-signer.ts'
import type { Assign, RequestedLimits } from './messages.ts'
import { signed, statementBytes, verifyStatement } from './signed-statement.ts'
import type { Signer } from './signature.ts'

/** Fields an assignment's signature does not cover (their hash it does). */
export const ASSIGN_UNSIGNED = ['input', 'sealedInput'] as const

/** An assignment as it travels: the input as base64. */
export type WireAssign = Omit<Assign, 'input'> & { input?: string }

export interface AssignmentFields {
  id: string
  attempt: number
  requester: string
  replyTo: string
  module: string
  inputSha256: string
  agent: string
  requesterKey: string
  nonce: string
  expiresAt: number
  input?: string
  sealedInput?: string
  /** A content-addressed input (protocol/blobs/): the manifest's sha256; signed like every other field. */
  inputBlob?: string
  limits?: RequestedLimits
  replyKey?: string
  payer?: { address: string; channelId: string; proof: string }
  /** Co-sign the result for this court (market/verification.ts). */
  attest?: Assign['attest']
  /** The requester verifies batch-signed results (the agent may answer in batch form). */
  batchResults?: boolean
}

/** The batch form's leaf leaves out the proof too (the rest is the single form's statement). */
const ASSIGN_UNSIGNED_BATCH: readonly string[] = [...ASSIGN_UNSIGNED, 'batch']

/** The requester id of a requester key (the same derivation as agent ids). */
export const requesterIdOf = (requesterKey: string): string => agentIdFromPublicKey(requesterKey)

export function signAssignment(a: AssignmentFields, signer: Signer): WireAssign {
  const body: Record<string, unknown> = {}
  // drop absent optionals: the statement is over what travels
  for (const [k, v] of Object.entries(a)) if (v !== undefined) body[k] = v
  return signed('assign', body, signer, ASSIGN_UNSIGNED) as unknown as WireAssign
}

/** The assignment signed with the others of this turn (batch form when there are others). */
export async function signAssignmentBatched(a: AssignmentFields, batch: BatchSigner, alone = false): Promise<WireAssign> {
  const body: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(a)) if (v !== undefined) body[k] = v
  const s = await batch.sign(statementBytes('assign', body, ASSIGN_UNSIGNED), alone)
  return { ...body, signature: s.signature, ...(s.batch ? { batch: s.batch } : {}) } as unknown as WireAssign
}

/**
 * Whether `raw` (as received) is signed by the key in its own `requesterKey`, in either form
 * (`batch` present: through its proof, each batch's signature checked once per `cache`).
 * Who that key is, admission decides. `parsedBatch`: `raw.batch` as the assignment's schema
 * parsed it (decoded from the same bytes), so the proof is not validated twice. Never throws.
 */
export function assignmentSignedByItsRequester(raw: Readonly<Record<string, unknown>>, cache: VerifiedRoots = verifiedRoots, parsedBatch?: BatchProof): boolean {
  if (typeof raw.requesterKey !== 'string') return false
  if (raw.batch === undefined || raw.batch === null) return verifyStatement('assign', raw, raw.requesterKey, ASSIGN_UNSIGNED)
  let statement: Buffer
  try {
    statement = statementBytes('assign', raw, ASSIGN_UNSIGNED_BATCH)
  } catch {
    return false // not canonicalizable
  }
  if (parsedBatch) return verifyBatchProof('assign', statement, parsedBatch, raw.signature, raw.requesterKey, cache).ok
  return verifyBatched('assign', statement, raw.batch, raw.signature, raw.requesterKey, cache).ok
}

/**
 * What a paying requester's wallet signs (EIP-191 `personal_sign`) to say its ed25519 key
 * speaks for it: carried as `payer.proof` (agent/channel-acceptance.ts checks it).
 */
export const requesterKeyStatement = (requesterKey: string) => `fogmesh requester key ${requesterKey}`
