/**
 * The messages of the mesh: their TypeScript types and their boundary parsers.
 * Types are inferred from the parsers, so the two cannot drift apart.
 */
import {
  array,
  base64Bytes,
  boolean,
  bytes32Hex,
  evmAddress,
  id,
  literal,
  meshJobId,
  number,
  object,
  optional,
  publishTopic,
  record,
  sha256Hex,
  string,
  tagged,
  uintString,
  type Infer,
} from './validate.ts'
import { batchProofSchema } from './batch-proof.ts'

/** Size caps that apply at the boundary (the broker enforces its own packet caps before these). */
export const MAX_INPUT_BYTES = 4 * 1024 * 1024
export const MAX_OUTPUT_BYTES = 4 * 1024 * 1024
export const MAX_MODULE_BYTES = 16 * 1024 * 1024
/** The most agents a job may ask to run it (`redundancy`). */
export const MAX_REDUNDANCY = 5

const label = string({ min: 0, max: 128 })
const price = number({ min: 0, max: 1e18 })
/** ed25519 signature, standard base64 (protocol/signed-statement.ts, protocol/signature.ts). */
export const signature = string({ min: 86, max: 88, describe: 'an ed25519 signature in base64' })
export const publicKeyHex = string({ min: 64, max: 64, pattern: /^[0-9a-f]{64}$/, describe: 'a 32-byte public key as 64 hex characters' })
/** Presence epochs: a new one per connection, ms-clock based and persisted, so they only grow. */
const epoch = number({ min: 1, max: Number.MAX_SAFE_INTEGER, integer: true })
const seqNumber = number({ min: 0, max: Number.MAX_SAFE_INTEGER, integer: true })

/** A sealed payload (protocol/seal.ts): `fms1.<nonce>.<ciphertext>`; opened (and fully checked) by its recipient only. */
export function envelope(maxPlainBytes: number) {
  const max = Math.ceil((maxPlainBytes + 64) / 3) * 4 + 64
  const inner = string({ min: 8, max, describe: `a sealed envelope (fms1.<nonce>.<ciphertext>) of at most ${max} characters` })
  return (v: unknown, path: string): string => {
    const s = inner(v, path)
    if (!s.startsWith('fms1.')) return inner(undefined, path)
    return s
  }
}

/** Fuel is counted in deterministic instruction-cost units; 2^53 keeps it exact in JSON. */
export const MAX_FUEL = Number.MAX_SAFE_INTEGER

/** The limits a job asks for (each optional: the agent's defaults fill in); the engine's own run limits are `RunLimits`. */
export const requestedLimitsSchema = object({
  fuel: optional(number({ min: 1, max: MAX_FUEL, integer: true })),
  memoryMiB: optional(number({ min: 1, max: 4096, integer: true })),
  timeoutMs: optional(number({ min: 1, max: 3_600_000, integer: true })),
  outputBytes: optional(number({ min: 0, max: MAX_OUTPUT_BYTES, integer: true })),
})
export type RequestedLimits = Infer<typeof requestedLimitsSchema>

export const constraintsSchema = object({
  /** Every label listed must match the agent's label exactly. */
  labels: optional(record(label)),
  /** CPU architecture as Node names it (`arm64`, `arm`, `x64`). */
  arch: optional(string({ min: 1, max: 32 })),
  /** Only these agents may run the job. */
  agents: optional(array(id, { max: 256 })),
  /** Only agents staked at least this much (token base units, decimal string) in the registry; needs a requester with a chain. */
  minStake: optional(uintString),
})
export type JobConstraints = Infer<typeof constraintsSchema>

/** A job as any plain MQTT client publishes it on `fm/v1/jobs/submit` (docs/contract.md). */
export const jobSubmitSchema = object({
  id,
  module: sha256Hex,
  /** Required, unless the sensor sealed it (`sealedInput`) or named it by sha256 (`inputBlob`). */
  input: optional(base64Bytes(MAX_INPUT_BYTES)),
  /** The input as a content-addressed blob (protocol/blobs/): on the wire `"input": {"sha256": "<manifest sha256>"}` (protocol/model-job.ts maps it here). */
  inputBlob: optional(object({ sha256: sha256Hex })),
  replyTo: publishTopic,
  /** Travel sealed between the gateway and the agent (docs/contract.md, "Sealed jobs"). */
  sealed: optional(boolean),
  /** The input sealed by the sensor to the gateway `sealedTo` (its box key is in its signed gateway presence). */
  sealedInput: optional(envelope(MAX_INPUT_BYTES)),
  sealedTo: optional(id),
  /** The sensor's X25519 box key: the output comes back sealed to it (`sealedOutput`). */
  replyKey: optional(publicKeyHex),
  limits: optional(requestedLimitsSchema),
  /** Distinct agents that run the job (1..5); their results must agree (market/quorum.ts). */
  redundancy: optional(number({ min: 1, max: MAX_REDUNDANCY, integer: true })),
  /** `all`: every one of the `redundancy` agents agrees; `majority` (default): more than half. */
  quorum: optional(literal('all', 'majority')),
  constraints: optional(constraintsSchema),
  maxPrice: optional(price),
})
export type JobSubmit = Infer<typeof jobSubmitSchema>

