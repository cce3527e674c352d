import { homedir } from 'node:os'
import { join } from 'node:path'
import { CredentialStore, checkAgentId, checkRole, ROLES } from '../../broker/auth/credentials.ts'
import { exportMosquitto } from '../../broker/auth/mosquitto-export.ts'
import { PASSWORD_HASH_ITERATIONS } from '../../broker/auth/password-hash.ts'
import { FogmeshError } from '../../protocol/errors.ts'
import { intOption, requireString, UsageError, type Command } from '../command.ts'

/** Where credentials live unless --file says otherwise. */
export function defaultCredentialsFile(): string {
  return join(process.env.FOGMESH_HOME ?? join(homedir(), '.fogmesh'), 'auth.json')
}

const FILE_OPTION = { file: { type: 'string' } } as const
const fileOf = (values: Record<string, unknown>) => (typeof values.file === 'string' ? values.file : defaultCredentialsFile())

/** Library validation errors are user errors here: one line, exit 2. */
async function asUsage<T>(f: () => Promise<T> | T): Promise<T> {
  try {
    return await f()
  } catch (err) {
    if (err instanceof FogmeshError) throw new UsageError(err.shortMessage)
    throw err
  }
}

function one(positionals: string[], what: string, cmd: string): string {
  const [v, ...extra] = positionals
  if (!v) throw new UsageError(`fogmesh ${cmd} takes ${what} (see --help)`)
  if (extra.length) throw new UsageError(`unexpected argument: ${extra[0]}`)
  return v
}

export const authAddCommand: Command = {
  name: 'auth add',
  summary: 'adds a client identity (sensor, operator, deployer, gateway) and prints its password once',
  usage: `usage: fogmesh auth add NAME --role sensor|operator|deployer|gateway [--file FILE]

  NAME            the MQTT user name: 1..64 of [A-Za-z0-9_.-]; a sensor submits on
                  fm/v1/jobs/submit/NAME and reads fm/v1/replies/NAME/#
  --role R        what it may do (see the Security section of the README)
  --file FILE     the credentials file (default ~/.fogmesh/auth.json, or $FOGMESH_HOME/auth.json)
  --iterations N  PBKDF2-SHA512 iterations of the stored hash (default ${PASSWORD_HASH_ITERATIONS})
  --replace       give an existing user a new password (and role)

  The password is printed once and stored only as its hash (Mosquitto's $7$ format).`,
  options: { ...FILE_OPTION, role: { type: 'string' }, iterations: { type: 'string' }, replace: { type: 'boolean' } },
  async run(values, positionals) {
    const name = one(positionals, 'a NAME', 'auth add')
    const role = await asUsage(() => checkRole(requireString(values, 'role', ROLES.join('|')), '--role'))
    const iterations = intOption(values, 'iterations', PASSWORD_HASH_ITERATIONS, 1000, 10_000_000)
    const file = fileOf(values)
    const store = await asUsage(() => CredentialStore.load(file, { create: true }))
    const existed = store.user(name) !== undefined
    const password = await asUsage(() => store.addUser(name, role, { iterations, replace: values.replace === true }))
    store.save()
    console.log(`${existed ? 'replaced' : 'added'} ${role} "${name}" in ${file}`)
    console.log(`password  ${password}`)
    console.log('(shown once: only its hash is stored)')
    return 0
  },
}

export const authAddAgentCommand: Command = {
  name: 'auth add-agent',
  summary: 'allowlists an agent by its id (for brokers run with --agents allowlist)',
  usage: `usage: fogmesh auth add-agent ID [--file FILE]

  ID           the agent id \`fogmesh agent\` prints (20 hex characters, derived from its key)
  --file FILE  the credentials file (default ~/.fogmesh/auth.json)

  On the fogmesh broker the agent proves its id with its key; nothing to give it. The password
  printed is for brokers that cannot check keys (an exported Mosquitto): fogmesh agent --password.`,
  options: { ...FILE_OPTION },
  async run(values, positionals) {
    const id = await asUsage(() => checkAgentId(one(positionals, 'an agent ID', 'auth add-agent'), 'ID'))
    const file = fileOf(values)
    const store = await asUsage(() => CredentialStore.load(file, { create: true }))
    const password = await store.addAgent(id)
    store.save()
    console.log(`allowlisted agent ${id} in ${file}`)
    console.log(`password  ${password}`)
    console.log('(only for brokers that cannot check agent keys, e.g. an exported Mosquitto; shown once)')
    return 0
  },
}

