/**
 * Signed JSON statements of the control plane: presence, heartbeats, bids,
 * assignments, gateway presence, stream starts and stops. The signed bytes are
 *
 *   fogmesh/<kind>/v1 \n <canonical JSON of the message without the fields in `omit`>
 *
 * (canonical JSON: RFC 8785, protocol/canonical-json.ts), signed with ed25519
 * and carried as `signature` (standard base64) in the message itself — or in
 * another field (`sigField`) when the message carries a `signature` of its
 * own that the statement covers (a gateway's `gatewaySignature` over a
 * forwarded result and the agent's signature in it). The
 * statement is rebuilt from the message as received, unknown fields included,
 * so a newer sender's extra fields are covered too and an older verifier
 * still checks them. The `kind` line keeps one statement from being replayed
 * as another (a heartbeat is never a bid).
 */
import { canonicalJson } from './canonical-json.ts'
import { signatureBytes, verifySignature, type Signer } from './signature.ts'

export type StatementKind = 'presence' | 'heartbeat' | 'bid' | 'assign' | 'gateway-presence' | 'forward' | 'stream-control'

/** The bytes signed: every field of `body` but `sigField` and those in `omit` (bulky payloads whose hash is covered instead). */
export function statementBytes(kind: StatementKind, body: Readonly<Record<string, unknown>>, omit: readonly string[] = [], sigField = 'signature'): Buffer {
  const covered: Record<string, unknown> = {}
  for (const [k, v] of Object.entries(body)) if (k !== sigField && !omit.includes(k)) covered[k] = v
  return Buffer.from(`fogmesh/${kind}/v1\n${canonicalJson(covered)}`)
}

/** The signature (base64) of `body` as a `kind` statement. */
export function signStatement(kind: StatementKind, body: Readonly<Record<string, unknown>>, signer: Signer, omit: readonly string[] = [], sigField = 'signature'): string {
  return Buffer.from(signer.sign(statementBytes(kind, body, omit, sigField))).toString('base64')
}

/** `body` with its `signature` added. */
export function signed<T extends Record<string, unknown>>(kind: StatementKind, body: T, signer: Signer, omit: readonly string[] = []): T & { signature: string } {
  return { ...body, signature: signStatement(kind, body, signer, omit) }
}

/** Whether `raw[sigField]` is `publicKeyHex`'s signature over `raw` as a `kind` statement. Never throws. */
export function verifyStatement(kind: StatementKind, raw: Readonly<Record<string, unknown>>, publicKeyHex: string, omit: readonly string[] = [], sigField = 'signature'): boolean {
  const sig = signatureBytes(raw[sigField])
  if (!sig) return false
  let bytes: Buffer
  try {
    bytes = statementBytes(kind, raw, omit, sigField)
  } catch {
    return false // not canonicalizable (too deep, a number JSON cannot carry)
  }
  return verifySignature(bytes, sig, publicKeyHex)
}
