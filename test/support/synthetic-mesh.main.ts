/**
 * The synthetic mesh as a process of its own (so that it does not share a core
 * with the broker it loads): `node --import tsx test/support/synthetic-mesh.main.ts
 * BROKER_URL AGENTS SITES JOBS_PER_SECOND MAX_SECONDS`. Prints `ready` once the
 * presences are out, `jobs N` when it stops (SIGTERM, or MAX_SECONDS).
 */
import { startSyntheticMesh } from './synthetic-mesh.ts'

const [url, agents, sites, jps, maxSeconds] = process.argv.slice(2)
if (!url) throw new Error('usage: synthetic-mesh.main.ts BROKER_URL AGENTS SITES JOBS_PER_SECOND MAX_SECONDS')
const mesh = await startSyntheticMesh(url, { agents: Number(agents), sites: Number(sites), jobsPerSecond: Number(jps), maxSeconds: Number(maxSeconds) })
console.log('ready')
const stop = async () => {
  await mesh.stop()
  console.log(`jobs ${mesh.jobs()}`)
  process.exit(0)
}
process.on('SIGTERM', () => void stop())
setTimeout(() => void stop(), Number(maxSeconds) * 1000 + 1000).unref()
