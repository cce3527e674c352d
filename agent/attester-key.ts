/**
 * The agent's attester: a secp256k1 key beside its ed25519 identity, created on first start and
 * kept in the data dir (mode 0600). The agent co-signs result statements with it when a
 * requester asks (assignments with `attest`), so the VerificationCourt can check who said what
 * with `ecrecover`. `fogmesh stake` binds it to the agent's registry account.
 */
import { randomBytes } from 'node:crypto'
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { computeAddress, SigningKey } from 'ethers'
import { ErrorCode, FogmeshError } from '../protocol/errors.ts'
import { Attester } from '../protocol/statement.ts'

export const ATTESTER_FILE = 'attester.json'

interface AttesterFile {
  kind: 'fogmesh-agent-attester'
  version: 1
  /** 0x + 64 hex: the secp256k1 private key */
  privateKey: string
  address: string
}

export function loadOrCreateAttester(dataDir: string): { attester: Attester; created: boolean } {
  mkdirSync(dataDir, { recursive: true, mode: 0o700 })
  const path = join(dataDir, ATTESTER_FILE)
  if (existsSync(path)) {
    if (statSync(path).mode & 0o077) chmodSync(path, 0o600)
    return { attester: readAttester(path), created: false }
  }
  const privateKey = `0x${randomBytes(32).toString('hex')}`
  const file: AttesterFile = { kind: 'fogmesh-agent-attester', version: 1, privateKey, address: computeAddress(new SigningKey(privateKey).publicKey) }
  const tmp = `${path}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify(file, null, 2) + '\n', { mode: 0o600, flag: 'wx' })
  renameSync(tmp, path)
  return { attester: new Attester(privateKey), created: true }
}

function readAttester(path: string): Attester {
  let file: Partial<AttesterFile>
  try {
    file = JSON.parse(readFileSync(path, 'utf8')) as Partial<AttesterFile>
  } catch (err) {
    throw new FogmeshError(ErrorCode.usage, `attester file ${path} is not valid JSON`, { cause: err })
  }
  if (file.kind !== 'fogmesh-agent-attester' || typeof file.privateKey !== 'string' || !/^0x[0-9a-f]{64}$/.test(file.privateKey)) {
    throw new FogmeshError(ErrorCode.usage, `attester file ${path} is not a fogmesh agent attester`)
  }
  const attester = new Attester(file.privateKey)
  if (file.address !== undefined && file.address !== attester.address) {
    throw new FogmeshError(ErrorCode.usage, `attester file ${path}: address does not match the key`)
  }
  return attester
}
