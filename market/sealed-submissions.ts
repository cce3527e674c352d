/**
 * Sealed jobs at the gateway (docs/contract.md, "Sealed jobs").
 *
 * `"sealed": true` makes the gateway run the job sealed on the gateway→agent
 * leg (the requester seals the input to the assigned agent, the agent seals
 * the output back). A sensor that can encrypt also seals its leg: its input
 * as `sealedInput` to the gateway `sealedTo` (plaintext: the input bytes;
 * context `submit\n<id>\n<replyTo>`; sender key: its `replyKey`), and gets the
 * output back as `sealedOutput` sealed to its `replyKey` (plaintext: the
 * job's 16-byte salt ‖ the output; context `reply\n<id>\n<replyTo>`; sender:
 * the gateway's box key; opened, check it with protocol/forwarded-result.ts
 * passing the opened bytes as `output`). A sensor that cannot encrypt gets the output and
 * the salt in the clear on its replyTo (what it sent was in the clear too);
 * either way it can check the agent's sealed-result signature:
 * sha256(salt ‖ input) = inputSha256, sha256(salt ‖ output) = outputSha256.
 *
 * The gateway advertises its keys in a signed, retained presence on
 * `fm/v1/gateways/<id>/presence` (its id: sha256 of its ed25519 key, first 20 hex).
 */
import { ValidationError } from '../protocol/errors.ts'
import type { KeyIdentity } from '../protocol/identity.ts'
import type { GatewayPresence, JobSubmit } from '../protocol/messages.ts'
import { frameSalted, SealError, sensorSealContext, type Sealer } from '../protocol/seal.ts'
import { signed } from '../protocol/signed-statement.ts'

export type Opened = { input: Buffer } | { notOurs: true } | { error: ValidationError | SealError }

/** The input of a submission: as sent, or opened from the sensor's seal. */
export function submissionInput(job: JobSubmit, gatewayId: string, sealer: Sealer): Opened {
  if (job.inputBlob !== undefined) {
    // a content-addressed input: the agent fetches it (protocol/blobs/); the gateway only names it
    if (job.input !== undefined || job.sealedInput !== undefined) return { error: new ValidationError('input', 'one input: a base64 string, {"sha256": ...} or sealedInput') }
    if (job.sealed) return { error: new ValidationError('input', 'a base64 string for a sealed job (a blob input is not sealed)') }
    return { input: Buffer.alloc(0) }
  }
  if (job.sealedInput === undefined) {
    if (job.input === undefined) return { error: new ValidationError('input', 'a base64 string (or sealedInput)') }
    return { input: job.input }
  }
  if (job.input !== undefined) return { error: new ValidationError('input', 'either input or sealedInput, not both') }
  if (job.sealedTo !== gatewayId) return job.sealedTo === undefined ? { error: new ValidationError('sealedTo', `the id of the gateway it is sealed to (this one is ${gatewayId})`) } : { notOurs: true }
  if (job.replyKey === undefined) return { error: new ValidationError('replyKey', 'the box key the sensor sealed with') }
  try {
    return { input: sealer.open(job.sealedInput, job.replyKey, sensorSealContext('submit', job.id, job.replyTo)) }
  } catch (err) {
    return { error: err as SealError }
  }
}

/** The reply for a sensor that gave a `replyKey`: output and salt sealed to it. */
export function sealReply(wire: Record<string, unknown>, job: JobSubmit, sealer: Sealer): Record<string, unknown> {
  if (job.replyKey === undefined) return wire
  const { output, salt, ...rest } = wire as { output?: string; salt?: string }
  if (output === undefined) return rest // an error: nothing to seal
  const framed = frameSalted(Buffer.from(salt ?? '', 'base64'), Buffer.from(output, 'base64'))
  return { ...rest, sealedOutput: sealer.seal(framed, job.replyKey, sensorSealContext('reply', job.id, job.replyTo)) }
}

export function gatewayPresence(identity: KeyIdentity, name: string, since: number): GatewayPresence {
  return signed('gateway-presence', { status: 'online' as const, id: identity.id, name, publicKey: identity.publicKeyHex, boxKey: identity.box.publicKeyHex, since }, identity.signer)
}
