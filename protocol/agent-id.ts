import { createHash } from 'node:crypto'

/**
 * An agent's id is derived from its ed25519 public key: the first 20 hex
 * characters of sha256(publicKey). Anyone can check that an advertised key
 * belongs to the id it claims, so a presence cannot borrow another agent's id.
 */
export function agentIdFromPublicKey(publicKey: Uint8Array | string): string {
  const bytes = typeof publicKey === 'string' ? Buffer.from(publicKey, 'hex') : publicKey
  return createHash('sha256').update(bytes).digest('hex').slice(0, 20)
}
