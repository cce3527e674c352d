/**
 * The credentials file: who may connect to the broker, and as what.
 *
 * ```json
 * {
 *   "kind": "fogmesh-credentials",
 *   "version": 1,
 *   "users": {
 *     "greenhouse-1": { "role": "sensor", "hash": "$7$20000$<salt>$<hash>", "created": "2026-01-01T12:00:00.000Z" }
 *   },
 *   "agents": {
 *     "a9dedd4e2ea551eeaf82": { "added": "2026-01-01T12:00:00.000Z", "hash": "$7$20000$<salt>$<hash>" }
 *   }
 * }
 * ```
 *
 * - `users`: a name (the MQTT username) with a role (`sensor`, `operator`,
 *   `deployer`, `gateway`) and a PBKDF2-SHA512 hash of its password in
 *   Mosquitto's format (broker/auth/password-hash.ts); the password itself is
 *   printed once by `fogmesh auth add` and stored nowhere.
 * - `agents`: the allowlist for `--agents allowlist`, by agent id. The fogmesh
 *   broker checks an agent's key (a signed token), never a password; `hash` is
 *   a password for brokers that cannot check keys (an exported Mosquitto).
 *
 * The file is written whole to a temporary file next to it (mode 0600) and
 * renamed over the old one, so a reader sees the old file or the new one,
 * never half of one. It holds no secret a client could connect with, but the
 * hashes are worth guessing at: it stays 0600.
 */
import { chmodSync, existsSync, mkdirSync, readFileSync, renameSync, statSync, writeFileSync, unlinkSync } from 'node:fs'
import { dirname } from 'node:path'
import { FogmeshError, ErrorCode, ValidationError } from '../../protocol/errors.ts'
import { generatePassword, hashPassword, parsePasswordHash, PASSWORD_HASH_ITERATIONS } from './password-hash.ts'

export const ROLES = ['sensor', 'operator', 'deployer', 'gateway'] as const
export type Role = (typeof ROLES)[number]

export interface UserEntry {
  role: Role
  hash: string
  created: string
}

export interface AgentEntry {
  added: string
  /** Password hash for external brokers that cannot check an agent's key. */
  hash?: string
}

interface CredentialsJson {
  kind: 'fogmesh-credentials'
  version: 1
  users: Record<string, UserEntry>
  agents: Record<string, AgentEntry>
}

const NAME = /^[A-Za-z0-9_.-]{1,64}$/
const AGENT_ID = /^[0-9a-f]{20}$/

/**
 * A user name goes into topics (`fm/v1/jobs/submit/<name>`) and job ids (`<id>@<name>`):
 * 1..64 of `[A-Za-z0-9_.-]`, and none of the shapes that mean something else —
 * an agent id (20 hex), the gateway's anonymous job suffix (12 hex), the agents' client id
 * prefix (`fm-agent-`), or `anonymous` (the scope of clients without credentials).
 */
export function checkUserName(name: string, field = 'name'): string {
  if (!NAME.test(name)) throw new ValidationError(field, '1..64 characters of [A-Za-z0-9_.-]')
  if (AGENT_ID.test(name)) throw new ValidationError(field, 'a name that is not shaped like an agent id (20 hex characters); agents are added with `fogmesh auth add-agent`')
  if (/^[0-9a-f]{12}$/.test(name)) throw new ValidationError(field, 'a name that is not 12 hex characters (the gateway uses those for anonymous jobs)')
  if (/^fm-agent-/i.test(name) || name === 'anonymous' || name === '__proto__') throw new ValidationError(field, `a name other than "${name}" (reserved)`)
  return name
}

export function checkAgentId(id: string, field = 'id'): string {
  if (!AGENT_ID.test(id)) throw new ValidationError(field, 'an agent id: 20 lowercase hex characters (fogmesh agent prints it)')
  return id
}

export function checkRole(role: string, field = 'role'): Role {
  if (!(ROLES as readonly string[]).includes(role)) throw new ValidationError(field, ROLES.join(', ').replace(/, (\w+)$/, ' or $1'))
  return role as Role
}

export class CredentialStore {
  private data: CredentialsJson

  private constructor(readonly path: string | undefined, data: CredentialsJson) {
    this.data = data
  }

  /** An empty store that lives in memory only (tests, `fogmesh up` before it saves). */
  static inMemory(): CredentialStore {
    return new CredentialStore(undefined, empty())
  }

  /** Reads `path`; a missing file is an empty store when `create` is set, an error otherwise. */
  static load(path: string, { create = false }: { create?: boolean } = {}): CredentialStore {
    if (!existsSync(path)) {
      if (create) return new CredentialStore(path, empty())
      throw new FogmeshError(ErrorCode.usage, `credentials file ${path} does not exist (create it with: fogmesh auth add NAME --role ROLE --file ${path})`)
    }
    try {
      if (statSync(path).mode & 0o077) chmodSync(path, 0o600)
    } catch {
      // not ours to change (e.g. root's file read by a service user): reading is enough
    }
    return new CredentialStore(path, parseFile(path))
  }

  /** Reads the file again (the broker does on SIGHUP, as Mosquitto does). */
  reload(): void {
    if (this.path) this.data = parseFile(this.path)
  }

