import { hostname, homedir } from 'node:os'
import { join } from 'node:path'
import { startAgent } from '../../agent/agent.ts'
import { PAYMENT_OPTIONS, paymentFromOptions } from '../wallet.ts'
import { acceptFromOption, intOption, labelsOption, requireString, untilSignal, UsageError, type Command } from '../command.ts'

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
  --broker URL    the broker, e.g. mqtt://192.168.1.10:1883
  --name NAME     a human name for operators (default: the host name)
  --data DIR      identity key and module cache (default: ~/.fogmesh/agents/NAME, or $FOGMESH_HOME/agents/NAME)
  --labels k=v    labels jobs can ask for, e.g. site=depot-3,sensor=pm25
  --price N       price per job in the mesh token's smallest unit (default 1)
  --slots N       jobs run at once (default: the number of cores)
  --rpc URL --channels ADDRESS --keystore FILE
                  take payment: vouchers journaled in the data dir, settled on that chain
                  (keystore password in $FOGMESH_KEYSTORE_PASSWORD)
  --isolation M   where job code runs: process (default: a separate, unprivileged process
                  without keys or data dir) or thread (worker threads inside the agent)
  --heartbeat-ms  liveness beat interval; watchers call an agent unreachable after 3 missed (default 1000)`,
  options: {
    broker: { type: 'string' },
    name: { type: 'string' },
    data: { type: 'string' },
    labels: { type: 'string' },
    price: { type: 'string' },
    slots: { type: 'string' },
    'heartbeat-ms': { type: 'string' },
    'accept-from': { type: 'string' },
    isolation: { type: 'string' },
    ...PAYMENT_OPTIONS,
  },
  async run(values) {
    const stopped = untilSignal() // before anything starts: a signal must never find us without a handler
    const broker = requireString(values, 'broker', 'the MQTT broker URL, e.g. mqtt://127.0.0.1:1883')
    const name = typeof values.name === 'string' ? values.name : hostname()
    if (!/^[A-Za-z0-9._-]{1,64}$/.test(name)) throw new UsageError('--name takes 1..64 characters of [A-Za-z0-9._-]')
    const isolation = values.isolation ?? 'process'
    if (isolation !== 'process' && isolation !== 'thread') throw new UsageError('--isolation is process or thread')
    const dataDir = typeof values.data === 'string' ? values.data : defaultDataDir(name)
    const acceptFrom = acceptFromOption(values['accept-from'])
    const payment = await paymentFromOptions(values)
    const agent = await startAgent({
      ...(payment ? { payment: { client: payment.client, wallet: payment.wallet } } : {}),
      broker,
      name,
      dataDir,
      labels: labelsOption(values.labels),
      pricePerJob: intOption(values, 'price', 1, 0),
      ...(values.slots !== undefined ? { slots: intOption(values, 'slots', 1, 1, 1024) } : {}),
      heartbeatMs: intOption(values, 'heartbeat-ms', 1000, 100, 600_000),
      isolation,
      ...(acceptFrom ? { acceptFrom } : {}),
    })
    const p = agent.presence()
    console.log(`agent ${agent.id} "${name}" online at ${broker}: ${p.capacity.slots} slots, ${p.capacity.arch}, data in ${dataDir}`)
    console.log(`accepts work from ${agent.accepts}`)
    agent.on('connection', (c) => console.log(c.connected ? 'reconnected to broker' : 'lost broker connection; retrying'))
    agent.on('rejected', (r) => console.error(`dropped a bad message on ${r.topic} (${r.code}): ${r.message}`))
    const timer = setInterval(() => {
      const s = agent.stats()
      console.log(`jobs: ${s.jobsOk} ok, ${s.jobsFailed} failed; running ${s.running}, queued ${s.queued}`)
    }, 30_000)
    timer.unref()
    const signal = await stopped
    console.log(`${signal}: finishing running jobs and leaving the mesh`)
    clearInterval(timer)
    await agent.close()
    return 0
  },
}