// ---- presence and liveness -------------------------------------------------

export const loadSchema = object({
  running: number({ min: 0, max: 1e6, integer: true }),
  queued: number({ min: 0, max: 1e6, integer: true }),
})
export type Load = Infer<typeof loadSchema>

const address = evmAddress
const bytes32 = bytes32Hex

export const paymentTermsSchema = object({
  chainId: number({ min: 1, integer: true }),
  /** The PaymentChannels contract. */
  channels: address,
  /** The address channels to this agent must pay. */
  payee: address,
})
export type PaymentTerms = Infer<typeof paymentTermsSchema>

/**
 * A cumulative voucher for one channel as it travels, on `fm/v1/agents/<id>/vouchers`
 * (amounts as decimal strings, with the leaves it adds and where to acknowledge it).
 */
export const wireVoucherSchema = object({
  requester: id,
  replyTo: publishTopic,
  channelId: uintString,
  cumulativeAmount: uintString,
  resultsRoot: bytes32,
  jobCount: uintString,
  signature: string({ min: 132, max: 132, pattern: /^0x[0-9a-fA-F]{130}$/, describe: 'a 65-byte signature as 0x hex' }),
  /** The results this voucher adds to the batch: job id and leaf. */
  leaves: array(object({ jobId: meshJobId, leaf: bytes32 }), { max: 10_000 }),
})
export type WireVoucher = Infer<typeof wireVoucherSchema>

/** An agent's claim to be staked: its registry account, the court, and the attester key it co-signs statements with. */
export const stakeClaimSchema = object({
  chainId: number({ min: 1, integer: true }),
  court: address,
  account: address,
  attester: address,
})
export type StakeClaim = Infer<typeof stakeClaimSchema>

/** Asks the agent to co-sign its result for the VerificationCourt at this address (protocol/statement.ts). */
export const attestRequestSchema = object({
  chainId: number({ min: 1, integer: true }),
  court: address,
})
export type AttestRequest = Infer<typeof attestRequestSchema>

/** The agent's EIP-712 co-signature (ERC-2098 compact) of the result's statement. */
export const attestationSchema = object({
  r: bytes32,
  vs: bytes32,
})
export type Attestation = Infer<typeof attestationSchema>

/**
 * The outcome of the last OTA update an agent saw (agent/update): `updated` (it runs the
 * release now), `rolled_back` (the release did not come back healthy; the previous one runs),
 * `refused` (bad signature, hash, arch, downgrade: never installed).
 */
export const updateStatusSchema = object({
  outcome: literal('updated', 'rolled_back', 'refused'),
  /** The release the outcome is about. */
  version: string({ min: 1, max: 64 }),
  /** The version that ran before (updated, rolled back). */
  from: optional(string({ min: 1, max: 64 })),
  /** Why (rolled back, refused): a short machine-readable reason and a human line. */
  reason: optional(string({ min: 1, max: 64 })),
  message: optional(string({ min: 0, max: 512 })),
  at: number({ min: 0, integer: true }),
})
export type UpdateStatus = Infer<typeof updateStatusSchema>

