/**
 * The identities `fogmesh up` runs its own mesh with: a gateway, a deployer, the
 * console server (an operator) and the simulated sensor as users, its agents on the allowlist — written to
 * `<data dir>/up/auth.json` (0600) so the broker's rules are the real ones, not
 * a mode of their own. Passwords are random per run and handed to the clients
 * in memory; random 192-bit secrets need no slow hash to resist guessing, so
 * they are hashed with the minimum cost to keep start-up quick. The gateway's and
 * the deployer's are also left in `<data dir>/up/passwords.json` (0600, like the
 * agents' keys next to it) so that `fogmesh submit --user up-gateway` and
 * `fogmesh module add --user up-deployer` can reach the mesh while it runs.
 */
import { renameSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { loadOrCreateIdentity } from '../agent/identity.ts'
import { CredentialStore } from '../broker/auth/credentials.ts'
import { MIN_PASSWORD_HASH_ITERATIONS } from '../broker/auth/password-hash.ts'
import type { ClientCredentials } from '../protocol/transport.ts'

export interface UpCredentials {
  file: string
  /** Where the gateway's and the deployer's passwords are kept for local CLI use. */
  passwordsFile: string
  store: CredentialStore
  gateway: ClientCredentials
  deployer: ClientCredentials
  /** The console server: an operator (it reads everything and publishes alerts). */
  console: ClientCredentials
  sensor: ClientCredentials
}

export async function upCredentials(home: string, agentDataDirs: string[], sensorName: string): Promise<UpCredentials> {
  const file = join(home, 'up', 'auth.json')
  const store = CredentialStore.inMemory()
  const user = async (name: string, role: 'gateway' | 'deployer' | 'operator' | 'sensor'): Promise<ClientCredentials> => ({
    username: name,
    password: await store.addUser(name, role, { iterations: MIN_PASSWORD_HASH_ITERATIONS }),
  })
  const [gateway, deployer, console, sensor] = await Promise.all([
    user('up-gateway', 'gateway'), user('up-deployer', 'deployer'), user('up-console', 'operator'), user(sensorName, 'sensor'),
  ])
  for (const dir of agentDataDirs) await store.addAgent(loadOrCreateIdentity(dir).id, { withPassword: false })
  store.save(file)
  const passwordsFile = join(home, 'up', 'passwords.json')
  const tmp = `${passwordsFile}.${process.pid}.tmp`
  writeFileSync(tmp, JSON.stringify({ 'up-gateway': gateway.password, 'up-deployer': deployer.password }, null, 2) + '\n', { mode: 0o600 })
  renameSync(tmp, passwordsFile)
  return { file, passwordsFile, store, gateway, deployer, console, sensor }
}
