/**
 * Property-based checks of what the broker parses from the network or from
 * disk before it trusts anyone, with a seeded generator and a fixed budget
 * (FM_FUZZ_RUNS, default below; the seed is printed on failure):
 *
 * - agent tokens (the CONNECT password of an agent): any mutation of a valid
 *   token is refused with an AuthError, or — when it decodes to the very same
 *   key, time, nonce and signature — accepted as that same token; never any
 *   other error, never another identity;
 * - topic filters: a subscription `filterCovers` allows can only ever deliver
 *   topics the allowing filter matches (the rules never leak by a wildcard);
 * - password hashes and credentials files: refused with a FogmeshError naming
 *   the field, never a crash, never a half-read store.
 */
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { checkAgentToken, createAgentToken } from '../../protocol/agent-token.ts'
import { AuthError, FogmeshError } from '../../protocol/errors.ts'
import { createSigner } from '../../protocol/signature.ts'
import { seededRandom, type SeededRandom } from '../../test/support/rng.ts'
import { tmpDir } from '../../test/support/temp-dirs.ts'
import { CredentialStore } from './credentials.ts'
import { parsePasswordHash } from './password-hash.ts'
import { filterCovers, filterMatches } from './rules.ts'

const RUNS = Number(process.env.FM_FUZZ_RUNS ?? 1500)
const SEED = Number(process.env.FM_FUZZ_SEED ?? 0x8a17)
const ALPHABET = 'abcdef0123456789.-_+/=$#:ABCXYZ \u0000\u00e9'

function mutate(r: SeededRandom, s: string): string {
  const chars = [...s]
  for (let n = r.int(1, 3); n > 0; n--) {
    const i = r.int(0, Math.max(0, chars.length - 1))
    const c = r.pick([...ALPHABET])
    switch (r.int(0, 4)) {
      case 0: chars[i] = c; break
      case 1: chars.splice(i, 0, c); break
      case 2: chars.splice(i, 1); break
      case 3: chars.length = r.int(0, chars.length); break
      default: chars.splice(i, 0, ...chars.slice(r.int(0, chars.length))) // repeat a tail
    }
  }
  return chars.join('')
}

test(`agent tokens: ${RUNS} mutations are refused as AuthError, or are the same token`, () => {
  const r = seededRandom(SEED)
  const now = 1_790_000_000_000
  const signer = createSigner(Buffer.alloc(32, 7))
  const other = createSigner(Buffer.alloc(32, 8))
  const good = createAgentToken(signer, { now })
  const original = checkAgentToken(good.username, good.password, now, 300_000)
  const otherId = createAgentToken(other, { now }).username
  let accepted = 0
  for (let i = 0; i < RUNS; i++) {
    const username = r.chance(0.2) ? r.pick([mutate(r, good.username), otherId, '']) : good.username
    const password = r.chance(0.05) ? Array.from({ length: r.int(0, 300) }, () => r.pick([...ALPHABET])).join('') : mutate(r, good.password)
    try {
      const t = checkAgentToken(username, password, now, 300_000)
      accepted++
      assert.equal(t, original, `accepted a different token (seed ${SEED}, run ${i}): ${username} ${password}`)
    } catch (err) {
      if (err instanceof assert.Assertion) throw err
      assert.ok(err instanceof AuthError, `not an AuthError (seed ${SEED}, run ${i}): ${String(err)} for ${JSON.stringify(password)}`)
    }
  }
  assert.ok(accepted < RUNS / 10, `only the same token is accepted (${accepted})`)
})

const LEVELS = ['fm', 'v1', 'agents', 'a1', 'replies', 's1', '+', '#', '$SYS', 'x', '']

function randomFilter(r: SeededRandom): string {
  const n = r.int(1, 5)
  const levels = Array.from({ length: n }, () => r.pick(LEVELS.filter((l) => l !== '#')))
  if (r.chance(0.3)) levels.push('#')
  return levels.join('/')
}

function randomTopic(r: SeededRandom): string {
  return Array.from({ length: r.int(1, 6) }, () => r.pick(LEVELS.filter((l) => l !== '+' && l !== '#'))).join('/')
}

test(`topic filters: ${RUNS * 4} checks — what an allowed filter covers never delivers outside it`, () => {
  const r = seededRandom(SEED + 1)
  let covered = 0
  for (let i = 0; i < RUNS * 4; i++) {
    const outer = randomFilter(r)
    const inner = r.chance(0.5) ? randomFilter(r) : outer.split('/').map((l) => (l === '+' && r.chance(0.5) ? r.pick(['a1', 's1', 'x']) : l)).join('/')
    if (!filterCovers(outer, inner)) continue
    covered++
    for (let j = 0; j < 8; j++) {
      const t = randomTopic(r)
      if (filterMatches(inner, t)) assert.ok(filterMatches(outer, t), `${inner} ⊆ ${outer} but ${t} matches only the first (seed ${SEED + 1})`)
    }
  }
  assert.ok(covered > RUNS / 4, `enough covered pairs drawn (${covered})`)
})

test(`password hashes and credentials files: ${RUNS} mutations refused with a FogmeshError, or read whole`, () => {
  const r = seededRandom(SEED + 2)
  const hash = '$7$1000$Lw9QuUmnDyaMsQV5s+8hXA==$' + Buffer.alloc(64, 3).toString('base64')
  for (let i = 0; i < RUNS; i++) {
    const h = mutate(r, hash)
    try {
      parsePasswordHash(h)
    } catch (err) {
      assert.ok(err instanceof FogmeshError, `hash ${JSON.stringify(h)}: ${String(err)}`)
    }
  }
  const dir = tmpDir('fm-auth-fuzz-')
  const file = JSON.stringify({ kind: 'fogmesh-credentials', version: 1, users: { s1: { role: 'sensor', hash, created: 'x' } }, agents: { ['a'.repeat(20)]: { added: 'y' } } })
  for (let i = 0; i < RUNS / 5; i++) {
    const path = join(dir, `c${i}.json`)
    writeFileSync(path, mutate(r, file))
    try {
      const store = CredentialStore.load(path)
      for (const u of store.users()) assert.ok(['sensor', 'operator', 'deployer', 'gateway'].includes(u.role), `role ${u.role}`)
      for (const u of store.users()) parsePasswordHash(u.hash)
    } catch (err) {
      if (err instanceof assert.Assertion) throw err
      assert.ok(err instanceof FogmeshError, `file ${i}: ${String(err)}`)
    }
  }
})

test.run()
