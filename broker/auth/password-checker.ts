/**
 * Checks user passwords against their slow hashes, with two bounds a broker
 * needs: at most `maxPending` hashes computing at once (beyond that a connect
 * is refused as "server unavailable", and `onLimit` fires), and a cache of
 * passwords that verified before — kept as an HMAC under a key that lives only
 * in this process, so a reconnecting sensor costs microseconds, not a PBKDF2,
 * while a stolen credentials file still costs a PBKDF2 per guess. A cached
 * entry is tied to the hash it verified against: a changed or removed user
 * is checked afresh.
 */
import { createHmac, randomBytes, timingSafeEqual } from 'node:crypto'
import { AuthError } from '../../protocol/errors.ts'
import { RecentMap } from '../../protocol/recent-set.ts'
import { hashPassword, parsePasswordHash, verifyPassword, type ParsedHash } from './password-hash.ts'

export interface PasswordCheckerOptions {
  /** Hashes computing at once (default 8). */
  maxPending?: number
  /** Verified passwords remembered (default 10,000); 0 turns the cache off. */
  maxCached?: number
  onLimit?: (info: { limit: 'maxPending'; value: number }) => void
}

export class PasswordChecker {
  private readonly key = randomBytes(32)
  private readonly verified: RecentMap<{ hash: string; mac: Buffer }>
  private readonly parsed = new RecentMap<ParsedHash>(10_000)
  private readonly maxPending: number
  private pending = 0
  private dummy: Promise<string> | undefined

  constructor(private readonly opts: PasswordCheckerOptions = {}) {
    this.maxPending = opts.maxPending ?? 8
    this.verified = new RecentMap(Math.max(1, opts.maxCached ?? 10_000))
  }

  /**
   * Resolves when `password` matches `hash` (the entry of `name`); rejects with an AuthError
   * `bad_password` or `busy`. `hash` undefined (no such user) costs the same hash as a wrong
   * password, so timing does not tell which names exist.
   */
  async check(name: string, hash: string | undefined, password: string): Promise<void> {
    const mac = createHmac('sha256', this.key).update(name).update('\0').update(password).digest()
    const hit = hash === undefined || this.opts.maxCached === 0 ? undefined : this.verified.get(name)
    if (hit && hit.hash === hash && timingSafeEqual(hit.mac, mac)) return
    if (this.pending >= this.maxPending) {
      this.opts.onLimit?.({ limit: 'maxPending', value: this.maxPending })
      throw new AuthError('busy', `too many password checks at once (maxPending ${this.maxPending}); try again`)
    }
    this.pending++
    try {
      const target = hash ?? (await (this.dummy ??= hashPassword('not a password of anyone')))
      let p = this.parsed.get(target)
      if (!p) this.parsed.set(target, (p = parsePasswordHash(target)))
      const ok = await verifyPassword(password, p)
      if (!ok || hash === undefined) throw new AuthError(hash === undefined ? 'unknown_user' : 'bad_password', `bad user name or password for "${name}"`)
      if (this.opts.maxCached !== 0) this.verified.set(name, { hash, mac })
    } finally {
      this.pending--
    }
  }
}
