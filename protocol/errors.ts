/**
 * One error type for the whole mesh, viem-style: a short message, optional
 * details, an optional cause, and a stable machine-readable `code`.
 *
 * The codes below are part of the public contract: they travel in job
 * results (`{status:"error", error:{code, message}}`) and scripts match on them.
 */

/** Codes a job result can carry, and codes of local errors. Extend; never rename. */
export const ErrorCode = {
  // bad input at the boundary
  invalidJson: 'invalid_json',
  invalidField: 'invalid_field',
  tooLarge: 'too_large',
  // modules
  moduleNotFound: 'module_not_found',
  moduleHashMismatch: 'module_hash_mismatch',
  invalidModule: 'invalid_module',
  notACommand: 'not_a_command',
  linkError: 'link_error',
  // execution
  trap: 'trap',
  exitNonZero: 'exit_nonzero',
  deadline: 'deadline',
  outputLimit: 'output_limit',
  /** The job burned its whole fuel budget (`limits.fuel`). */
  fuelExhausted: 'fuel_exhausted',
  /** The job needs more memory than its cap (`limits.memoryMiB`): refused at start, or failed after growth was refused. */
  memoryLimit: 'memory_limit',
  // market
  noAgents: 'no_agents',
  agentFailed: 'agent_failed',
  badSignature: 'bad_signature',
  rejected: 'rejected',
  /** The job asks for more (fuel, memory, time, output) than the agent offers. */
  limitExceeded: 'limit_exceeded',
  overloaded: 'overloaded',
  // the signed control plane (agent/admission.ts, market/directory.ts) and sealed payloads (protocol/seal.ts)
  /** The agent does not take work from this requester (not in --accept-from, no funded channel). */
  notAccepted: 'not_accepted',
  /** A signed assignment past its expiry (or too far in the future to keep its nonce). */
  expired: 'expired',
  /** A signed statement seen before: a replayed assignment nonce, an older presence epoch or sequence. */
  replayed: 'replayed',
  /** A sealed payload that does not open for its recipient, sender and context. */
  sealBroken: 'seal_broken',
  /** A redundant job whose agents did not agree, and referees could not make a majority stand. */
  noQuorum: 'no_quorum',
  // identities and access (broker/auth/)
  /** The broker refused who a client says it is: unknown user, wrong password, bad or replayed agent token, not admitted. */
  authFailed: 'auth_failed',
  // chain and settlement (contracts/chain-errors.ts)
  /** The contract refused a call or transaction; the error names its custom error and arguments. */
  txReverted: 'tx_reverted',
  /** A transaction was not mined within its time limit. */
  txTimeout: 'tx_timeout',
  /** The chain's JSON-RPC endpoint does not answer (or a local anvil did not start). */
  chainUnreachable: 'chain_unreachable',
  /** The node answered a JSON-RPC request with an error of its own (not a revert). */
  rpcError: 'rpc_error',
  /** The account cannot pay for the transaction (its gas). */
  insufficientFunds: 'insufficient_funds',
  /** The address does not hold the expected contract (no code, or a receipt without its event). */
  contractMismatch: 'contract_mismatch',
  /** No anvil binary: no local chain. */
  anvilMissing: 'anvil_missing',
  // content-addressed data (protocol/blobs/, agent/blob-store.ts)
  /** A blob's bytes do not hash to the sha256 it is published under (refused, never cached). */
  blobHashMismatch: 'blob_hash_mismatch',
  /** Not a `fogmesh-blob/1` manifest: bad JSON, fields, or not in canonical form. */
  blobInvalidManifest: 'blob_invalid_manifest',
  /** A manifest that names itself or a manifest above it (a cycle), or nests deeper than allowed. */
  blobLoop: 'blob_loop',
  /** Declared and actual sizes (or the whole's sha256) differ. */
  blobSizeMismatch: 'blob_size_mismatch',
  /** More bytes than this agent's budget (`--max-blob-bytes`, `--blob-cache-bytes`): refused before fetching. */
  blobTooLarge: 'blob_too_large',
  /** More chunks than allowed (`--max-blob-chunks`). */
  blobTooManyChunks: 'blob_too_many_chunks',
  /** No holder published the blob in time (retained copy missing, nobody answered the want). */
  blobNotFound: 'blob_not_found',
  // local
  internal: 'internal',
  closed: 'closed',
  /** A server could not listen: its port is taken (a user error: choose another). */
  portInUse: 'port_in_use',
  usage: 'usage',
  /** A job's run was ended early by its host (exit, stdout over the cap, a fatal signal): the unwinding signal inside the engine, turned into the result there; never sent. */
  stopped: 'stopped',
  // the device: bundles and the journal on its disk
  /** A bundle (tarball or unpacked tree) that is truncated, corrupted, for another arch, or needs another Node. */
  badBundle: 'bad_bundle',
  /** The voucher journal on disk is damaged beyond a torn last write. */
  journalCorrupt: 'journal_corrupt',
  // fleet: OTA releases, provisioning over SSH, first-boot cards
  /** An OTA release an agent (or `release publish`) will not take: bad signature, hash, size, arch, downgrade. */
  releaseRefused: 'release_refused',
  /** `fogmesh provision` could not put an agent on a host (SSH refused, auth failed, no Node, install failed). */
  provisionFailed: 'provision_failed',
  /** `fogmesh flash` could not prepare a boot partition (not a Raspberry Pi OS boot dir, image unreadable). */
  flashFailed: 'flash_failed',
} as const

