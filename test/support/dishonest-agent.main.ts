/**
 * TEST ONLY — a real agent process that misbehaves on purpose: the real Agent, over MQTT, with
 * its keys and a real executor (worker threads), but
 *   --lie-every N --lie-seed S   its executor flips the output of one job in N (LyingExecutor)
 *   --advertise-slots N          it advertises N slots while its executor runs --workers W
 * Prints the same "online" line as `fogmesh agent`, so test/support/verified-agents.ts can wait
 * for it. Not part of the CLI: no production configuration can start it.
 */
import { parseArgs } from 'node:util'
import { startAgent } from '../../agent/agent.ts'
import { createWorkerPool } from '../../agent/engine/worker/pool.ts'
import { LyingExecutor } from './dishonest-executor.ts'

const { values } = parseArgs({
  options: {
    broker: { type: 'string' }, name: { type: 'string' }, data: { type: 'string' },
    'lie-every': { type: 'string' }, 'lie-seed': { type: 'string' },
    'advertise-slots': { type: 'string' }, workers: { type: 'string' }, price: { type: 'string' },
    court: { type: 'string' }, 'chain-id': { type: 'string' }, account: { type: 'string' },
  },
})
const workers = Number(values.workers ?? 1)
const inner = createWorkerPool({ size: workers, queueLimit: 1000 })
const lieEvery = Number(values['lie-every'] ?? 0)
const executor = lieEvery > 0 ? new LyingExecutor(inner, values['lie-seed'] ?? 'seed', lieEvery) : inner
const agent = await startAgent({
  broker: values.broker!,
  name: values.name!,
  dataDir: values.data!,
  executor,
  slots: Number(values['advertise-slots'] ?? workers),
  pricePerJob: Number(values.price ?? 1),
  acceptFrom: 'any', // an open test mesh: it takes signed work from any requester
  ...(values.court ? { staking: { court: values.court, chainId: Number(values['chain-id']), account: values.account! } } : {}),
})
console.log(`agent ${agent.id} "${agent.name}" online at ${values.broker}: ${agent.presence().capacity.slots} slots (${workers} running), lying on 1 in ${lieEvery || '-'}`)
const stop = async () => {
  await agent.close({ graceMs: 500 })
  process.exit(0)
}
process.once('SIGTERM', () => void stop())
process.once('SIGINT', () => void stop())
