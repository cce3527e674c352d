/**
 * Checks a result against the assignment it answers: the right agent, module
 * and input, an output that hashes to what it claims, and a signature that
 * verifies with the key the agent advertised. A sealed job's output is
 * opened first (from the agent's box key, for this job) and its salted
 * hashes checked.
 *
 * A refusal says whether it is `attributable`: only a result whose signature
 * verifies with the assigned agent's key *and* whose signed fields are wrong
 * (another module, another input) is the agent's own doing. Anything else —
 * a bad signature, an output that does not hash to its signed hash, a missing
 * output, a sealed output that does not open — anyone on the broker could
 * have made from nothing or from the agent's genuine result, so it costs the
 * agent nothing: the requester ignores it and waits for the real one.
 */
import { createHash } from 'node:crypto'
import type { Result } from '../protocol/messages.ts'
import { resultSignatureProblem } from '../protocol/signature.ts'

export interface Expected {
  agent: string
  publicKey: string
  module: string
  /** sha256 of the input; for a sealed job sha256(salt ‖ input). */
  inputSha256: string
  /** A sealed job: its salt, and how to open the agent's sealed output. */
  sealed?: { salt: Buffer; open: (envelope: string) => Buffer }
}

export type Verification =
  | { ok: true; output: Buffer | undefined }
  | { ok: false; reason: string; attributable: boolean }

const no = (reason: string, attributable = false): Verification => ({ ok: false, reason, attributable })

/** Returns the decoded (opened) output for ok results, or why the result is refused. */
export function verifyAgainst(r: Result, e: Expected): Verification {
  if (r.agent !== e.agent) return no(`answered by ${r.agent}, assigned to ${e.agent}`)
  if (Boolean(r.sealed) !== Boolean(e.sealed)) return no(e.sealed ? 'a plain result for a sealed job' : 'a sealed result for a plain job')
  // either form: its own signature, or its proof into a batch whose root the signature covers (checked once per batch)
  const why = resultSignatureProblem(r, e.publicKey)
  if (why !== undefined) return no(`signature does not verify with the agent key (${why})`)
  if (r.module !== e.module) return no('result names another module', true)
  if (r.inputSha256 !== e.inputSha256) return no('result names another input', true)
  let output: Buffer | undefined
  if (r.status === 'ok') {
    if (r.outputSha256 === undefined) return no('ok result without outputSha256')
    if (e.sealed) {
      if (r.sealedOutput === undefined) return no('sealed ok result without sealedOutput')
      let framed: Buffer
      try {
        framed = e.sealed.open(r.sealedOutput)
      } catch {
        return no('sealed output does not open from the agent key for this job')
      }
      if (framed.length < e.sealed.salt.length || !framed.subarray(0, e.sealed.salt.length).equals(e.sealed.salt)) return no('sealed output carries another salt')
      if (sha256(framed) !== r.outputSha256) return no('sealed output does not hash to outputSha256')
      output = framed.subarray(e.sealed.salt.length)
    } else {
      if (r.output === undefined) return no('ok result without output')
      output = Buffer.from(r.output, 'base64')
      if (sha256(output) !== r.outputSha256) return no('output does not hash to outputSha256')
    }
  } else if (!r.error) {
    return no('error result without error')
  }
  return { ok: true, output }
}

const sha256 = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