export type ErrorCode = (typeof ErrorCode)[keyof typeof ErrorCode]

/** Error codes after which a job is retried on another agent (the agent, not the job, is at fault). */
const RETRYABLE: ReadonlySet<string> = new Set<ErrorCode>([
  ErrorCode.overloaded,
  ErrorCode.internal,
  ErrorCode.closed,
  ErrorCode.rejected,
  ErrorCode.limitExceeded, // another agent may offer more
])

export function isRetryableCode(code: string): boolean {
  return RETRYABLE.has(code)
}

export interface FogmeshErrorOptions {
  details?: string | undefined
  cause?: unknown
}

export class FogmeshError extends Error {
  override name = 'FogmeshError'
  readonly code: ErrorCode
  readonly shortMessage: string
  readonly details: string | undefined

  constructor(code: ErrorCode, shortMessage: string, options: FogmeshErrorOptions = {}) {
    super(options.details ? `${shortMessage}\n\nDetails: ${options.details}` : shortMessage, {
      cause: options.cause,
    })
    this.code = code
    this.shortMessage = shortMessage
    this.details = options.details
  }

  /** The `{code, message}` object that travels in an error result. */
  toJSON(): { code: ErrorCode; message: string } {
    return { code: this.code, message: this.shortMessage }
  }
}

/** A message from the network (or a CLI argument) failed validation. `field` names what was wrong. */
export class ValidationError extends FogmeshError {
  override name = 'ValidationError'
  readonly field: string
  constructor(field: string, expected: string, options: FogmeshErrorOptions & { code?: ErrorCode } = {}) {
    super(options.code ?? ErrorCode.invalidField, field ? `${field}: expected ${expected}` : expected, options)
    this.field = field
  }
}

/** Authentication was refused; `reason` says why in a stable word (`bad_password`, `token_replayed`, `not_admitted`, ...). */
export class AuthError extends FogmeshError {
  override name = 'AuthError'
  readonly reason: string
  constructor(reason: string, message: string, options: FogmeshErrorOptions = {}) {
    super(ErrorCode.authFailed, message, options)
    this.reason = reason
  }
}

/** A job ended without a result: carries the code that goes into the error result. */
export class JobError extends FogmeshError {
  override name = 'JobError'
}

/** A server could not listen because its port is taken. `option` names the option that chose the port (e.g. `wsPort`). */
export class PortInUseError extends FogmeshError {
  override name = 'PortInUseError'
  constructor(
    readonly option: string,
    readonly port: number,
    readonly host: string,
    options: FogmeshErrorOptions = {},
  ) {
    super(ErrorCode.portInUse, `port ${port} is in use on ${host} (${option})`, options)
  }
}

/** Turns anything thrown into a FogmeshError without leaking stack traces to the network. */
export function toFogmeshError(err: unknown, fallback: ErrorCode = ErrorCode.internal): FogmeshError {
  if (err instanceof FogmeshError) return err
  const message = err instanceof Error ? err.message : String(err)
  return new FogmeshError(fallback, message.split('\n')[0] ?? 'unknown error', { cause: err })
}