  user(name: string): UserEntry | undefined {
    return Object.hasOwn(this.data.users, name) ? this.data.users[name] : undefined
  }

  users(): Array<{ name: string } & UserEntry> {
    return Object.entries(this.data.users).map(([name, e]) => ({ name, ...e })).sort((a, b) => a.name.localeCompare(b.name))
  }

  hasAgent(id: string): boolean {
    return Object.hasOwn(this.data.agents, id)
  }

  agents(): Array<{ id: string } & AgentEntry> {
    return Object.entries(this.data.agents).map(([id, e]) => ({ id, ...e })).sort((a, b) => a.added.localeCompare(b.added) || a.id.localeCompare(b.id))
  }

  /** Adds a user with a new random password (or `password`); returns the password, which is stored only as its hash. */
  async addUser(name: string, role: Role, opts: { password?: string; iterations?: number; replace?: boolean } = {}): Promise<string> {
    checkUserName(name)
    checkRole(role)
    if (this.user(name) && !opts.replace) throw new FogmeshError(ErrorCode.usage, `user "${name}" already exists (remove it first, or replace it)`)
    const password = opts.password ?? generatePassword()
    const hash = await hashPassword(password, opts.iterations ?? PASSWORD_HASH_ITERATIONS)
    this.data.users[name] = { role, hash, created: new Date().toISOString() }
    return password
  }

  /**
   * Allowlists an agent; returns a password for brokers that cannot check agent keys (Mosquitto),
   * or "" with `withPassword: false` (the agent then has no way into an exported Mosquitto).
   */
  async addAgent(id: string, opts: { password?: string; iterations?: number; withPassword?: boolean } = {}): Promise<string> {
    checkAgentId(id)
    const added = this.data.agents[id]?.added ?? new Date().toISOString()
    if (opts.withPassword === false) {
      this.data.agents[id] = { added }
      return ''
    }
    const password = opts.password ?? generatePassword()
    const hash = await hashPassword(password, opts.iterations ?? PASSWORD_HASH_ITERATIONS)
    this.data.agents[id] = { added, hash }
    return password
  }

  /** Removes a user or an agent; returns what was removed, or undefined. */
  remove(nameOrId: string): 'user' | 'agent' | undefined {
    if (this.user(nameOrId)) {
      delete this.data.users[nameOrId]
      return 'user'
    }
    if (this.hasAgent(nameOrId)) {
      delete this.data.agents[nameOrId]
      return 'agent'
    }
    return undefined
  }

  /** Writes the file atomically, mode 0600. */
  save(path = this.path): void {
    if (!path) throw new FogmeshError(ErrorCode.usage, 'this credential store has no file')
    mkdirSync(dirname(path), { recursive: true, mode: 0o700 })
    const tmp = `${path}.${process.pid}.${Date.now().toString(36)}.tmp`
    try {
      writeFileSync(tmp, JSON.stringify(this.data, null, 2) + '\n', { mode: 0o600, flag: 'wx' })
      renameSync(tmp, path)
    } catch (err) {
      try {
        unlinkSync(tmp)
      } catch {
        // never created
      }
      throw new FogmeshError(ErrorCode.usage, `cannot write ${path}: ${(err as NodeJS.ErrnoException).code ?? String(err)}`, { cause: err })
    }
  }
}

function empty(): CredentialsJson {
  return { kind: 'fogmesh-credentials', version: 1, users: {}, agents: {} }
}

/** Reads and checks the whole file; a bad entry is an error naming it, never skipped. */
function parseFile(path: string): CredentialsJson {
  let raw: unknown
  try {
    raw = JSON.parse(readFileSync(path, 'utf8'))
  } catch (err) {
    throw new FogmeshError(ErrorCode.usage, `credentials file ${path} is not valid JSON`, { cause: err })
  }
  const bad = (what: string) => new FogmeshError(ErrorCode.usage, `credentials file ${path}: ${what}`)
  const o = raw as Partial<CredentialsJson>
  if (typeof o !== 'object' || o === null || o.kind !== 'fogmesh-credentials' || o.version !== 1) throw bad('not a fogmesh credentials file (kind "fogmesh-credentials", version 1)')
  const out = empty()
  for (const [name, e] of Object.entries(o.users ?? {})) {
    try {
      checkUserName(name, `users.${name}`)
      checkRole(String(e?.role), `users.${name}.role`)
      parsePasswordHash(String(e?.hash), `users.${name}.hash`)
    } catch (err) {
      throw bad((err as FogmeshError).shortMessage)
    }
    out.users[name] = { role: e.role, hash: e.hash, created: String(e.created ?? '') }
  }
  for (const [id, e] of Object.entries(o.agents ?? {})) {
    try {
      checkAgentId(id, `agents.${id}`)
      if (e?.hash !== undefined) parsePasswordHash(String(e.hash), `agents.${id}.hash`)
    } catch (err) {
      throw bad((err as FogmeshError).shortMessage)
    }
    out.agents[id] = { added: String(e?.added ?? ''), ...(e?.hash ? { hash: e.hash } : {}) }
  }
  return out
}