export const presenceOnlineSchema = object({
  status: literal('online'),
  id,
  name: string({ min: 1, max: 64 }),
  /** ed25519 public key, 64 hex characters; `id` derives from it. */
  publicKey: string({ min: 64, max: 64, pattern: /^[0-9a-f]{64}$/, describe: 'an ed25519 public key as 64 hex characters' }),
  version: string({ min: 1, max: 32 }),
  capacity: object({
    cores: number({ min: 1, max: 4096, integer: true }),
    memoryMiB: number({ min: 1, integer: true }),
    arch: string({ min: 1, max: 32 }),
    platform: string({ min: 1, max: 32 }),
    /** Jobs it runs at once. */
    slots: number({ min: 1, max: 4096, integer: true }),
  }),
  labels: record(label),
  price: object({ perJob: price }),
  /** The most a job may ask for here. */
  limits: object({
    fuel: number({ min: 1, max: MAX_FUEL, integer: true }),
    memoryMiB: number({ min: 1, integer: true }),
    timeoutMs: number({ min: 1, integer: true }),
    outputBytes: number({ min: 0, integer: true }),
    inputBytes: number({ min: 0, integer: true }),
  }),
  /** What a job that sets no limits gets. */
  defaults: object({
    fuel: number({ min: 1, max: MAX_FUEL, integer: true }),
    memoryMiB: number({ min: 1, integer: true }),
    timeoutMs: number({ min: 1, integer: true }),
    outputBytes: number({ min: 0, integer: true }),
  }),
  load: loadSchema,
  heartbeatMs: number({ min: 100, max: 600_000, integer: true }),
  since: number({ min: 0, integer: true }),
  /** Where this agent is paid: present when it takes payment through channels. */
  payment: optional(paymentTermsSchema),
  /** Where this agent is staked: checked on chain by requesters (the account's mesh key and attester must match). */
  stake: optional(stakeClaimSchema),

  /** The last OTA update's outcome: present on agents that follow a release channel. */
  update: optional(updateStatusSchema),
  /** The connection this presence belongs to (a new one per connect) and its order within it. */
  epoch,
  seq: seqNumber,
  /** X25519 box key that sealed jobs are sealed to (protocol/seal.ts). */
  boxKey: optional(publicKeyHex),
  /** It also hears offers addressed to it on `fm/v1/agents/<id>/offers` (a requester may pre-select it, market/preselect.ts). */
  directOffers: optional(boolean),
  /** It verifies batch-signed assignments (protocol/batch-signature.ts): a requester may sign its assignments to it in batches. */
  batchAssign: optional(boolean),
  /** ed25519 by `publicKey` over the presence statement (protocol/presence-signature.ts). */
  signature,
})

/** What the last will (pre-signed at connect for its epoch) or a clean stop leaves behind. */
export const presenceOfflineSchema = object({
  status: literal('offline'),
  id,
  name: optional(string({ min: 1, max: 64 })),
  reason: literal('lost', 'stopped'),
  /** The epoch this ends. */
  epoch,
  publicKey: publicKeyHex,
  signature,
})

export const presenceSchema = tagged('status', { online: presenceOnlineSchema, offline: presenceOfflineSchema })
export type PresenceOnline = Infer<typeof presenceOnlineSchema>
export type PresenceOffline = Infer<typeof presenceOfflineSchema>
export type Presence = PresenceOnline | PresenceOffline

export const heartbeatSchema = object({
  id,
  seq: seqNumber,
  load: loadSchema,
  /** The presence epoch it beats for: a beat of another epoch keeps nothing alive. */
  epoch,
  signature,
})
export type Heartbeat = Infer<typeof heartbeatSchema>

// ---- the market ------------------------------------------------------------

/** A requester's call for bids, on `fm/v1/market/offers` (every agent) or `fm/v1/agents/<id>/offers` (pre-selected ones). */
export const offerSchema = object({
  offerId: id,
  requester: id,
  replyTo: publishTopic,
  module: sha256Hex,
  limits: optional(requestedLimitsSchema),
  constraints: optional(constraintsSchema),
  maxPrice: optional(price),
  /** The requester's ed25519 key: agents bid only for requesters they would take work from. Not signed (a forged offer earns a bid, no work). */
  requesterKey: optional(publicKeyHex),
  /** Only agents with a box key can take it. */
  sealed: optional(boolean),
  /** The requester pays through channels from this EVM address (agents that take payment bid; the assignment proves it). */
  payer: optional(address),
})
export type Offer = Infer<typeof offerSchema>

const bidSchema = object({
  type: literal('bid'),
  offerId: id,
  agent: id,
  price,
  load: loadSchema,
  slots: number({ min: 1, max: 4096, integer: true }),
  /** For how long the agent takes jobs of this module from this requester at this price without a new auction. */
  leaseMs: number({ min: 0, max: 3_600_000, integer: true }),
  /** By the agent's key, over the bid statement (protocol/signed-statement.ts). */
  signature,
})
export type Bid = Infer<typeof bidSchema>

/** A paying requester's channel to an agent and its payer's EVM signature binding `requesterKey` to it (agent/channel-acceptance.ts). */
export const payerProofSchema = object({
  address,
  channelId: uintString,
  proof: string({ min: 132, max: 132, pattern: /^0x[0-9a-fA-F]{130}$/, describe: 'a 65-byte signature as 0x hex' }),
})
export type PayerProof = Infer<typeof payerProofSchema>

/**
 * A job addressed to one agent, on `fm/v1/agents/<id>/jobs`, signed by the
 * requester (protocol/assignment.ts): the signature covers every field but
 * `input`/`sealedInput`, whose hash (`inputSha256`) it covers instead.
 */
