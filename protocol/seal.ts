/**
 * Sealed payloads: confidential job input and output without a TEE.
 *
 * Key agreement is X25519 between two static box keys (the agent's, advertised
 * in its signed presence; the requester's, carried in its signed assignment;
 * the gateway's, in its signed gateway presence; a sensor's, in its job as
 * `replyKey`); the shared secret is computed once per peer and cached. Every
 * message gets a fresh 16-byte nonce; HKDF-SHA256 (RFC 5869) turns shared
 * secret, nonce, both public keys, the direction and a context string (what
 * the payload is and for which job) into a one-time ChaCha20-Poly1305 key and
 * IV. So a sealed payload opens only for its recipient, only as coming from
 * its sender, only in its context: an input sealed for job A on agent X is no
 * input for job B, nor for agent Y, and cannot be reflected back.
 *
 * Why node:crypto (OpenSSL) and ChaCha20-Poly1305: no new dependency on the
 * devices, the same library that already signs our results, constant-time
 * X25519, and ChaCha20 is fast in software — the Raspberry Pi 4's Cortex-A72
 * has no AES instructions, where AES-GCM would be several times slower.
 *
 * Envelope (one string): `fms1.<nonce, base64url>.<ciphertext ‖ 16-byte tag, base64url>`.
 * The box private key derives from the identity's 32-byte ed25519 seed
 * (HKDF, info `fogmesh/box-key/v1`), so no second key file is needed.
 */
import { createCipheriv, createDecipheriv, createHmac, createPrivateKey, createPublicKey, diffieHellman, randomBytes, type KeyObject } from 'node:crypto'
import { ErrorCode, FogmeshError } from './errors.ts'

export interface BoxKeyPair {
  /** X25519 public key, 64 hex characters (as advertised). */
  readonly publicKeyHex: string
  readonly privateKey: KeyObject
}

export const ENVELOPE_PREFIX = 'fms1'
const NONCE_BYTES = 16
const TAG_BYTES = 16
/** Peers whose shared secret is kept. */
export const DEFAULT_SHARED_CACHE = 4096

// PKCS#8 DER prefix of an X25519 private key (RFC 8410): the raw 32 bytes follow
const PKCS8_X25519 = Buffer.from('302e020100300506032b656e04220420', 'hex')

/** A sealed payload could not be opened: wrong key, wrong sender, wrong context, tampered, or not an envelope. */
export class SealError extends FogmeshError {
  override name = 'SealError'
  constructor(message: string) {
    super(ErrorCode.sealBroken, message)
  }
}

/** HKDF-SHA256 (RFC 5869), extract then expand, for up to 255 × 32 bytes. */
export function hkdfSha256(ikm: Uint8Array, salt: Uint8Array, info: Uint8Array, length: number): Buffer {
  const prk = createHmac('sha256', salt.length ? salt : Buffer.alloc(32)).update(ikm).digest()
  const blocks: Buffer[] = []
  let prev: Buffer = Buffer.alloc(0)
  for (let i = 1; blocks.length * 32 < length; i++) {
    prev = createHmac('sha256', prk).update(prev).update(info).update(Buffer.of(i)).digest()
    blocks.push(prev)
  }
  return Buffer.concat(blocks).subarray(0, length)
}

export function boxKeyPairFromPrivate(raw: Uint8Array): BoxKeyPair {
  if (raw.length !== 32) throw new RangeError('box private key: expected 32 bytes')
  const privateKey = createPrivateKey({ key: Buffer.concat([PKCS8_X25519, raw]), format: 'der', type: 'pkcs8' })
  const x = createPublicKey(privateKey).export({ format: 'jwk' }).x as string
  return { publicKeyHex: Buffer.from(x, 'base64url').toString('hex'), privateKey }
}

/** The box key of an identity: derived from its ed25519 seed, so one secret holds both. */
export function boxKeyPairFromSeed(seed: Uint8Array): BoxKeyPair {
  return boxKeyPairFromPrivate(hkdfSha256(seed, Buffer.alloc(0), Buffer.from('fogmesh/box-key/v1'), 32))
}

export function generateBoxKeyPair(): BoxKeyPair {
  return boxKeyPairFromPrivate(randomBytes(32))
}

const HEX64 = /^[0-9a-f]{64}$/

/** Seals to and opens from peers, with the shared secret of each peer cached (bounded). */
export class Sealer {
  private readonly shared = new Map<string, Buffer>()

  constructor(readonly own: BoxKeyPair, private readonly cacheSize = DEFAULT_SHARED_CACHE) {}

