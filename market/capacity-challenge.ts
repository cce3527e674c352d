/**
 * A Proof of Capacity challenge job and its check (wasm-modules/capacity): a SHA-256 chain of
 * `iterations` links from a random seed, answered as `segments` checkpoints. The challenger
 * audits a few random segments natively, recomputing each from the checkpoint before it: the
 * check costs `audits / segments` of the work (1% for 2 of 200), so checking an agent's slots
 * does not take the challenger's own capacity.
 */
import { createHash, randomBytes, randomInt } from 'node:crypto'

/** The 40-byte input: the seed, the chain length, the segment count. */
export function challengeInput(seed: Uint8Array, iterations: number, segments = 1): Buffer {
  if (seed.length !== 32) throw new RangeError('seed: expected 32 bytes')
  if (!Number.isInteger(iterations) || iterations < 0 || iterations > 0xffffffff) throw new RangeError(`iterations out of range: ${iterations}`)
  if (!Number.isInteger(segments) || segments < 1 || iterations % segments !== 0) throw new RangeError(`segments must be at least 1 and divide iterations (${segments})`)
  const b = Buffer.alloc(40)
  Buffer.from(seed).copy(b, 0)
  b.writeUInt32LE(iterations, 32)
  b.writeUInt32LE(segments, 36)
  return b
}

function chain(from: Buffer, links: number): Buffer {
  let h: Buffer = from
  for (let i = 0; i < links; i++) h = createHash('sha256').update(h).digest()
  return h
}

/** The whole answer, computed in full (tests and small chains). */
export function expectedAnswer(seed: Uint8Array, iterations: number, segments = 1): string {
  const per = iterations / segments
  let h: Buffer = Buffer.from(seed)
  let out = ''
  for (let k = 0; k < segments; k++) {
    h = chain(h, per)
    out += `${h.toString('hex')}\n`
  }
  return out
}

/**
 * Audits an answer: its form, and `audits` random segments recomputed. True when they all hold.
 * A segment the agent did not compute is caught with probability audits / segments.
 */
export function auditAnswer(answer: string, seed: Uint8Array, iterations: number, segments: number, audits: number): boolean {
  const lines = answer.split('\n')
  if (lines.length !== segments + 1 || lines[segments] !== '' || !lines.slice(0, segments).every((l) => /^[0-9a-f]{64}$/.test(l))) return false
  const per = iterations / segments
  // distinct segments, chosen at random (all of them when audits >= segments)
  const order = Array.from({ length: segments }, (_, i) => i)
  for (let i = 0; i < Math.min(audits, segments); i++) {
    const j = i + randomInt(segments - i)
    ;[order[i], order[j]] = [order[j]!, order[i]!]
    const k = order[i]!
    const from = k === 0 ? Buffer.from(seed) : Buffer.from(lines[k - 1]!, 'hex')
    if (chain(from, per).toString('hex') !== lines[k]) return false
  }
  return true
}

export function newSeed(): Buffer {
  return randomBytes(32)
}
