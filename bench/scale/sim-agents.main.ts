/**
 * A process holding a few hundred simulated agents (sim-agent.ts), each its
 * own MQTT connection, spread round-robin over the given brokers. Driven by
 * its parent over IPC (child_process.fork):
 *   → {type:'churn', n}   n agents drop their link (their wills fire) and n fresh ones join
 *   → {type:'stats'}      ← {type:'stats', offers, bids, jobs, agents, failedJoins}
 *   → {type:'stop'}       every agent leaves cleanly, then the process exits
 * It says {type:'ready', ids} once every presence is out. Bounded: it exits
 * by itself after `maxSeconds`.
 *
 *   node --import tsx bench/scale/sim-agents.main.ts '{"brokers":["mqtt://…"],"count":300,"heartbeatMs":5000,"jobMs":20,"maxSeconds":300,"name":"p1"}'
 */
import { randomBytes } from 'node:crypto'
import { SimAgent } from './sim-agent.ts'

interface Config {
  brokers: string[]
  count: number
  heartbeatMs: number
  /** How long a job takes (ms). */
  jobMs: number
  maxSeconds: number
  name: string
}

const cfg = JSON.parse(process.argv[2] ?? '{}') as Config
if (!Array.isArray(cfg.brokers) || !(cfg.count >= 0)) throw new Error('usage: sim-agents.main.ts JSON-CONFIG')
// the parent gone (it was killed): nothing to tell, exit quietly
const send = (m: object) => {
  if (process.connected) process.send?.(m, undefined, {}, () => {})
}
const agents: SimAgent[] = []
const retired = { offers: 0, bids: 0, jobs: 0 }
let started = 0

let failedJoins = 0

/** One agent, tried up to 3 times (a broker slow to answer CONNECT under load); undefined when it never got in. */
async function startOne(): Promise<SimAgent | undefined> {
  const k = started++
  for (let attempt = 1; attempt <= 3; attempt++) {
    try {
      return await SimAgent.start(cfg.brokers[k % cfg.brokers.length]!, randomBytes(32), `${cfg.name}-${k}`, cfg.heartbeatMs, cfg.jobMs ?? 0)
    } catch {
      // counted below when every attempt failed
    }
  }
  failedJoins++
  return undefined
}

/** Connects `n` agents, at most 25 handshakes at a time. */
async function startAgents(n: number): Promise<SimAgent[]> {
  const out: SimAgent[] = []
  for (let i = 0; i < n; i += 25) {
    const batch = await Promise.all(Array.from({ length: Math.min(25, n - i) }, () => startOne()))
    for (const a of batch) if (a) out.push(a)
  }
  return out
}

agents.push(...(await startAgents(cfg.count)))
// heartbeats: a tenth of the agents every tenth of the interval, so each beats once per interval
let tick = 0
const beats = setInterval(() => {
  const slice = tick++ % 10
  for (let i = slice; i < agents.length; i += 10) agents[i]!.beat()
}, cfg.heartbeatMs / 10)
send({ type: 'ready', ids: agents.map((a) => a.id) })

let stopping = false
async function stop(): Promise<void> {
  if (stopping) return
  stopping = true
  clearInterval(beats)
  for (let i = 0; i < agents.length; i += 50) await Promise.all(agents.slice(i, i + 50).map((a) => a.stop()))
  send({ type: 'stopped' })
  process.exit(0)
}
setTimeout(() => void stop(), cfg.maxSeconds * 1000).unref()

process.on('message', (m: { type: string; n?: number }): void => {
  if (m.type === 'stop') {
    void stop()
    return
  }
  if (m.type === 'stats') {
    const sum = { ...retired }
    for (const a of agents) {
      sum.offers += a.stats.offers
      sum.bids += a.stats.bids
      sum.jobs += a.stats.jobs
    }
    send({ type: 'stats', ...sum, agents: agents.length, failedJoins })
    return
  }
  if (m.type === 'churn' && !stopping) {
    const n = Math.min(m.n ?? 0, agents.length)
    const leaving = agents.splice(0, n)
    void (async () => {
      await Promise.all(
        leaving.map((a) => {
          retired.offers += a.stats.offers
          retired.bids += a.stats.bids
          retired.jobs += a.stats.jobs
          return a.drop()
        }),
      )
      const joined = await startAgents(n)
      agents.push(...joined)
      send({ type: 'churned', left: leaving.map((a) => a.id), joined: joined.map((a) => a.id) })
    })()
  }
})
process.on('disconnect', () => void stop())
