/**
 * Why a host could not be provisioned: one line naming the host and the cause,
 * code `provision_failed`, and a stable `reason` for scripts (and the summary).
 */
import { ErrorCode, FogmeshError, type FogmeshErrorOptions } from '../../protocol/errors.ts'

/** Stable reasons. Extend; never rename. */
export const ProvisionReason = {
  /** Nothing listens on the SSH port (connection refused). */
  sshRefused: 'ssh_refused',
  /** The host name does not resolve, or the connection timed out. */
  unreachable: 'unreachable',
  /** The server refused every key (and no password may be asked in batch mode). */
  authFailed: 'auth_failed',
  /** The host's key is not the known one, or unknown and not to be accepted. */
  hostKey: 'host_key',
  /** Another SSH failure (the client's own message is kept). */
  ssh: 'ssh',
  /** The host lacks Node and the bundle brings none; or it lacks tar/sh. */
  noNode: 'no_node',
  /** No bundle for the host's architecture. */
  wrongArch: 'wrong_arch',
  /** Not root and no password-less sudo. */
  noRoot: 'no_root',
  /** install.sh failed on the host (its last line is kept). */
  installFailed: 'install_failed',
  /** Installed and started, but its presence did not show online on the broker in time. */
  notOnline: 'not_online',
  /** The bundle given is not one (truncated, corrupted). */
  badBundle: 'bad_bundle',
} as const
export type ProvisionReason = (typeof ProvisionReason)[keyof typeof ProvisionReason]

export class ProvisionError extends FogmeshError {
  override name = 'ProvisionError'
  readonly host: string
  readonly reason: ProvisionReason
  constructor(host: string, reason: ProvisionReason, cause: string, options: FogmeshErrorOptions = {}) {
    super(ErrorCode.provisionFailed, `${host}: ${cause}`, options)
    this.host = host
    this.reason = reason
  }
}
