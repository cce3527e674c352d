/**
 * The agent's ed25519 identity: created on first start, kept in the data dir
 * (mode 0600), reused after. The agent id derives from the public key; the
 * box key that sealed jobs are sealed to derives from the same seed
 * (protocol/identity.ts).
 */
import { join } from 'node:path'
import { identityFromSeed, loadOrCreateKeyFile, type KeyIdentity } from '../protocol/identity.ts'

export interface Identity extends KeyIdentity {
  /** Whether this start created the key. */
  created: boolean
}

export const IDENTITY_FILE = 'identity.json'

export function loadOrCreateIdentity(dataDir: string): Identity {
  const { seed, created } = loadOrCreateKeyFile(join(dataDir, IDENTITY_FILE), 'fogmesh-agent-identity')
  return { ...identityFromSeed(seed), created }
}
