/**
 * An ed25519 identity of the mesh — an agent's, a requester's, a gateway's —
 * and the X25519 box key that derives from the same seed (protocol/seal.ts).
 * The id is the first 20 hex characters of sha256(publicKey): anyone can
 * check that a key belongs to the id it claims.
 *
 * Kept in a key file (mode 0600, write-then-rename, reused after) or made
 * fresh in memory for one process.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { randomBytes } from 'node:crypto'
import { dirname } from 'node:path'
import { agentIdFromPublicKey } from './agent-id.ts'
import { ErrorCode, FogmeshError } from './errors.ts'
import { boxKeyPairFromSeed, type BoxKeyPair } from './seal.ts'
import { createSigner, publicKeyFromSeed, type Signer } from './signature.ts'

export interface KeyIdentity {
  id: string
  publicKeyHex: string
  signer: Signer
  box: BoxKeyPair
}

export function identityFromSeed(seed: Uint8Array): KeyIdentity {
  const signer = createSigner(seed)
  const publicKeyHex = Buffer.from(signer.publicKey).toString('hex')
  return { id: agentIdFromPublicKey(signer.publicKey), publicKeyHex, signer, box: boxKeyPairFromSeed(seed) }
}

/** A fresh identity that lives as long as the process. */
export function ephemeralIdentity(): KeyIdentity {
  return identityFromSeed(randomBytes(32))
}

export type KeyFileKind = 'fogmesh-agent-identity' | 'fogmesh-requester-identity'

interface KeyFile {
  kind: KeyFileKind
  version: 1
  /** 32-byte ed25519 seed, hex. */
  seed: string
  publicKey: string
}

/** The seed in `path`, created there (0600) when there is none; `created` says which. */
export function loadOrCreateKeyFile(path: string, kind: KeyFileKind): { seed: Buffer; created: boolean } {
  mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
  if (existsSync(path)) {
    const mode = statSync(path).mode & 0o777
    if (mode & 0o077) chmodSync(path, 0o600)
    return { seed: readSeed(path, kind), created: false }
  }
  const seed = randomBytes(32)
  const file: KeyFile = { kind, version: 1, seed: seed.toString('hex'), publicKey: Buffer.from(publicKeyFromSeed(seed)).toString('hex') }
  // write-then-rename so a crash never leaves half a key behind
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(file, null, 2) + '\n', { mode: 0o600, flag: 'wx' })
  renameSync(tmp, path)
  return { seed, created: true }
}

function readSeed(path: string, kind: KeyFileKind): Buffer {
  let file: Partial<KeyFile>
  try {
    file = JSON.parse(readFileSync(path, 'utf8')) as Partial<KeyFile>
  } catch (err) {
    throw new FogmeshError(ErrorCode.usage, `identity file ${path} is not valid JSON`, { cause: err })
  }
  if (file.kind !== kind || typeof file.seed !== 'string' || !/^[0-9a-f]{64}$/.test(file.seed)) {
    throw new FogmeshError(ErrorCode.usage, `identity file ${path} is not a ${kind.replace('fogmesh-', 'fogmesh ').replace('-identity', '')} identity`)
  }
  const seed = Buffer.from(file.seed, 'hex')
  const pub = Buffer.from(publicKeyFromSeed(seed)).toString('hex')
  if (file.publicKey !== undefined && file.publicKey !== pub) {
    throw new FogmeshError(ErrorCode.usage, `identity file ${path}: publicKey does not match seed`)
  }
  return seed
}

/** The identity kept in `path` (created there on first use). */
export function loadOrCreateIdentityFile(path: string, kind: KeyFileKind): KeyIdentity & { created: boolean } {
  const { seed, created } = loadOrCreateKeyFile(path, kind)
  return { ...identityFromSeed(seed), created }
}
