import { createHash } from 'node:crypto'

/**
 * An agent's id is derived from its ed25519 public key: the first 20 hex
 * characters of sha256(publicKey). Anyone can check that an advertised key
 * belongs to the id it claims, so a presence cannot borrow another agent's id.
 */
export function agentIdFromPublicKey(publicKey: Uint8Array | string): string {
  if (typeof publicKey !== 'string') return idOf(publicKey)
  // a key seen before (every assignment of a requester, every presence of an agent): no hash again
  let id = ids.get(publicKey)
  if (id === undefined) {
    id = idOf(Buffer.from(publicKey, 'hex'))
    if (ids.size >= MAX_CACHED_IDS) ids.clear()
    ids.set(publicKey, id)
  }
  return id
}

/** Hex keys whose ids are remembered (a bound: cleared when full; keys are 64 hex, ids 20). */
export const MAX_CACHED_IDS = 4096
const ids = new Map<string, string>()
const idOf = (bytes: Uint8Array) => createHash('sha256').update(bytes).digest('hex').slice(0, 20)
