import { createHash } from 'node:crypto'
import { readFileSync } from 'node:fs'
import { MAX_MODULE_BYTES } from '../../protocol/messages.ts'
import { topics } from '../../protocol/topics.ts'
import { connect } from '../../protocol/transport.ts'
import { requireString, UsageError, type Command } from '../command.ts'
import { CREDENTIAL_OPTIONS, CREDENTIAL_USAGE, credentialsFromOptions } from '../client-credentials.ts'
import type { ClientCredentials } from '../../protocol/transport.ts'

/** Reads a .wasm file and checks it is WebAssembly before anything is published. */
export function readModuleFile(path: string): Buffer {
  let bytes: Buffer
  try {
    bytes = readFileSync(path)
  } catch (err) {
    throw new UsageError(`cannot read ${path}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
  }
  if (bytes.length > MAX_MODULE_BYTES) throw new UsageError(`${path} is ${bytes.length} bytes; modules are at most ${MAX_MODULE_BYTES}`)
  if (!WebAssembly.validate(bytes)) throw new UsageError(`${path} is not a valid WebAssembly module`)
  return bytes
}

export async function publishModule(broker: string, bytes: Buffer, credentials?: ClientCredentials): Promise<string> {
  const sha = createHash('sha256').update(bytes).digest('hex')
  const conn = await connect(broker, { reconnect: false, ...(credentials ? { credentials } : {}) })
  try {
    // a broker that does not allow the publish closes the connection (MQTT 3.1.1 has no negative PUBACK)
    const closed = new Promise<never>((_, reject) =>
      conn.client.once('close', () => reject(new UsageError(`the broker closed the connection instead of taking the module: ${credentials?.username ? `is "${credentials.username}" a deployer` : 'publishing modules needs the deployer role'} (fogmesh auth add NAME --role deployer)?`))),
    )
    closed.catch(() => {})
    await Promise.race([conn.publishAsync(topics.module(sha), bytes, { qos: 1, retain: true }), closed])
  } catch (err) {
    await conn.close(true) // the unacknowledged publish would keep a clean close waiting forever
    throw err
  }
  await conn.close()
  return sha
}

export const moduleAddCommand: Command = {
  name: 'module add',
  summary: 'publishes a WebAssembly module to the mesh (retained, addressed by sha256); prints the sha256',
  usage: `usage: fogmesh module add FILE.wasm --broker URL

  The module is published retained on fm/v1/modules/<sha256>; agents fetch it from there
  and check its hash on arrival. Jobs then name it by that sha256.

${CREDENTIAL_USAGE}
                  (on a broker with --auth only deployers publish modules)`,
  options: { broker: { type: 'string' }, ...CREDENTIAL_OPTIONS },
  async run(values, positionals) {
    const [file, ...extra] = positionals
    if (!file) throw new UsageError('fogmesh module add takes a FILE.wasm (see --help)')
    if (extra.length) throw new UsageError(`unexpected argument: ${extra[0]}`)
    const broker = requireString(values, 'broker', 'the MQTT broker URL, e.g. mqtt://127.0.0.1:1883')
    const bytes = readModuleFile(file)
    const sha = await publishModule(broker, bytes, credentialsFromOptions(values))
    console.log(sha)
    return 0
  },
}
