/**
 * 1,000 agents (issue 14, part 4): simulated agents speaking the real protocol
 * over real sockets (bench/scale/), against one `fogmesh broker` and against a
 * cluster of two sharing a Redis, with the 3-agent run of the same bench as
 * the baseline; and, for comparison, 1,000 agents with pre-selection off
 * (every offer to every agent, as before market/preselect.ts).
 *
 *   npm run bench:scale                 (1,000 agents)
 *   npm run bench:scale -- --quick      (200 agents, shorter phases: a smoke test)
 *   npm run bench:scale -- --agents N --no-cluster --no-broadcast
 */
import { parseArgs } from 'node:util'
import { exitOnSignal } from '../test/support/child-processes.ts'
import { findProgram } from '../test/support/programs.ts'
import { header, progress, table, target } from './report.ts'
import { runScale, type ScaleFigures, type ScaleOptions } from './scale/harness.ts'

exitOnSignal()
const { values } = parseArgs({ options: { quick: { type: 'boolean' }, agents: { type: 'string' }, 'no-cluster': { type: 'boolean' }, 'no-broadcast': { type: 'boolean' } } })
const quick = values.quick === true
const N = Number(values.agents ?? (quick ? 200 : 1000))
if (!Number.isInteger(N) || N < 4 || N > 5000) {
  console.error('fogmesh bench: --agents must be a whole number from 4 to 5000')
  process.exit(2)
}
const phases: Partial<ScaleOptions> = quick
  ? { auctions: 40, jobs: 300, churnSeconds: 4, idleMs: 2000 }
  : { auctions: 100, jobs: 1000, churnSeconds: 10, idleMs: 4000 }
const churnPerSecond = Math.max(2, Math.round(N / 100))
const redisBin = values['no-cluster'] ? undefined : findProgram('redis-server')

header(`scale: ${N} simulated agents`, [
  `one fogmesh broker (aedes + gateway) and ${redisBin ? 'a cluster of two on one Redis' : 'no cluster (--no-cluster, or no redis-server)'}; agents in 4 processes, joining in two waves, heartbeats every 5 s; the per-IP connection cap lifted (all agents on 127.0.0.1)`,
  `pre-selection k=8 (explore 2); auctions one at a time, each job its own lease group; leased jobs ${phases.jobs} at 32 at a time; churn ${churnPerSecond}/s for ${phases.churnSeconds} s`,
])

const runs: Array<{ label: string; f: ScaleFigures }> = []
async function run(label: string, o: ScaleOptions): Promise<ScaleFigures> {
  progress(`${label} ...`)
  const f = await runScale({ ...phases, churnPerSecond: Math.min(churnPerSecond, Math.max(1, o.agents - 1)), progress: (m) => progress(`${label}: ${m}`), ...o })
  runs.push({ label, f })
  return f
}

const single3 = await run('broker, 3 agents', { agents: 3 })
const singleN = await run(`broker, ${N} agents`, { agents: N })
const broadcastN = values['no-broadcast'] ? undefined : await run(`broker, ${N} agents, k=0 (broadcast)`, { agents: N, preselect: { k: 0 }, churnSeconds: 0, auctions: Math.min(phases.auctions ?? 20, 20), jobs: 200 })
const cluster3 = redisBin ? await run('cluster, 3 agents', { agents: 3, cluster: { redisBin } }) : undefined
const clusterN = redisBin ? await run(`cluster, ${N} agents`, { agents: N, cluster: { redisBin } }) : undefined

const ms = (x: number) => x.toFixed(2)
const kb = (b: number) => (Number.isFinite(b) ? `${(b / 1024).toFixed(1)} KB` : '-')
console.log(table([
  ['run', 'auction p50 ms', 'p99 ms', 'failed', 'offers/auction', 'msgs/auctioned job', 'msgs/leased job', 'jobs/s', 'broker RSS', 'RSS/agent all', 'RSS/agent marginal', 'CPU/agent idle', 'churn left/joined', 'acked/answered/lost', 'retried', 'churn p99 ms'],
  ...runs.map(({ label, f }) => [
    label, ms(f.auctionP50Ms), ms(f.auctionP99Ms), String(f.failedAuctions), f.offersPerAuction.toFixed(1), f.messagesPerJob.toFixed(1), f.messagesPerLeasedJob.toFixed(1), f.jobsPerSecond.toFixed(0),
    `${(f.idleRssBytes / 1048576).toFixed(1)} MB`, kb(f.idleRssPerAgentBytes), kb(f.marginalRssPerAgentBytes), `${f.idleCpuUsPerAgentSecond.toFixed(1)} us/s`,
    f.churn.seconds ? `${f.churn.left}/${f.churn.joined}` : '-', f.churn.seconds ? `${f.churn.acknowledged}/${f.churn.answered}/${f.churn.lost}` : '-',
    f.churn.seconds ? String(f.churn.retried) : '-', f.churn.seconds ? f.churn.p99Ms.toFixed(0) : '-',
  ]),
]))
console.log('')
if (broadcastN) console.log(`pre-selection at ${N} agents: ${(broadcastN.messagesPerJob / singleN.messagesPerJob).toFixed(1)}x fewer messages per auctioned job, auction p50 ${(broadcastN.auctionP50Ms / singleN.auctionP50Ms).toFixed(1)}x faster than broadcast`)

let ok = true
const ratio = (a: ScaleFigures, b: ScaleFigures) => a.auctionP50Ms / b.auctionP50Ms
ok = target(`auction close p50 at ${N} agents <= 2x the 3-agent figure (broker)`, `${ms(singleN.auctionP50Ms)} / ${ms(single3.auctionP50Ms)} ms = ${ratio(singleN, single3).toFixed(2)}x`, ratio(singleN, single3) <= 2) && ok
if (clusterN && cluster3) ok = target(`auction close p50 at ${N} agents <= 2x the 3-agent figure (cluster)`, `${ms(clusterN.auctionP50Ms)} / ${ms(cluster3.auctionP50Ms)} ms = ${ratio(clusterN, cluster3).toFixed(2)}x`, ratio(clusterN, cluster3) <= 2) && ok
// per idle agent: (RSS with all agents − RSS before any) / agents; beside it what the second wave of agents added per agent
const mem = (f: ScaleFigures) => `${kb(f.idleRssPerAgentBytes)} (second half alone: ${kb(f.marginalRssPerAgentBytes)}; RSS ${(f.idleRssBytes / 1048576).toFixed(0)} MB)`
ok = target('broker memory per idle agent <= 50 KB (broker)', mem(singleN), singleN.idleRssPerAgentBytes <= 50 * 1024) && ok
if (clusterN) ok = target('broker memory per idle agent <= 50 KB (cluster, both brokers)', mem(clusterN), clusterN.idleRssPerAgentBytes <= 50 * 1024) && ok
for (const f of [singleN, clusterN]) {
  if (!f) continue
  const c = f.churn
  ok = target(`no job lost during churn (${f.brokers === 1 ? 'broker' : 'cluster'}, ${c.left} left and ${c.joined} joined in ${c.seconds} s)`, `${c.acknowledged} acknowledged, ${c.answered} answered, ${c.failed} failed, ${c.lost} lost (${c.retried} retried on another agent)`, c.lost === 0) && ok
}
process.exit(ok ? 0 : 1)
