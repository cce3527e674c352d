/**
 * Password hashes in Mosquitto 2's own format, so that `fogmesh auth export
 * --mosquitto` can hand the same hashes to Mosquitto (it never sees a password):
 *
 *   $7$<iterations>$<salt, base64 of 12 bytes>$<PBKDF2-HMAC-SHA512(password, salt, iterations, 64 bytes), base64>
 *
 * Cost: 20,000 iterations by default (~35 ms per check on this project's shared 2-core
 * x64 machine, a few times that on a Pi; Mosquitto's own default is 101). A
 * check runs on libuv's thread pool (node:crypto `pbkdf2`), never on the event
 * loop, and compares in constant time.
 */
import { pbkdf2, randomBytes, timingSafeEqual } from 'node:crypto'
import { promisify } from 'node:util'
import { ValidationError } from '../../protocol/errors.ts'

const pbkdf2Async = promisify(pbkdf2)

export const PASSWORD_HASH_ITERATIONS = 20_000
/** Fewer iterations than this are refused when hashing (Mosquitto's default of 101 included). */
export const MIN_PASSWORD_HASH_ITERATIONS = 1_000
export const MAX_PASSWORD_HASH_ITERATIONS = 10_000_000
const SALT_BYTES = 12
const HASH_BYTES = 64

const ENCODED = /^\$7\$([1-9][0-9]{0,7})\$([A-Za-z0-9+/]+={0,2})\$([A-Za-z0-9+/]+={0,2})$/

export interface ParsedHash {
  iterations: number
  salt: Buffer
  hash: Buffer
}

/** Parses `$7$...`; a ValidationError names `field` when it is not one. */
export function parsePasswordHash(encoded: string, field = 'hash'): ParsedHash {
  const m = ENCODED.exec(encoded)
  if (!m) throw new ValidationError(field, 'a Mosquitto PBKDF2-SHA512 hash ($7$<iterations>$<salt>$<hash>)')
  const hash = Buffer.from(m[3]!, 'base64')
  if (hash.length !== HASH_BYTES) throw new ValidationError(field, `a ${HASH_BYTES}-byte PBKDF2-SHA512 hash`)
  return { iterations: Number(m[1]), salt: Buffer.from(m[2]!, 'base64'), hash }
}

export async function hashPassword(password: string, iterations = PASSWORD_HASH_ITERATIONS): Promise<string> {
  if (!Number.isInteger(iterations) || iterations < MIN_PASSWORD_HASH_ITERATIONS || iterations > MAX_PASSWORD_HASH_ITERATIONS) {
    throw new ValidationError('iterations', `a whole number from ${MIN_PASSWORD_HASH_ITERATIONS} to ${MAX_PASSWORD_HASH_ITERATIONS} (got ${iterations})`)
  }
  const salt = randomBytes(SALT_BYTES)
  const hash = await pbkdf2Async(password, salt, iterations, HASH_BYTES, 'sha512')
  return `$7$${iterations}$${salt.toString('base64')}$${hash.toString('base64')}`
}

/** Whether `password` matches `encoded` (any iteration count, as Mosquitto reads them). Never throws for a wrong password. */
export async function verifyPassword(password: string, encoded: string | ParsedHash): Promise<boolean> {
  const p = typeof encoded === 'string' ? parsePasswordHash(encoded) : encoded
  const actual = await pbkdf2Async(password, p.salt, p.iterations, p.hash.length, 'sha512')
  return timingSafeEqual(actual, p.hash)
}

/** A new random password: 24 bytes, base64url (32 characters, no characters a shell or a URL mangles). */
export function generatePassword(): string {
  return randomBytes(24).toString('base64url')
}
