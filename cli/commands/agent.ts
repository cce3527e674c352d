import { hostname, homedir } from 'node:os'
import { join } from 'node:path'
import { startAgent } from '../../agent/agent.ts'
import { PAYMENT_OPTIONS, wantsPayment } from '../payment-options.ts'
import { resolveOsUser } from '../../agent/engine/executor/executor-user.ts'
import { withConfigFile } from '../config-file.ts'
import type { MetricsServer, AgentMetrics } from '../../agent/metrics.ts'
import { AgentTelemetry } from '../../agent/telemetry.ts'
import { acceptFromOption, givenInt, labelsOption, requireString, untilSignal, UsageError, withOptionNames, type Command } from '../command.ts'
import { readCa } from '../client-credentials.ts'
import { loadOrCreateIdentity } from '../../agent/identity.ts'
import { AuthError } from '../../protocol/errors.ts'

/** Which flag sets which agent option, for errors that name the flag. */
const FLAGS = { pricePerJob: '--price', slots: '--slots', heartbeatMs: '--heartbeat-ms', isolation: '--isolation', warmWorkers: '--warm-workers', maxJobsPerRequester: '--max-jobs-per-requester', blobCacheBytes: '--blob-cache-bytes', maxInputBytes: '--max-input-bytes', maxBlobBytes: '--max-blob-bytes', maxBlobChunks: '--max-blob-chunks', blobFetchTimeoutMs: '--blob-fetch-timeout-ms', blobServeBytesPerSec: '--blob-serve-bytes-per-sec' }
import { followReleases, proveHealth, UPDATE_OPTIONS, UPDATE_USAGE, updatesFromOptions } from '../agent-updates.ts'
import { runningRelease } from '../../agent/update/running-release.ts'

export function defaultDataDir(name: string): string {
  return join(process.env.FOGMESH_HOME ?? join(homedir(), '.fogmesh'), 'agents', name)
}

