/**
 * A Proof of Capacity challenge job and its check: a SHA-256 hash chain from a random seed
 * (wasm-modules/capacity), checked natively — OpenSSL's SHA-256 is far faster than the metered
 * WebAssembly the agent runs, so checking costs the challenger little.
 */
import { createHash, randomBytes } from 'node:crypto'

/** The 36-byte input: the seed and the chain length. */
export function challengeInput(seed: Uint8Array, iterations: number): Buffer {
  if (seed.length !== 32) throw new RangeError('seed: expected 32 bytes')
  if (!Number.isInteger(iterations) || iterations < 0 || iterations > 0xffffffff) throw new RangeError(`iterations out of range: ${iterations}`)
  const b = Buffer.alloc(36)
  Buffer.from(seed).copy(b, 0)
  b.writeUInt32LE(iterations, 32)
  return b
}

/** What the module must print for this seed and length. */
export function expectedAnswer(seed: Uint8Array, iterations: number): string {
  let h = Buffer.from(seed)
  for (let i = 0; i < iterations; i++) h = createHash('sha256').update(h).digest()
  return `${h.toString('hex')}\n`
}

export function newSeed(): Buffer {
  return randomBytes(32)
}