  /** Seals `plaintext` for `recipientHex` in `context` (e.g. `assign\n<job id>\n<agent id>`). */
  seal(plaintext: Uint8Array, recipientHex: string, context: string): string {
    const nonce = randomBytes(NONCE_BYTES)
    const { key, iv } = this.keys(recipientHex, this.own.publicKeyHex, recipientHex, nonce, context)
    const c = createCipheriv('chacha20-poly1305', key, iv, { authTagLength: TAG_BYTES })
    const body = Buffer.concat([c.update(plaintext), c.final(), c.getAuthTag()])
    return `${ENVELOPE_PREFIX}.${nonce.toString('base64url')}.${body.toString('base64url')}`
  }

  /** Opens what `senderHex` sealed for us in `context`; a SealError for anything else. */
  open(envelope: string, senderHex: string, context: string): Buffer {
    const parts = typeof envelope === 'string' ? envelope.split('.') : []
    if (parts.length !== 3 || parts[0] !== ENVELOPE_PREFIX) throw new SealError(`not a sealed envelope (${ENVELOPE_PREFIX}.<nonce>.<ciphertext>)`)
    const nonce = Buffer.from(parts[1]!, 'base64url')
    const body = Buffer.from(parts[2]!, 'base64url')
    if (nonce.length !== NONCE_BYTES || body.length < TAG_BYTES) throw new SealError('sealed envelope: nonce or ciphertext too short')
    const { key, iv } = this.keys(senderHex, senderHex, this.own.publicKeyHex, nonce, context)
    try {
      const d = createDecipheriv('chacha20-poly1305', key, iv, { authTagLength: TAG_BYTES })
      d.setAuthTag(body.subarray(body.length - TAG_BYTES))
      return Buffer.concat([d.update(body.subarray(0, body.length - TAG_BYTES)), d.final()])
    } catch {
      throw new SealError('sealed payload does not open: another recipient, sender or context, or tampered')
    }
  }

  private keys(peerHex: string, fromHex: string, toHex: string, nonce: Buffer, context: string): { key: Buffer; iv: Buffer } {
    const okm = hkdfSha256(this.secretWith(peerHex), nonce, Buffer.from(`fogmesh/seal/v1\n${fromHex}\n${toHex}\n${context}`), 44)
    return { key: okm.subarray(0, 32), iv: okm.subarray(32, 44) }
  }

  private secretWith(peerHex: string): Buffer {
    let s = this.shared.get(peerHex)
    if (s) return s
    if (!HEX64.test(peerHex)) throw new SealError('box key: expected 64 hex characters')
    let peer: KeyObject
    try {
      peer = createPublicKey({ key: { kty: 'OKP', crv: 'X25519', x: Buffer.from(peerHex, 'hex').toString('base64url') }, format: 'jwk' })
      s = diffieHellman({ privateKey: this.own.privateKey, publicKey: peer })
    } catch {
      throw new SealError('box key: not a usable X25519 public key')
    }
    // a low-order point gives an all-zero secret: everyone could compute it
    if (s.every((b) => b === 0)) throw new SealError('box key: a low-order point')
    if (this.shared.size >= this.cacheSize) this.shared.delete(this.shared.keys().next().value as string)
    this.shared.set(peerHex, s)
    return s
  }
}

/** Every sealed payload of a job starts with the job's 16-byte salt: the signed commitments are sha256(salt ‖ data). */
export const SALT_BYTES = 16

export function frameSalted(salt: Uint8Array, data: Uint8Array): Buffer {
  return Buffer.concat([salt, data])
}

export function unframeSalted(plain: Buffer): { salt: Buffer; data: Buffer } {
  if (plain.length < SALT_BYTES) throw new SealError(`sealed payload shorter than its ${SALT_BYTES}-byte salt`)
  return { salt: plain.subarray(0, SALT_BYTES), data: plain.subarray(SALT_BYTES) }
}

/**
 * The contexts a job's sealed payloads are bound to: `assign` (the input, requester → agent),
 * `result` (the output, agent → requester), for one job on one agent; `submit` and `reply`
 * (sensor ⇄ gateway) for one submitted id on one reply topic.
 */
export function jobSealContext(leg: 'assign' | 'result', jobId: string, agentId: string): string {
  return `${leg}\n${jobId}\n${agentId}`
}

export function sensorSealContext(leg: 'submit' | 'reply', id: string, replyTo: string): string {
  return `${leg}\n${id}\n${replyTo}`
}
