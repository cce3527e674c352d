/**
 * The agent's ed25519 identity: created on first start, kept in the data dir
 * (mode 0600), reused after. The agent id derives from the public key.
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { agentIdFromPublicKey } from '../protocol/agent-id.ts'
import { ErrorCode, FogmeshError, ValidationError } from '../protocol/errors.ts'
import { createSigner, publicKeyFromSeed, type Signer } from '../protocol/signature.ts'

export interface Identity {
  id: string
  publicKeyHex: string
  signer: Signer
  /** Whether this start created the key. */
  created: boolean
}

export const IDENTITY_FILE = 'identity.json'

interface IdentityFile {
  kind: 'fogmesh-agent-identity'
  version: 1
  /** 32-byte ed25519 seed, hex. */
  seed: string
  publicKey: string
}

export function loadOrCreateIdentity(dataDir: string): Identity {
  try {
    mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  } catch (err) {
    throw new ValidationError('dataDir', `a directory the agent can create and write (${dataDir}: ${(err as NodeJS.ErrnoException).code ?? String(err)})`, { cause: err })
  }
  const path = join(dataDir, IDENTITY_FILE)
  let created = false
  let seed: Buffer
  if (existsSync(path)) {
    const mode = statSync(path).mode & 0o777
    if (mode & 0o077) chmodSync(path, 0o600)
    seed = readSeed(path)
  } else {
    seed = randomBytes(32)
    const file: IdentityFile = {
      kind: 'fogmesh-agent-identity',
      version: 1,
      seed: seed.toString('hex'),
      publicKey: Buffer.from(publicKeyFromSeed(seed)).toString('hex'),
    }
    // write-then-rename so a crash never leaves half a key behind
    const tmp = `${path}.${process.pid}.tmp`
    writeFileSync(tmp, JSON.stringify(file, null, 2) + '\n', { mode: 0o600, flag: 'wx' })
    renameSync(tmp, path)
    created = true
  }
  const signer = createSigner(seed)
  const publicKeyHex = Buffer.from(signer.publicKey).toString('hex')
  return { id: agentIdFromPublicKey(signer.publicKey), publicKeyHex, signer, created }
}

function readSeed(path: string): Buffer {
  let file: Partial<IdentityFile>
  try {
    file = JSON.parse(readFileSync(path, 'utf8')) as Partial<IdentityFile>
  } catch (err) {
    throw new FogmeshError(ErrorCode.usage, `identity file ${path} is not valid JSON`, { cause: err })
  }
  if (file.kind !== 'fogmesh-agent-identity' || typeof file.seed !== 'string' || !/^[0-9a-f]{64}$/.test(file.seed)) {
    throw new FogmeshError(ErrorCode.usage, `identity file ${path} is not a fogmesh agent identity`)
  }
  const seed = Buffer.from(file.seed, 'hex')
  const pub = Buffer.from(publicKeyFromSeed(seed)).toString('hex')
  if (file.publicKey !== undefined && file.publicKey !== pub) {
    throw new FogmeshError(ErrorCode.usage, `identity file ${path}: publicKey does not match seed`)
  }
  return seed
}
