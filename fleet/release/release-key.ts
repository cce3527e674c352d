/**
 * The fleet's release key: an ed25519 key pair. The secret half stays with the
 * operator (`fogmesh release keygen` writes it mode 0600); agents are given the
 * public half (`--release-key HEX|FILE`) and take only releases it signed.
 */
import { createHash, randomBytes } from 'node:crypto'
import { existsSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { ErrorCode, FogmeshError } from '../../protocol/errors.ts'
import { createSigner, publicKeyFromSeed, type Signer } from '../../protocol/signature.ts'

export const RELEASE_KEY_KIND = 'fogmesh-release-key'

interface ReleaseKeyFile {
  kind: typeof RELEASE_KEY_KIND
  version: 1
  /** 32-byte ed25519 seed, hex. Secret. */
  seed: string
  publicKey: string
}

export interface ReleaseKey {
  publicKey: string
  keyId: string
  signer: Signer
}

/** A short name for a public key: the first 16 hex characters of its sha256 (what a manifest's `keyId` carries). */
export function releaseKeyId(publicKeyHex: string): string {
  return createHash('sha256').update(Buffer.from(publicKeyHex, 'hex')).digest('hex').slice(0, 16)
}

const keyError = (message: string) => new FogmeshError(ErrorCode.usage, message)

/** Writes a new key pair to `path` (secret, mode 0600) and `path.pub` (the public key in hex); refuses to overwrite. */
export function generateReleaseKey(path: string): { publicKey: string; keyId: string; publicPath: string } {
  if (existsSync(path)) throw keyError(`release key ${path} exists already: not overwritten (a fleet's agents trust the key they were given)`)
  const seed = randomBytes(32)
  const publicKey = Buffer.from(publicKeyFromSeed(seed)).toString('hex')
  const file: ReleaseKeyFile = { kind: RELEASE_KEY_KIND, version: 1, seed: seed.toString('hex'), publicKey }
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(file, null, 2) + '\n', { mode: 0o600, flag: 'wx' })
  renameSync(tmp, path)
  writeFileSync(`${path}.pub`, `${publicKey}\n`, { mode: 0o644 })
  return { publicKey, keyId: releaseKeyId(publicKey), publicPath: `${path}.pub` }
}

/** The secret key in `path` (what `release keygen` wrote). */
export function readReleaseKey(path: string): ReleaseKey {
  let raw: Partial<ReleaseKeyFile>
  try {
    const text = readFileSync(path, 'utf8')
    if (/^\s*[0-9a-fA-F]{64}\s*$/.test(text)) throw keyError(`${path} holds a public key only: signing takes the secret key file (the one fogmesh release keygen --out FILE wrote, beside FILE.pub)`)
    raw = JSON.parse(text) as Partial<ReleaseKeyFile>
  } catch (err) {
    if (err instanceof FogmeshError) throw err
    const code = (err as NodeJS.ErrnoException).code
    throw keyError(code ? `cannot read release key ${path}: ${code}` : `release key ${path} is not valid JSON`)
  }
  if (raw.kind !== RELEASE_KEY_KIND || typeof raw.seed !== 'string' || !/^[0-9a-f]{64}$/.test(raw.seed)) {
    throw keyError(`${path} is not a fogmesh release key (made by fogmesh release keygen)`)
  }
  const signer = createSigner(Buffer.from(raw.seed, 'hex'))
  const publicKey = Buffer.from(signer.publicKey).toString('hex')
  if (raw.publicKey !== undefined && raw.publicKey !== publicKey) throw keyError(`release key ${path}: publicKey does not match its seed`)
  return { publicKey, keyId: releaseKeyId(publicKey), signer }
}

/**
 * A trusted public key given as 64 hex characters, or a file holding them (`KEY.pub`),
 * or the secret key file itself (its public half is taken).
 */
export function parseTrustedKey(value: string): string {
  const v = value.trim()
  if (/^[0-9a-fA-F]{64}$/.test(v)) return v.toLowerCase()
  let text: string
  try {
    text = readFileSync(v, 'utf8').trim()
  } catch (err) {
    throw keyError(`--release-key: neither 64 hex characters nor a readable file (${v}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'})`)
  }
  if (/^[0-9a-fA-F]{64}$/.test(text)) return text.toLowerCase()
  try {
    const parsed = JSON.parse(text) as Partial<ReleaseKeyFile>
    if (parsed.kind === RELEASE_KEY_KIND && typeof parsed.publicKey === 'string' && /^[0-9a-f]{64}$/.test(parsed.publicKey)) return parsed.publicKey
  } catch {
    // not JSON either
  }
  throw keyError(`--release-key: ${v} holds no ed25519 public key (64 hex characters, as release keygen writes to KEY.pub)`)
}
