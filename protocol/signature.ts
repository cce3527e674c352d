/**
 * ed25519 signatures over results.
 *
 * OpenSSL (through node:crypto) signs ~100x faster than tweetnacl on this class
 * of machine, so it is used wherever the runtime has it; tweetnacl is the
 * fallback with byte-identical signatures (ed25519 is deterministic), which
 * the tests check. Public keys are parsed once and cached.
 */
import { createPrivateKey, createPublicKey, sign as cryptoSign, verify as cryptoVerify, type KeyObject } from 'node:crypto'
import nacl from 'tweetnacl'
import type { Result } from './messages.ts'
import { verifyBatched } from './batch-signature.ts'

export interface Signer {
  /** 32-byte public key. */
  readonly publicKey: Uint8Array
  sign(message: Uint8Array): Uint8Array
}

const b64url = (bytes: Uint8Array) => Buffer.from(bytes).toString('base64url')

function hasNodeEd25519(): boolean {
  try {
    createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(new Uint8Array(32)) }, format: 'jwk' })
    return true
  } catch {
    return false
  }
}

export const NODE_ED25519 = hasNodeEd25519()

/** Public key for a 32-byte ed25519 seed. */
export function publicKeyFromSeed(seed: Uint8Array): Uint8Array {
  return nacl.sign.keyPair.fromSeed(seed).publicKey
}

/** A signer over a 32-byte seed; `backend` forces one implementation (benchmarks, tests). */
export function createSigner(seed: Uint8Array, backend: 'auto' | 'node' | 'tweetnacl' = 'auto'): Signer {
  if (seed.length !== 32) throw new RangeError('seed: expected 32 bytes')
  const pair = nacl.sign.keyPair.fromSeed(seed)
  const useNode = backend === 'node' || (backend === 'auto' && NODE_ED25519)
  if (!useNode) {
    return { publicKey: pair.publicKey, sign: (m) => nacl.sign.detached(m, pair.secretKey) }
  }
  const key = createPrivateKey({
    key: { kty: 'OKP', crv: 'Ed25519', d: b64url(seed), x: b64url(pair.publicKey) },
    format: 'jwk',
  })
  return { publicKey: pair.publicKey, sign: (m) => cryptoSign(null, m, key) }
}

const publicKeys = new Map<string, KeyObject>()

function nodePublicKey(publicKeyHex: string): KeyObject {
  let key = publicKeys.get(publicKeyHex)
  if (!key) {
    key = createPublicKey({ key: { kty: 'OKP', crv: 'Ed25519', x: b64url(Buffer.from(publicKeyHex, 'hex')) }, format: 'jwk' })
    if (publicKeys.size > 10_000) publicKeys.clear()
    publicKeys.set(publicKeyHex, key)
  }
  return key
}

/** Verifies an ed25519 signature. Never throws: a malformed key or signature is simply not valid. */
export function verifySignature(
  message: Uint8Array,
  signature: Uint8Array,
  publicKeyHex: string,
  backend: 'auto' | 'node' | 'tweetnacl' = 'auto',
): boolean {
  if (signature.length !== 64 || !/^[0-9a-f]{64}$/.test(publicKeyHex)) return false
  try {
    if (backend === 'tweetnacl' || (backend === 'auto' && !NODE_ED25519)) {
      return nacl.sign.detached.verify(message, signature, Buffer.from(publicKeyHex, 'hex'))
    }
    return cryptoVerify(null, message, nodePublicKey(publicKeyHex), signature)
  } catch {
    return false
  }
}

/** The fields of a result that its signature covers. */
export type SignedResultFields = Pick<Result, 'id' | 'agent' | 'module' | 'inputSha256' | 'status' | 'outputSha256' | 'fuel'> & {
  error?: { code: string } | undefined
  /** A sealed job: the statement is `fogmesh/sealed-result/v1`, its hashes salted (sha256(salt ‖ data), protocol/seal.ts). */
  sealed?: boolean | undefined
}

/**
 * The exact bytes an agent signs for a result: newline-joined fields, none of
 * which can contain a newline (ids, hex digests, codes and integers). Anyone
 * holding the forwarded result and the agent's advertised key can rebuild it.
 * A sealed job's statement has the same lines under its own first line, and
 * its `inputSha256`/`outputSha256` are sha256(salt ‖ input/output) with the
 * job's 16-byte salt, which travels only inside the sealed payloads: the
 * signature commits to the plaintext without publishing a hash anyone could
 * brute-force from a low-entropy reading.
 */
export function resultStatement(r: SignedResultFields): Buffer {
  return Buffer.from(
    [
      r.sealed ? 'fogmesh/sealed-result/v1' : 'fogmesh/result/v1',
      r.id,
      r.agent,
      r.module,
      r.inputSha256,
      r.status,
      r.outputSha256 ?? '',
      r.error?.code ?? '',
      String(r.fuel),
    ].join('\n'),
  )
}

export function signResult(r: SignedResultFields, signer: Signer): string {
  return Buffer.from(signer.sign(resultStatement(r))).toString('base64')
}

/**
 * Whether `r` is signed by `publicKeyHex`, in either form: its own signature over its statement,
 * or (`batch` present) its statement's proof into a batch whose root the signature covers
 * (protocol/batch-signature.ts; each batch's signature checked once per process). Never throws.
 */
export function verifyResult(r: SignedResultFields & { signature: string; batch?: unknown }, publicKeyHex: string): boolean {
  return resultSignatureProblem(r, publicKeyHex) === undefined
}

/** Why `r`'s signature (either form) does not hold, or undefined when it does. Never throws. */
export function resultSignatureProblem(r: SignedResultFields & { signature: string; batch?: unknown }, publicKeyHex: string): string | undefined {
  let statement: Buffer
  try {
    statement = resultStatement(r)
  } catch {
    return 'result: not a result statement'
  }
  if (r.batch !== undefined && r.batch !== null) {
    const v = verifyBatched('result', statement, r.batch, r.signature, publicKeyHex)
    return v.ok ? undefined : v.reason
  }
  const sig = signatureBytes(r.signature)
  if (!sig) return 'signature: not an ed25519 signature in canonical base64'
  return verifySignature(statement, sig, publicKeyHex) ? undefined : 'signature: does not verify with this key'
}

const SIGNATURE_B64 = /^[A-Za-z0-9+/]{85}[AQgw]==$/

/**
 * The 64 bytes of an ed25519 signature written as standard base64 — in its one canonical form
 * (88 characters, `==`-padded, no stray characters: Node's decoder would skip those), or undefined.
 * So a signature that verifies has exactly one spelling.
 */
export function signatureBytes(b64: unknown): Buffer | undefined {
  return typeof b64 === 'string' && SIGNATURE_B64.test(b64) ? Buffer.from(b64, 'base64') : undefined
}
