/**
 * An agent's broker password: a short-lived token signed by its ed25519 key,
 * so that an agent proves its id without any secret stored on the broker.
 *
 *   username  the agent id: the first 20 hex characters of sha256(publicKey)
 *   password  fmat1.<publicKey, 64 hex>.<issuedAt, ms since 1970, decimal>.<nonce, 32 hex>.<signature, base64url>
 *
 * The signature is ed25519 over these lines joined by `\n`:
 *
 *   fogmesh/agent-token/v1
 *   <agent id>
 *   <publicKey hex>
 *   <issuedAt>
 *   <nonce>
 *
 * The broker checks, in this order: the shape, that the id is the hash of the
 * key, the signature, that `issuedAt` is within its window of its own clock
 * (default ±5 minutes: Pis without a real-time clock drift), and that it never
 * saw the nonce before (broker/auth/nonce-book.ts). A token therefore works
 * once, within minutes; the agent makes a new one for every (re)connect.
 *
 * The same key signs the agent's results (protocol/signature.ts); this file
 * only needs a `Signer`, so other statements (presence, bids) can reuse it.
 */
import { randomBytes } from 'node:crypto'
import { agentIdFromPublicKey } from './agent-id.ts'
import { AuthError } from './errors.ts'
import { verifySignature, type Signer } from './signature.ts'

export const AGENT_TOKEN_PREFIX = 'fmat1'
const STATEMENT = 'fogmesh/agent-token/v1'
/** Tokens are at most this long; anything longer is not a token (and not worth parsing). */
export const MAX_AGENT_TOKEN_CHARS = 256

const TOKEN = /^fmat1\.([0-9a-f]{64})\.(0|[1-9][0-9]{0,15})\.([0-9a-f]{32})\.([A-Za-z0-9_-]{86})$/
const AGENT_ID = /^[0-9a-f]{20}$/

export interface AgentTokenParts {
  id: string
  publicKey: string
  issuedAt: number
  nonce: string
}

/** The bytes the agent signs. */
export function agentTokenStatement(p: AgentTokenParts): Buffer {
  return Buffer.from([STATEMENT, p.id, p.publicKey, String(p.issuedAt), p.nonce].join('\n'))
}

/** A fresh token for `signer`: `{username, password}` for the MQTT CONNECT. */
export function createAgentToken(signer: Signer, opts: { now?: number; nonce?: string } = {}): { username: string; password: string } {
  const publicKey = Buffer.from(signer.publicKey).toString('hex')
  const id = agentIdFromPublicKey(signer.publicKey)
  const issuedAt = Math.floor(opts.now ?? Date.now())
  const nonce = opts.nonce ?? randomBytes(16).toString('hex')
  const signature = Buffer.from(signer.sign(agentTokenStatement({ id, publicKey, issuedAt, nonce }))).toString('base64url')
  return { username: id, password: `${AGENT_TOKEN_PREFIX}.${publicKey}.${issuedAt}.${nonce}.${signature}` }
}

/** Whether a password is shaped like an agent token at all (the broker then takes the agent path). */
export function looksLikeAgentToken(password: string): boolean {
  return password.startsWith(`${AGENT_TOKEN_PREFIX}.`)
}

/**
 * Checks a token against the username it came with and the broker's clock.
 * Throws an AuthError whose `reason` is one of `token_malformed`, `token_wrong_id`,
 * `token_bad_signature`, `token_expired`, `token_from_future`; the caller still
 * has to check the nonce (replay) and admission.
 */
export function checkAgentToken(username: string, password: string, now: number, windowMs: number): AgentTokenParts {
  if (password.length > MAX_AGENT_TOKEN_CHARS) throw new AuthError('token_malformed', 'agent token: too long')
  const m = TOKEN.exec(password)
  if (!m) throw new AuthError('token_malformed', `agent token: expected ${AGENT_TOKEN_PREFIX}.<publicKey>.<issuedAt>.<nonce>.<signature>`)
  const [, publicKey, issued, nonce, signature] = m as unknown as [string, string, string, string, string]
  if (!AGENT_ID.test(username)) throw new AuthError('token_malformed', 'agent token: the username must be the agent id (20 hex characters)')
  const id = agentIdFromPublicKey(publicKey)
  if (id !== username) throw new AuthError('token_wrong_id', `agent token: key ${publicKey.slice(0, 12)}… is agent ${id}, not ${username}`)
  const issuedAt = Number(issued)
  const parts = { id, publicKey, issuedAt, nonce }
  if (!verifySignature(agentTokenStatement(parts), Buffer.from(signature, 'base64url'), publicKey)) {
    throw new AuthError('token_bad_signature', `agent token of ${id}: the signature does not verify`)
  }
  if (issuedAt < now - windowMs) throw new AuthError('token_expired', `agent token of ${id}: issued ${now - issuedAt} ms ago (window ${windowMs} ms)`)
  if (issuedAt > now + windowMs) throw new AuthError('token_from_future', `agent token of ${id}: issued ${issuedAt - now} ms in the future (window ${windowMs} ms); check the agent's clock`)
  return parts
}
