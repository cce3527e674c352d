/**
 * The agent's ed25519 identity: created on first start, kept in the data dir
 * (mode 0600), reused after. The agent id derives from the public key; the
 * box key that sealed jobs are sealed to derives from the same seed
 * (protocol/identity.ts).
 */
import { mkdirSync } from 'node:fs'
import { join } from 'node:path'
import { identityFromSeed, loadOrCreateKeyFile, type KeyIdentity } from '../protocol/identity.ts'
import { ValidationError } from '../protocol/errors.ts'

export interface Identity extends KeyIdentity {
  /** Whether this start created the key. */
  created: boolean
}

export const IDENTITY_FILE = 'identity.json'

export function loadOrCreateIdentity(dataDir: string): Identity {
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  } catch (err) {
    throw new ValidationError('dataDir', `a directory the agent can create and write (${dataDir}: ${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err })
  }
  const { seed, created } = loadOrCreateKeyFile(join(dataDir, IDENTITY_FILE), 'fogmesh-agent-identity')
  return { ...identityFromSeed(seed), created }
}