export const agentCommand: Command = {
  name: 'agent',
  summary: 'one agent: joins the mesh, bids for jobs, runs them, returns signed results',
  usage: `usage: fogmesh agent --broker URL [--accept-from ID,...|any] [--name NAME] [--data DIR] [--labels k=v,...] [--price N] [--slots N]

  --accept-from   whose jobs it runs: requester ids (a gateway prints its own at start; fogmesh submit
                  --whoami tells yours), or any (an open test mesh). Requesters with a funded payment
                  channel to this agent are accepted too. Default: nobody else (assignments are signed
                  by their requester; unsigned ones, others' and replays are never run)
  --broker URL    the broker, e.g. mqtt://192.168.1.10:1883; several brokers of one cluster as
                  URL,URL,... (failover: a reconnect moves on to the next one)
  --name NAME     a human name for operators (default: the host name)
  --data DIR      identity key and module cache (default: ~/.fogmesh/agents/NAME, or $FOGMESH_HOME/agents/NAME)
  --labels k=v    labels jobs can ask for, e.g. site=depot-3,sensor=pm25
  --price N       price per job in the mesh token's smallest unit (default 1)
  --slots N       jobs run at once (default: the number of cores)
  --max-jobs-per-requester N
                  jobs one requester may hold here, running and queued (default: a quarter of
                  slots + queue, at least the slots); more: no bid, and "overloaded"
  --rpc URL --channels ADDRESS --keystore FILE
                  take payment: vouchers journaled in the data dir, settled on that chain
                  (keystore password in $FOGMESH_KEYSTORE_PASSWORD)
  --court ADDRESS [--account ADDRESS]
                  advertise the stake of this registry account (default: the keystore's) in that
                  VerificationCourt (with --rpc); stake first with fogmesh stake
  --isolation M   where job code runs: process (default: a separate, unprivileged process
                  without keys or data dir) or thread (worker threads inside the agent)
  --heartbeat-ms  liveness beat interval; watchers call an agent unreachable after 3 missed (default 1000)
  --metrics-port P  Prometheus /metrics on this port (0 = any free port; default: none)
  --metrics-host H  interface for /metrics (default 127.0.0.1)
  --no-telemetry  publish no telemetry (fm/v1/telemetry/agents/<id>: counts, earnings, settlements)
  --warm-workers N  job workers kept started at idle, the rest start on demand (default 1; 0: none
                  until the first job — the smallest idle footprint)
  --executor-user U  run the executor as this user (name or uid:gid); needs root or CAP_SETUID+CAP_SETGID
                  (default: nobody when the agent is root, else the agent's own user)
  --blob-cache-bytes N  disk budget of the content-addressed cache (<data>/blobs; least recently used
                  out first; default 268435456)
  --max-input-bytes N largest inline job input it takes (default 1048576, at most 4194304)
  --max-blob-bytes N  largest input named by sha256 it takes (default 67108864; never above the cache)
  --max-blob-chunks N  most chunks of one blob (default 16384)
  --blob-fetch-timeout-ms N  wait for one blob piece, other agents' answers included (default 10000)
  --blob-serve-bytes-per-sec N  bytes a second re-published for other agents' wants (default 16777216)
  --config FILE   a JSON object of these options in camelCase ({"broker": ..., "heartbeatMs": 1000});
                  flags on the command line override it
  --ca FILE       PEM CA certificate to trust for mqtts:// and wss:// brokers
  --password P    for brokers that cannot check agent keys (an exported Mosquitto): the password of
                  \`fogmesh auth add-agent ID\` (or $FOGMESH_PASSWORD). Without it the agent proves its
                  id with its key: user name = its id, password = a fresh signed token per connect
${UPDATE_USAGE}`,
  options: {
    broker: { type: 'string' },
    name: { type: 'string' },
    data: { type: 'string' },
    labels: { type: 'string' },
    price: { type: 'string' },
    slots: { type: 'string' },
    'max-jobs-per-requester': { type: 'string' },
    'heartbeat-ms': { type: 'string' },
    'accept-from': { type: 'string' },
    isolation: { type: 'string' },
    'metrics-port': { type: 'string' },
    'metrics-host': { type: 'string' },
    'no-telemetry': { type: 'boolean' },
    password: { type: 'string' },
    ca: { type: 'string' },
    'executor-user': { type: 'string' },
    'warm-workers': { type: 'string' },
    'blob-cache-bytes': { type: 'string' },
    'max-input-bytes': { type: 'string' },
    'max-blob-bytes': { type: 'string' },
    'max-blob-chunks': { type: 'string' },
    'blob-fetch-timeout-ms': { type: 'string' },
    'blob-serve-bytes-per-sec': { type: 'string' },
    config: { type: 'string' },
    ...PAYMENT_OPTIONS,
    court: { type: 'string' },
    account: { type: 'string' },
    ...UPDATE_OPTIONS,
  },
  async run(flags) {
    const values = withConfigFile(flags, agentCommand.options)
    const stopped = untilSignal() // before anything starts: a signal must never find us without a handler
    const broker = requireString(values, 'broker', 'the MQTT broker URL, e.g. mqtt://127.0.0.1:1883')
    const name = typeof values.name === 'string' ? values.name : hostname()
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new UsageError('--name takes 1..64 characters of [A-Za-z0-9._-]')
    const isolation = values.isolation
    if (isolation !== undefined && isolation !== 'process' && isolation !== 'thread') throw new UsageError('--isolation is process or thread')
    const dataDir = typeof values.data === 'string' ? values.data : defaultDataDir(name)
    const metricsPort = givenInt(values, 'metrics-port', 0, 65535)
    const acceptFrom = acceptFromOption(values['accept-from'])
    const executorUser = typeof values['executor-user'] === 'string' ? resolveOsUser(values['executor-user']) : undefined
    const running = runningRelease()
    const updates = updatesFromOptions(values, running)
    // ethers and the chain client load only for an agent that takes payment or advertises stake
    const payment = wantsPayment(values) ? await (await import('../wallet.ts')).paymentFromOptions(values) : undefined
    const staking =
      values.court !== undefined || values.account !== undefined
        ? await (await import('../staking-options.ts')).stakingFromOptions(values, payment?.wallet)
        : undefined
    const password = typeof values.password === 'string' ? values.password : process.env.FOGMESH_PASSWORD || undefined
    const ca = readCa(values)
    const startAgentOrExplain: typeof startAgent = (o) =>
      startAgent(o).catch((err: unknown) => {
        if (!(err instanceof AuthError)) throw err
        const id = loadOrCreateIdentity(dataDir).id
        throw new AuthError(err.reason, `${err.shortMessage} (agent ${id}; on a broker that admits agents by allowlist: fogmesh auth add-agent ${id})`, { cause: err })
      })
    // what the user gave, and nothing else: the agent's own defaults stand for the rest
    const agent = await withOptionNames(FLAGS, () =>
      startAgentOrExplain({
        ...(password !== undefined || ca ? { credentials: { ...(password !== undefined ? { password } : {}), ...(ca ? { ca } : {}) } } : {}),
        ...(updates ? { updates, version: running.version } : {}),
        ...(payment ? { payment: { client: payment.client, wallet: payment.wallet } } : {}),
        broker,
        name,
        dataDir,
        labels: labelsOption(values.labels),
        pricePerJob: givenInt(values, 'price'),
        slots: givenInt(values, 'slots'),
        maxJobsPerRequester: givenInt(values, 'max-jobs-per-requester'),
        heartbeatMs: givenInt(values, 'heartbeat-ms'),
        blobCacheBytes: givenInt(values, 'blob-cache-bytes'),
        maxInputBytes: givenInt(values, 'max-input-bytes'),
        maxBlobBytes: givenInt(values, 'max-blob-bytes'),
        maxBlobChunks: givenInt(values, 'max-blob-chunks'),
        blobFetchTimeoutMs: givenInt(values, 'blob-fetch-timeout-ms'),
        blobServeBytesPerSec: givenInt(values, 'blob-serve-bytes-per-sec'),
        isolation,
        ...(acceptFrom ? { acceptFrom } : {}),
        ...(staking ? { staking } : {}),
        ...(executorUser ? { executorUser } : {}),
        // a device keeps one job worker started at idle; the others start when jobs need them
        warmWorkers: givenInt(values, 'warm-workers') ?? 1,
      }),
    )
    const p = agent.presence()
    console.log(`agent ${agent.id} "${name}" online at ${broker}: ${p.capacity.slots} slots, ${p.capacity.arch}, data in ${dataDir}`)
    console.log(`accepts work from ${agent.accepts}`)
    if (staking) console.log(`stake    account ${staking.account} in court ${staking.court} (chain ${staking.chainId}); attester ${agent.attestor?.address}`)
    const telemetry = values['no-telemetry'] ? undefined : new AgentTelemetry(agent, agent.connection).start()
    let metrics: (MetricsServer & { metrics: AgentMetrics }) | undefined
    if (metricsPort !== undefined) {
      const { serveAgentMetrics } = await import('../../agent/metrics.ts') // prom-client only when asked for
      try {
        metrics = await serveAgentMetrics(agent, { port: metricsPort, host: typeof values['metrics-host'] === 'string' ? values['metrics-host'] : '127.0.0.1', dataDir })
      } catch (err) {
        await agent.close()
        if ((err as NodeJS.ErrnoException).code === 'EADDRINUSE') throw new UsageError(`port ${metricsPort} is in use (--metrics-port): choose another or 0 for any free port`)
        throw err
      }
      console.log(`metrics  ${metrics.url}`)
    }
    agent.on('connection', (c) => console.log(c.connected ? 'reconnected to broker' : 'lost broker connection; retrying'))
    agent.on('leaveStalled', (x) => console.error(`leaving: ${x.step} did not finish in ${x.ms} ms; left behind`))
    agent.on('rejected', (r) => console.error(`dropped a bad message on ${r.topic} (${r.code}): ${r.message}`))
    agent.on('blobEvicted', (e) => console.log(`blob cache full (${e.maxBytes} bytes): ${e.reason === 'budget' ? 'evicted' : 'did not keep'} ${e.sha256} (${e.bytes} bytes)`))
    const timer = setInterval(() => {
      const s = agent.stats()
      console.log(`jobs: ${s.jobsOk} ok, ${s.jobsFailed} failed; running ${s.running}, queued ${s.queued}`)
    }, 30_000)
    timer.unref()
    const staged = followReleases(agent, (line) => console.log(line))
    try {
      await proveHealth(agent, running.version, (line) => console.log(line))
    } catch (err) {
      await agent.close({ graceMs: 0 })
      throw err
    }
    const ended = await Promise.race([stopped, ...(staged ? [staged] : [])])
    clearInterval(timer)
    if (typeof ended !== 'number') console.log(`${ended}: finishing running jobs and leaving the mesh`)
    await agent.close()
    telemetry?.stop()
    await metrics?.close()
    const code = typeof ended === 'number' ? ended : 0
    exitSoon(code)
    return code
  },
}

/**
 * After a clean leave the process ends by itself; if something still holds it (a job thread that
 * never confirmed its exit, a socket), it ends anyway: the supervisor acts on the exit code (75:
 * the staged release) and a service manager waits for the stop.
 */
function exitSoon(code: number): void {
  setTimeout(() => {
    console.error(`fogmesh: still running ${EXIT_AFTER_LEAVE_MS} ms after leaving the mesh; exiting with ${code}`)
    process.exit(code)
  }, EXIT_AFTER_LEAVE_MS).unref()
}

const EXIT_AFTER_LEAVE_MS = 3_000
