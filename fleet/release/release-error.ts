/**
 * Why an OTA release is not taken. One error class, code `release_refused`, with a
 * stable `reason` scripts and presence can match on; the message names the release
 * (and the host or file where there is one) and the cause, on one line.
 */
import { ErrorCode, FogmeshError, type FogmeshErrorOptions } from '../../protocol/errors.ts'

/** Stable reasons. Extend; never rename. */
export const RefusalReason = {
  /** The manifest is not JSON, or a field is missing or malformed. */
  malformed: 'malformed',
  /** Not signed by a trusted release key (another key, or bytes changed after signing). */
  badSignature: 'bad_signature',
  /** The bytes fetched do not hash to what the manifest signed (or a chunk does not). */
  hashMismatch: 'hash_mismatch',
  /** The bytes are not the size the manifest signed, or more than the agent takes. */
  badSize: 'bad_size',
  /** The release has no build for this agent's architecture. */
  wrongArch: 'wrong_arch',
  /** The release is older than what runs. */
  downgrade: 'downgrade',
  /** The bytes are not a bundle (truncated, corrupted, a file missing or changed, manifest.json disagrees). */
  badBundle: 'bad_bundle',
  /** A chunk did not arrive in time. */
  fetchTimeout: 'fetch_timeout',
} as const
export type RefusalReason = (typeof RefusalReason)[keyof typeof RefusalReason]

export class ReleaseError extends FogmeshError {
  override name = 'ReleaseError'
  readonly reason: RefusalReason
  constructor(reason: RefusalReason, message: string, options: FogmeshErrorOptions = {}) {
    super(ErrorCode.releaseRefused, message, options)
    this.reason = reason
  }
}