export const assignSchema = object({
  id: meshJobId,
  attempt: number({ min: 1, max: 100, integer: true }),
  /** The requester's inbox name (`fm/v1/requesters/<requester>/inbox`). */
  requester: id,
  replyTo: publishTopic,
  module: sha256Hex,
  /** The input, or (sealed jobs) `sealedInput`: exactly one of the two. */
  input: optional(base64Bytes(MAX_INPUT_BYTES)),
  sealedInput: optional(envelope(MAX_INPUT_BYTES + 16)),
  /** Instead of both: the input is the content-addressed blob whose `fogmesh-blob/1` manifest has this sha256 (signed; the agent fetches it and checks it against `inputSha256`). */
  inputBlob: optional(sha256Hex),
  /** sha256 of the input; for a sealed job, of salt ‖ input (protocol/seal.ts). */
  inputSha256: sha256Hex,
  limits: optional(requestedLimitsSchema),
  /** The agent it is for: an assignment for one agent is nothing to another. */
  agent: id,
  /** The requester's ed25519 key; its id (sha256, first 20 hex) is who agents accept work from. */
  requesterKey: publicKeyHex,
  /** 16 random bytes, hex: an agent runs an assignment once per nonce. */
  nonce: string({ min: 32, max: 32, pattern: /^[0-9a-f]{32}$/, describe: '16 bytes as 32 hex characters' }),
  /** Ms since 1970 after which the agent does not start it. */
  expiresAt: number({ min: 0, max: Number.MAX_SAFE_INTEGER, integer: true }),
  /** The requester's X25519 box key (sealed jobs): the output is sealed back to it. */
  replyKey: optional(publicKeyHex),
  /** A requester that pays: its channel to this agent and the payer's EVM signature binding `requesterKey` to it. */
  payer: optional(payerProofSchema),
  /** Co-sign the result for this court (redundant, spot-checked and staked jobs). */
  attest: optional(attestRequestSchema),
  /** The requester verifies batch-signed results: the agent may answer in batch form (protocol/batch-signature.ts). */
  batchResults: optional(boolean),
  /** Signed in a batch: this assignment's place in it; `signature` is then the batch's (protocol/batch-signature.ts). */
  batch: optional(batchProofSchema),
  signature,
})
export type Assign = Infer<typeof assignSchema>

export const errorBodySchema = object({
  code: string({ min: 1, max: 64 }),
  message: string({ min: 0, max: 4096 }),
})

/** A signed result, from the agent to the requester's inbox, and (same fields) on to the job's replyTo. */
export const resultSchema = object({
  type: literal('result'),
  id: meshJobId,
  attempt: number({ min: 1, max: 100, integer: true }),
  agent: id,
  module: sha256Hex,
  inputSha256: sha256Hex,
  status: literal('ok', 'error'),
  output: optional(string({ max: Math.ceil(MAX_OUTPUT_BYTES / 3) * 4 + 4 })),
  /** A sealed job's output, sealed to the assignment's `replyKey` (then `output` is absent). */
  sealedOutput: optional(envelope(MAX_OUTPUT_BYTES + 16)),
  outputSha256: optional(sha256Hex),
  /** Set for sealed jobs: the signature is the sealed-result statement over salted hashes (protocol/signature.ts). */
  sealed: optional(boolean),
  error: optional(errorBodySchema),
  fuel: number({ min: 0, integer: true }),
  durationMs: number({ min: 0 }),
  /** Present when the assignment asked for it. */
  attestation: optional(attestationSchema),
  /** Signed in a batch: this result's place in it; `signature` is then the batch's (protocol/batch-signature.ts). */
  batch: optional(batchProofSchema),
  signature,
})
export type Result = Infer<typeof resultSchema>

const voucherAckSchema = object({
  type: literal('voucherAck'),
  agent: id,
  channelId: uintString,
  cumulativeAmount: uintString,
  ok: literal(1, 0),
  reason: optional(string({ max: 64 })),
})
export type VoucherAck = Infer<typeof voucherAckSchema>

export const inboxSchema = tagged('type', { bid: bidSchema, result: resultSchema, voucherAck: voucherAckSchema })
export type InboxMessage = Infer<typeof inboxSchema>

/**
 * A gateway's signed advertisement, retained on `fm/v1/gateways/<id>/presence`:
 * its keys, so sensors can verify what it forwards and seal to it.
 */
export const gatewayPresenceSchema = object({
  status: literal('online'),
  id,
  name: string({ min: 1, max: 64 }),
  publicKey: publicKeyHex,
  boxKey: publicKeyHex,
  since: number({ min: 0, integer: true }),
  signature,
})
export type GatewayPresence = Infer<typeof gatewayPresenceSchema>
