/**
 * Checks a result against the assignment it answers: the right agent, module
 * and input, an output that hashes to what it claims, and a signature that
 * verifies with the key the agent advertised. Anything else is garbage and
 * costs the agent the job.
 */
import { createHash } from 'node:crypto'
import type { Result } from '../protocol/messages.ts'
import { verifyResult } from '../protocol/signature.ts'

export interface Expected {
  agent: string
  publicKey: string
  module: string
  inputSha256: string
}

/** Returns the decoded output (for ok results) or a reason the result is refused. */
export function verifyAgainst(r: Result, e: Expected): { ok: true; output: Buffer | undefined } | { ok: false; reason: string } {
  if (r.agent !== e.agent) return { ok: false, reason: `answered by ${r.agent}, assigned to ${e.agent}` }
  if (r.module !== e.module) return { ok: false, reason: 'result names another module' }
  if (r.inputSha256 !== e.inputSha256) return { ok: false, reason: 'result names another input' }
  let output: Buffer | undefined
  if (r.status === 'ok') {
    if (r.output === undefined || r.outputSha256 === undefined) return { ok: false, reason: 'ok result without output' }
    output = Buffer.from(r.output, 'base64')
    if (createHash('sha256').update(output).digest('hex') !== r.outputSha256) {
      return { ok: false, reason: 'output does not hash to outputSha256' }
    }
  } else if (!r.error) {
    return { ok: false, reason: 'error result without error' }
  }
  if (!verifyResult(r, e.publicKey)) return { ok: false, reason: 'signature does not verify with the agent key' }
  return { ok: true, output }
}
