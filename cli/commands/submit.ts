import { readFileSync } from 'node:fs'
import { resultToWire } from '../../market/job.ts'
import { RequesterTelemetry } from '../../market/telemetry.ts'
import { startRequester } from '../../market/requester.ts'
import { loadOrCreateIdentityFile } from '../../protocol/identity.ts'
import { givenInt, intOption, requesterKeyFile, requireString, UsageError, type Command } from '../command.ts'
import { readModuleFile } from './module-add.ts'
import { CREDENTIAL_OPTIONS, CREDENTIAL_USAGE, credentialsFromOptions } from '../client-credentials.ts'

async function readInput(spec: unknown): Promise<Buffer> {
  if (spec === undefined) return Buffer.alloc(0)
  if (spec === '-') {
    const chunks: Buffer[] = []
    for await (const c of process.stdin) chunks.push(c as Buffer)
    return Buffer.concat(chunks)
  }
  try {
    return readFileSync(String(spec))
  } catch (err) {
    throw new UsageError(`cannot read input ${String(spec)}: ${(err as NodeJS.ErrnoException).code ?? 'error'}`)
  }
}

/** How long `submit` waits for agents to be known before it submits (a CLI choice; the library has no such wait). */
const WAIT_MS = 3000

export const submitCommand: Command = {
  name: 'submit',
  summary: 'runs one job on the mesh and prints the result as JSON (non-zero exit if it failed)',
  usage: `usage: fogmesh submit --broker URL --module FILE.wasm|SHA256 [--input FILE|-|--input-blob SHA256] [--timeout MS] [--sealed]
       fogmesh submit --whoami

  --module      a .wasm file (published first) or the sha256 of a published module
  --input       the job's stdin: a file, or - for this process's stdin (default: empty); over 1 MiB
                it travels as a content-addressed blob (fm/v1/blobs/<sha256>, published first)
  --input-blob SHA256  the stdin is the blob published under this manifest sha256 (fogmesh-blob/1)
  --timeout MS  the job's deadline on the agent (default: the agent's default, 10000; at most what it advertises)
  --wait MS     how long to wait for agents to be known (default 3000)
  --text        also print the output decoded as UTF-8 ("outputText")
  --sealed      seal the input to the agent and the output back: the broker sees only ciphertext
  --data DIR    where its signing key lives (default ~/.fogmesh/requester, or $FOGMESH_HOME/requester)
  --whoami      print this requester's id (what agents list in --accept-from) and exit

${CREDENTIAL_USAGE}
                (on a broker with --auth, a requester needs the gateway role; publishing a
                .wasm file needs the deployer role: publish it with fogmesh module add, pass the sha256)`,
  options: {
    broker: { type: 'string' },
    module: { type: 'string' },
    input: { type: 'string' },
    'input-blob': { type: 'string' },
    timeout: { type: 'string' },
    wait: { type: 'string' },
    text: { type: 'boolean' },
    sealed: { type: 'boolean' },
    data: { type: 'string' },
    whoami: { type: 'boolean' },
    ...CREDENTIAL_OPTIONS,
  },
  async run(values) {
    const identity = loadOrCreateIdentityFile(requesterKeyFile('requester', values.data), 'fogmesh-requester-identity')
    if (values.whoami) {
      console.log(identity.id)
      return 0
    }
    const broker = requireString(values, 'broker', 'the MQTT broker URL, e.g. mqtt://127.0.0.1:1883')
    const moduleSpec = requireString(values, 'module', 'a .wasm file or the sha256 of a published module')
    const inputBlob = typeof values['input-blob'] === 'string' ? values['input-blob'] : undefined
    if (inputBlob !== undefined && (!/^[0-9a-f]{64}$/.test(inputBlob) || values.input !== undefined)) {
      throw new UsageError('--input-blob takes the sha256 (64 lowercase hex) of a published blob manifest, instead of --input')
    }
    const input = await readInput(values.input)
    const timeoutMs = givenInt(values, 'timeout', 1, 3_600_000) // none given: the agent's default
    const moduleBytes = /^[0-9a-f]{64}$/.test(moduleSpec) ? undefined : readModuleFile(moduleSpec) // checked before connecting
    const waitMs = intOption(values, 'wait', WAIT_MS, 0)
    const credentials = credentialsFromOptions(values)
    const requester = await startRequester({ broker, identity, ...(credentials ? { credentials } : {}) })
    // the job shows in the console's feed and the mesh's metrics like any other
    const telemetry = new RequesterTelemetry(requester, requester.connection, { kind: 'requester' }).start()
    try {
      const module = moduleBytes ? await requester.publishModule(moduleBytes) : moduleSpec
      await requester.directory.waitFor(1, waitMs).catch(() => {})
      const result = await requester.submit({ module, input, ...(inputBlob ? { inputBlob: { sha256: inputBlob } } : {}), ...(timeoutMs ? { limits: { timeoutMs } } : {}), ...(values.sealed ? { sealed: true } : {}) })
      if (result.error?.code === 'no_agents' && requester.directory.list('online').length > 0) {
        console.error(`no agent took the job: do they accept requester ${identity.id}? (fogmesh agent --accept-from ${identity.id})`)
      }
      const wire = resultToWire(result)
      if (values.text && result.output) wire.outputText = result.output.toString('utf8')
      console.log(JSON.stringify(wire, null, 2))
      return result.status === 'ok' ? 0 : 1
    } finally {
      telemetry.stop()
      await requester.close()
    }
  },
}
