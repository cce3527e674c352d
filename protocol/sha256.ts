/**
 * SHA-256 in one call: node:crypto's one-shot `hash` (Node >= 20.12) where it exists — no Hash
 * object per digest, 2-4x createHash's update/digest for the small inputs of the job path
 * (an input, an output, a batch tree's 65-byte nodes) — else createHash.
 */
import * as crypto from 'node:crypto'

type OneShot = (algorithm: string, data: Uint8Array, outputEncoding: 'hex' | 'buffer') => string | Buffer
const oneShot = (crypto as unknown as { hash?: OneShot }).hash

/** sha256(bytes) as 64 lowercase hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return oneShot ? (oneShot('sha256', bytes, 'hex') as string) : crypto.createHash('sha256').update(bytes).digest('hex')
}

/** sha256(bytes) as 32 bytes. */
export function sha256Bytes(bytes: Uint8Array): Buffer {
  return oneShot ? (oneShot('sha256', bytes, 'buffer') as Buffer) : crypto.createHash('sha256').update(bytes).digest()
}

/** sha256(prefix ‖ a ‖ b) for a one-byte domain prefix (the batch tree's 0x00 leaves and 0x01 nodes), one buffer, one digest. */
export function sha256Prefixed(prefix: number, a: Uint8Array, b?: Uint8Array): Buffer {
  const all = Buffer.allocUnsafe(1 + a.length + (b?.length ?? 0))
  all[0] = prefix
  all.set(a, 1)
  if (b) all.set(b, 1 + a.length)
  return sha256Bytes(all)
}
