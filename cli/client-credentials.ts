/**
 * The options every client command takes to reach a broker with authentication
 * or TLS: `--user NAME --password P` (or $FOGMESH_PASSWORD, which keeps the
 * password out of `ps`), `--ca FILE` for `mqtts://` / `wss://` with a private CA.
 */
import { readFileSync } from 'node:fs'
import type { ClientCredentials } from '../protocol/transport.ts'
import { UsageError, type Options } from './command.ts'

export const CREDENTIAL_OPTIONS: Options = {
  user: { type: 'string' },
  password: { type: 'string' },
  ca: { type: 'string' },
}

export const CREDENTIAL_USAGE = `  --user NAME     authenticate as NAME (fogmesh auth add); password from --password or $FOGMESH_PASSWORD
  --password P    the password (prefer $FOGMESH_PASSWORD: a flag shows in ps)
  --ca FILE       PEM CA certificate to trust for mqtts:// and wss:// brokers`

export function readCa(values: Record<string, unknown>): Buffer | undefined {
  if (typeof values.ca !== 'string') return undefined
  try {
    return readFileSync(values.ca)
  } catch (err) {
    throw new UsageError(`cannot read --ca ${values.ca}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
  }
}

/** The credentials the flags give, or undefined for an anonymous client without a CA. */
export function credentialsFromOptions(values: Record<string, unknown>): ClientCredentials | undefined {
  const ca = readCa(values)
  const user = typeof values.user === 'string' ? values.user : undefined
  const password = typeof values.password === 'string' ? values.password : process.env.FOGMESH_PASSWORD
  if (user === undefined && typeof values.password === 'string') throw new UsageError('--password needs --user')
  if (user !== undefined && !password) throw new UsageError(`--user ${user} needs a password: --password P or $FOGMESH_PASSWORD`)
  if (user === undefined && ca === undefined) return undefined
  return { ...(user !== undefined ? { username: user, password: password! } : {}), ...(ca ? { ca } : {}) }
}