export const authListCommand: Command = {
  name: 'auth list',
  summary: 'the identities in a credentials file (never their passwords)',
  usage: `usage: fogmesh auth list [--file FILE] [--json]`,
  options: { ...FILE_OPTION, json: { type: 'boolean' } },
  async run(values, positionals) {
    if (positionals.length) throw new UsageError(`unexpected argument: ${positionals[0]}`)
    const store = await asUsage(() => CredentialStore.load(fileOf(values)))
    const users = store.users().map(({ name, role, created }) => ({ name, role, created }))
    const agents = store.agents().map(({ id, added }) => ({ id, added }))
    if (values.json) {
      console.log(JSON.stringify({ users, agents }, null, 2))
      return 0
    }
    const rows = [['NAME', 'ROLE', 'ADDED'], ...users.map((u) => [u.name, u.role, u.created]), ...agents.map((a) => [a.id, 'agent', a.added])]
    const widths = rows[0]!.map((_, i) => Math.max(...rows.map((r) => r[i]!.length)))
    for (const r of rows) console.log(r.map((c, i) => c.padEnd(widths[i]!)).join('  ').trimEnd())
    return 0
  },
}

export const authRemoveCommand: Command = {
  name: 'auth remove',
  summary: 'removes a user or an allowlisted agent',
  usage: `usage: fogmesh auth remove NAME|ID [--file FILE]

  A running fogmesh broker re-reads the file on SIGHUP and closes the live sessions of removed
  (or re-added with a new password or role) identities; Mosquitto: export again and reload it.`,
  options: { ...FILE_OPTION },
  async run(values, positionals) {
    const name = one(positionals, 'a NAME or agent ID', 'auth remove')
    const file = fileOf(values)
    const store = await asUsage(() => CredentialStore.load(file))
    const what = store.remove(name)
    if (!what) throw new UsageError(`no user or agent "${name}" in ${file}`)
    store.save()
    console.log(`removed ${what} ${name} from ${file} (a running broker: kill -HUP it to close ${name}'s sessions)`)
    return 0
  },
}

export const authExportCommand: Command = {
  name: 'auth export',
  summary: 'writes the identities and access rules as Mosquitto 2 files (password_file, acl_file, mosquitto.conf)',
  usage: `usage: fogmesh auth export --mosquitto DIR [--file FILE]

  --mosquitto DIR  where to write password_file (0600), acl_file and mosquitto.conf (the lines to include)
  --file FILE      the credentials file (default ~/.fogmesh/auth.json)

  Mosquitto then enforces the fogmesh broker's rules. It cannot check agent keys: there, allowlisted
  agents log in with the password of \`fogmesh auth add-agent\` (fogmesh agent --password).`,
  options: { ...FILE_OPTION, mosquitto: { type: 'string' } },
  async run(values, positionals) {
    if (positionals.length) throw new UsageError(`unexpected argument: ${positionals[0]}`)
    const dir = requireString(values, 'mosquitto', 'the directory to write the Mosquitto files to')
    const file = fileOf(values)
    const store = await asUsage(() => CredentialStore.load(file))
    const out = exportMosquitto(store, dir, file)
    console.log(`wrote ${join(out.dir, 'password_file')}, ${join(out.dir, 'acl_file')}, ${join(out.dir, 'mosquitto.conf')}`)
    console.log(`${store.users().length} users, ${store.agents().length - out.skippedAgents.length} agents; include mosquitto.conf after your listener lines`)
    if (out.skippedAgents.length) console.log(`not exported (no password kept; run auth add-agent again): ${out.skippedAgents.join(', ')}`)
    return 0
  },
}

export const authCommands: Command[] = [authAddCommand, authAddAgentCommand, authListCommand, authRemoveCommand, authExportCommand]
