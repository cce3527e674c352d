/**
 * How a sensor checks what arrives on its `replyTo`. On an anonymous broker
 * anyone can publish there, so a sensor that cares takes only an answer that
 * verifies:
 *
 *  1. the gateway's signature: `gatewaySignature` is an ed25519 `forward`
 *     statement (protocol/signed-statement.ts) over the answer without
 *     `output`/`sealedOutput` (their hash, `outputSha256`, is covered), by
 *     the key of the gateway `gateway` names — read once from its signed,
 *     retained `fm/v1/gateways/<id>/presence` (check that the key derives to
 *     the id) and pinned. Only the gateway that ran the job can sign it.
 *  2. it is the answer to this sensor's job: `id` is the id it sent; for an
 *     ok answer the output hashes to `outputSha256` (for a sealed job
 *     sha256(salt ‖ output)).
 *  3. end to end, the agent's own signature (`signature`, over `jobId`,
 *     protocol/signature.ts) verifies with the `publicKey` in the agent's
 *     signed presence `fm/v1/agents/<agent>/presence` — the agent the
 *     gateway chose vouched for exactly this output.
 *
 * `checkForwarded` does 1 and 2, and 3 when given the agent's key.
 */
import { createHash } from 'node:crypto'
import { verifyResult, type Signer } from './signature.ts'
import { signStatement, verifyStatement } from './signed-statement.ts'

export const FORWARD_UNSIGNED = ['output', 'sealedOutput'] as const

/** Signs a forwarded answer as a gateway: `gateway` and `gatewaySignature` added. */
export function signForwarded(wire: Record<string, unknown>, gateway: { id: string; signer: Signer }): Record<string, unknown> {
  const body = { ...wire, gateway: gateway.id }
  return { ...body, gatewaySignature: signStatement('forward', body, gateway.signer, FORWARD_UNSIGNED, 'gatewaySignature') }
}

export interface ForwardExpectation {
  /** The id the sensor submitted. */
  id: string
  /** The gateway's ed25519 key (hex), pinned from its presence. */
  gatewayKey: string
  /** The agent's ed25519 key from its signed presence: checks the agent's signature too. */
  agentKey?: string
  /** The output, when already opened (sealed replies); else `output` is decoded from the answer. */
  output?: Buffer
}

/** Undefined when the answer verifies, else why not. */
export function checkForwarded(wire: Readonly<Record<string, unknown>>, e: ForwardExpectation): string | undefined {
  if (!verifyStatement('forward', wire, e.gatewayKey, FORWARD_UNSIGNED, 'gatewaySignature')) return 'gatewaySignature does not verify with the gateway key'
  if (wire.id !== e.id) return `answers ${String(wire.id)}, not ${e.id}`
  if (wire.status !== 'ok') return undefined // a signed error from the gateway
  const out = e.output ?? (typeof wire.output === 'string' ? Buffer.from(wire.output, 'base64') : undefined)
  if (!out) return 'ok answer without output'
  const framed = wire.sealed && typeof wire.salt === 'string' && !e.output ? Buffer.concat([Buffer.from(wire.salt, 'base64'), out]) : out
  if (createHash('sha256').update(framed).digest('hex') !== wire.outputSha256) return 'output does not hash to outputSha256'
  if (e.agentKey) {
    const r = { ...(wire as Record<string, never>), id: String(wire.jobId) } as unknown as Parameters<typeof verifyResult>[0]
    if (!verifyResult(r, e.agentKey)) return "the agent's signature does not verify with its advertised key"
  }
  return undefined
}
