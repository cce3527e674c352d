/**
 * Jobs as the requester library takes them and answers them.
 */
import { createHash } from 'node:crypto'
import type { JobConstraints, RequestedLimits, Result } from '../protocol/messages.ts'
import type { QuorumCertificate } from '../protocol/quorum-certificate.ts'

export interface JobRequest {
  /** Unique per requester; a second submission with the same id is answered once. Default: random. */
  id?: string
  /** sha256 hex of a published module. */
  module: string
  input: Uint8Array
  /**
   * The input as a content-addressed blob (protocol/blobs/): the manifest's sha256, and — when the
   * caller knows them — the content's sha256 and size (else the requester reads the manifest).
   * `submit` makes one itself from an `input` over `blobThresholdBytes`.
   */
  inputBlob?: { sha256: string; contentSha256?: string | undefined; size?: number | undefined } | undefined
  limits?: RequestedLimits
  constraints?: JobConstraints
  maxPrice?: number
  /** Seal the input to the assigned agent and have it seal the output back (protocol/seal.ts): the broker sees only ciphertext. */
  sealed?: boolean
  /** The first attempt's number (default 1): a job tried again later continues its count, so agents do not take it for a redelivery. */
  firstAttempt?: number
  /** Distinct agents that run it (1..5, default 1); their results must agree (market/quorum.ts). */
  redundancy?: number
  /** `majority` (default) or `all` of the `redundancy` agents. */
  quorum?: 'all' | 'majority'
}

/** What `Requester.submit` resolves with: a verified result, or an error with a stable code. */
export interface JobAnswer {
  id: string
  status: 'ok' | 'error'
  /** Decoded stdout of the job (ok only). */
  output?: Buffer | undefined
  outputSha256?: string | undefined
  error?: { code: string; message: string } | undefined
  /** The agent that ran it; null when no agent did (no agents, bad request). */
  agent: string | null
  /** The agent's ed25519 signature (base64) over the result statement, or over the root of the batch `result.batch` puts it in; null when no agent ran it. */
  signature: string | null
  module: string
  inputSha256: string
  fuel: number
  /** Time the job ran on the agent. */
  durationMs: number
  /** Assignments it took (1 unless an agent failed it). */
  attempts: number
  /** From submit to verified result, at the requester. */
  latencyMs: number
  /** A sealed job: `inputSha256` and `outputSha256` are sha256(salt ‖ input/output), the signature a sealed-result statement. */
  sealed?: boolean | undefined
  /** The sealed job's 16-byte salt (keep it as private as the output: with it the hashes identify the plaintext). */
  salt?: Buffer | undefined
  /** The agent's signed result as it arrived (absent when no agent answered). */
  result?: Result | undefined
  /** With redundancy above 1: every agreeing agent's signed statement (protocol/quorum-certificate.ts). */
  quorum?: QuorumCertificate | undefined
}

/** The JSON a plain-MQTT submitter receives on its `replyTo` (the result contract of docs/contract.md). */
export function resultToWire(r: JobAnswer): Record<string, unknown> {
  const wire: Record<string, unknown> = {
    id: r.id,
    status: r.status,
  }
  if (r.status === 'ok') {
    wire.output = (r.output ?? Buffer.alloc(0)).toString('base64')
    wire.outputSha256 = r.outputSha256
  } else {
    wire.error = r.error
  }
  wire.fuel = r.fuel
  wire.agent = r.agent
  wire.signature = r.signature
  // signed in a batch: the result's place in it (protocol/batch-signature.ts), with which `signature` verifies
  if (r.result?.batch) wire.batch = r.result.batch
  wire.module = r.module
  wire.inputSha256 = r.inputSha256
  wire.durationMs = r.durationMs
  wire.attempts = r.attempts
  if (r.sealed) {
    wire.sealed = true
    if (r.salt) wire.salt = r.salt.toString('base64')
  }
  if (r.quorum) wire.quorum = r.quorum
  return wire
}

/** The job's `inputSha256`: of its content-addressed input when it has one, else of `input`. */
export function inputSha256Of(job: Pick<JobRequest, 'input' | 'inputBlob'>): string {
  return job.inputBlob?.contentSha256 ?? createHash('sha256').update(job.input).digest('hex')
}
