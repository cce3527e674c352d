/**
 * The scale harness (bench/scale.bench.ts, test/scale.test.ts): `fogmesh
 * broker` as users run it (one, or two of a `--cluster` sharing a Redis this
 * harness starts), N simulated agents in a few child processes
 * (sim-agents.main.ts, up to `perProcess` connections each), and a real
 * Requester in this process. It measures, in order:
 *   idle     broker RSS and CPU per connected agent (heartbeats only): RSS before
 *            any agent, with half of them, with all (agents join in two waves);
 *   auctions one job at a time, each in a lease group of its own (so each is
 *            auctioned): auction close time (submit → the auction's close),
 *            offers the agents received per auction, MQTT messages per job at the broker;
 *   jobs/s   `jobs` leased jobs, `concurrency` at a time;
 *   churn    `churnPerSecond` agents drop their link (their wills fire) and as
 *            many fresh ones join, every second for `churnSeconds`, while jobs
 *            run (half auctioned, half leased): acknowledged, answered, lost.
 * Every loop is bounded in count and time; all traffic is on loopback.
 */
import { fork, type ChildProcess } from 'node:child_process'
import { readFileSync } from 'node:fs'
import { join } from 'node:path'
import { startRequester } from '../../market/requester.ts'
import type { PreselectOptions } from '../../market/preselect.ts'
import { processCpuMs } from '../cpu.ts'
import { fogmeshDaemon, type Daemon } from '../../test/support/fogmesh-cli.ts'
import { ROOT } from '../../test/support/paths.ts'
import { startRedis, type RedisServer } from '../../test/support/redis.ts'
import { tmpDir } from '../../test/support/temp-dirs.ts'
import { stopChild, trackChild } from '../../test/support/child-processes.ts'

export interface ScaleOptions {
  agents: number
  /** One `fogmesh broker`, or two of a cluster on a Redis (`redisBin`: the redis-server to start). */
  cluster?: { redisBin: string }
  preselect?: PreselectOptions
  perProcess?: number
  heartbeatMs?: number
  /** How long a simulated job takes. Default 20 ms. */
  jobMs?: number
  idleMs?: number
  auctions?: number
  jobs?: number
  concurrency?: number
  churnSeconds?: number
  churnPerSecond?: number
  /** More `fogmesh broker` flags (e.g. `--no-gateway --no-console`: the broker alone). */
  brokerArgs?: string[]
  /** Told what is happening (the bench prints it on stderr). */
  progress?: (msg: string) => void
}

export interface ScaleFigures {
  agents: number
  brokers: number
  auctionP50Ms: number
  auctionP99Ms: number
  /** Auctioned jobs that found no bid (no_agents) within the requester's wait. */
  failedAuctions: number
  /** Offers the agents received per auction (k with pre-selection, every agent without). */
  offersPerAuction: number
  /** PUBLISH packets in + out at the broker(s) per auctioned job, heartbeats of the same time taken out. */
  messagesPerJob: number
  /** The same for leased jobs (no auction). */
  messagesPerLeasedJob: number
  jobsPerSecond: number
  idleRssBytes: number
  /** (RSS with every agent − RSS before any) / agents: the fixed costs of a loaded broker included. */
  idleRssPerAgentBytes: number
  /** (RSS with every agent − RSS with half of them) / the other half: what one more idle agent costs. */
  marginalRssPerAgentBytes: number
  /** Broker CPU per connected idle agent: µs of CPU per second of wall time. */
  idleCpuUsPerAgentSecond: number
  /** `retried`: attempts that failed and went to another agent (the agent left with the job). */
  churn: { seconds: number; left: number; joined: number; acknowledged: number; answered: number; failed: number; lost: number; retried: number; p99Ms: number; errors: Record<string, number>; retries: Record<string, number> }
}

const MODULE = 'ab'.repeat(32)

export async function runScale(o: ScaleOptions): Promise<ScaleFigures> {
  const say = o.progress ?? (() => {})
  const heartbeatMs = o.heartbeatMs ?? 5000
  const stops: Array<() => Promise<void>> = []
  try {
    // ---- brokers
    let redis: RedisServer | undefined
    if (o.cluster) {
      redis = await startRedis(o.cluster.redisBin)
      stops.unshift(() => redis!.stop())
    }
    const home = tmpDir('fm-scale-home-')
    // every simulated agent comes from 127.0.0.1: the per-IP cap (1,000 by default) is lifted for the bench
    const brokerArgs = ['broker', '--port', '0', '--ws-port', '0', '--http-port', '0', '--max-connections-per-ip', '10000', ...(redis ? ['--cluster', redis.url] : []), ...(o.brokerArgs ?? [])]
    const brokers: Array<{ daemon: Daemon; url: string; metrics: string | undefined }> = []
    for (let i = 0; i < (redis ? 2 : 1); i++) {
      const daemon = await fogmeshDaemon(brokerArgs, (o.brokerArgs ?? []).includes('--no-console') ? /broker\s+(mqtt:\/\/\S+)/ : /console\s+(http:\/\/\S+)/, { home: join(home, `b${i}`), timeoutMs: 60_000 })
      stops.unshift(() => stopChild(daemon.proc))
      const url = /broker\s+(mqtt:\/\/\S+)/.exec(daemon.output())?.[1]
      if (!url) throw new Error(`no broker URL in: ${daemon.output()}`)
      const web = /console\s+(http:\/\/\S+)/.exec(daemon.output())?.[1]
      brokers.push({ daemon, url, metrics: web ? `${web.replace(/\/$/, '')}/metrics` : undefined })
    }
    say(`${brokers.length} broker(s) up${redis ? ` on ${redis.url}` : ''}`)
    await sleep(1000)
    const pids = brokers.map((b) => b.daemon.proc.pid!)
    const rss0 = sum(pids.map(rssOf))

    // ---- agents, in two waves: the RSS between them is what one more agent costs (the broker's fixed
    // costs — its young generation growing to size under load, the gateway's start — stay out of it)
    const perProcess = Math.min(o.perProcess ?? 350, Math.max(1, Math.ceil(o.agents / 4)))
    const procs: SimProcess[] = []
    const wave = async (count: number) => {
      const started: SimProcess[] = []
      for (let left = count; left > 0; left -= perProcess) {
        const p = await SimProcess.start({ brokers: brokers.map((b) => b.url), count: Math.min(perProcess, left), heartbeatMs, jobMs: o.jobMs ?? 20, maxSeconds: 600, name: `p${procs.length}` })
        procs.push(p)
        started.push(p)
        stops.unshift(() => p.stop())
      }
      await Promise.all(started.map((p) => p.ready))
    }
    const half = Math.floor(o.agents / 2)
    await wave(half)
    await sleep(o.idleMs ?? 4000)
    const rssHalf = sum(pids.map(rssOf))
    await wave(o.agents - half)
    say(`${o.agents} agents connected in ${procs.length} process(es)`)

    const requester = await startRequester({ broker: brokers[0]!.url, ...(o.preselect ? { preselect: o.preselect } : {}) })
    stops.unshift(() => requester.close())
    await requester.directory.waitFor(o.agents, 60_000)

    // ---- idle
    const idleMs = o.idleMs ?? 4000
    await sleep(1500)
    const cpu0 = sum(pids.map(processCpuMs))
    const m0 = await messages(brokers)
    const t0 = performance.now()
    await sleep(idleMs)
    const idleWall = performance.now() - t0
    const idleCpu = sum(pids.map(processCpuMs)) - cpu0
    const idleRate = ((await messages(brokers)) - m0) / idleWall // messages per ms, heartbeats and the like
    const rssN = sum(pids.map(rssOf))
    say(`idle: ${fmtKB(rssN)} broker RSS, ${(idleCpu / idleWall * 100).toFixed(1)}% of a core`)

    // ---- auctions, one at a time
    const auctions = o.auctions ?? 100
    const closes: number[] = []
    let failedAuctions = 0
    const offers0 = await offersSeen(procs)
    let m1 = await messages(brokers)
    let t1 = performance.now()
    for (let i = 0; i < auctions; i++) {
      const started = performance.now()
      let closedAt = NaN
      const onAuction = () => (closedAt = performance.now())
      requester.once('auction', onAuction)
      const r = await requester.submit({ id: `auction-${i}`, module: MODULE, input: Buffer.from(`a${i}`), maxPrice: 100 + i })
      requester.off('auction', onAuction)
      // a failed auction (no_agents: no bid counted within noBidWaitMs) is a figure, not a crash
      if (r.status !== 'ok') failedAuctions++
      closes.push(closedAt - started)
    }
    const auctionMsgs = (await messages(brokers)) - m1 - idleRate * (performance.now() - t1)
    const offersPerAuction = ((await offersSeen(procs)) - offers0) / auctions
    closes.sort((a, b) => a - b)
    say(`auctions: p50 ${quantile(closes, 0.5).toFixed(2)} ms, ${offersPerAuction.toFixed(1)} offers each, ${failedAuctions} failed`)

    // ---- leased jobs/s
    const jobs = o.jobs ?? 1000
    const concurrency = o.concurrency ?? 32
    await requester.submit({ id: 'lease-warm', module: MODULE, input: Buffer.from('w') })
    m1 = await messages(brokers)
    t1 = performance.now()
    let next = 0
    let failedLeased = 0
    await Promise.all(Array.from({ length: concurrency }, async () => {
      while (next < jobs) {
        const i = next++
        const r = await requester.submit({ id: `job-${i}`, module: MODULE, input: Buffer.from(`j${i}`) })
        if (r.status !== 'ok') failedLeased++
      }
    }))
    const leasedWall = performance.now() - t1
    const leasedMsgs = (await messages(brokers)) - m1 - idleRate * leasedWall
    if (failedLeased > 0) throw new Error(`${failedLeased} leased jobs failed`)
    const jobsPerSecond = jobs / (leasedWall / 1000)
    say(`leased: ${jobsPerSecond.toFixed(0)} jobs/s`)

    // ---- churn
    const churnSeconds = o.churnSeconds ?? 10
    const churnPerSecond = Math.min(o.churnPerSecond ?? Math.max(1, Math.round(o.agents / 100)), o.agents)
    const churn = { seconds: churnSeconds, left: 0, joined: 0, acknowledged: 0, answered: 0, failed: 0, lost: 0, retried: 0, p99Ms: NaN, errors: {} as Record<string, number>, retries: {} as Record<string, number> }
    const latencies: number[] = []
    const onGone = () => churn.left++
    const onJoined = () => churn.joined++
    const onRetry = (e: { reason: string }) => {
      churn.retried++
      // the reason without the agent's id and the figures: "no result from <id> within 13000 ms" → "no result from within ms"
      const why = e.reason.replace(/[0-9a-f]{20}/g, '').replace(/\d+/g, '').replace(/\s+/g, ' ').trim()
      churn.retries[why] = (churn.retries[why] ?? 0) + 1
    }
    requester.directory.on('gone', onGone)
    requester.directory.on('joined', onJoined)
    requester.on('attemptFailed', onRetry)
    const end = performance.now() + churnSeconds * 1000
    const churner = (async () => {
      for (let s = 0; s < churnSeconds; s++) {
        const per = Math.ceil(churnPerSecond / procs.length)
        let n = churnPerSecond
        for (const p of procs) {
          p.churn(Math.min(per, n))
          n -= Math.min(per, n)
        }
        await sleep(1000)
      }
    })()
    let seq = 0
    const outcomes: Promise<void>[] = []
    await Promise.all(Array.from({ length: Math.max(1, concurrency / 2) }, async () => {
      while (performance.now() < end) {
        const i = seq++
        churn.acknowledged++
        const p = requester
          .submit({ id: `churn-${i}`, module: MODULE, input: Buffer.from(`c${i}`), ...(i % 2 === 0 ? { maxPrice: 10_000 + (i % 50) } : {}) })
          .then((r) => {
            latencies.push(r.latencyMs)
            if (r.status === 'ok') churn.answered++
            else {
              churn.failed++
              const why = `${r.error?.code}: ${r.error?.message}`
              churn.errors[why] = (churn.errors[why] ?? 0) + 1
            }
          })
        outcomes.push(p)
        await p
      }
    }))
    await churner
    await Promise.all(outcomes)
    requester.directory.off('gone', onGone)
    requester.directory.off('joined', onJoined)
    requester.off('attemptFailed', onRetry)
    churn.p99Ms = quantile(latencies.sort((a, b) => a - b), 0.99)
    churn.lost = churn.acknowledged - churn.answered
    say(`churn: ${churn.left} left, ${churn.joined} joined, ${churn.answered}/${churn.acknowledged} answered, ${churn.retried} retried, p99 ${churn.p99Ms.toFixed(0)} ms${churn.failed ? `; failed: ${JSON.stringify(churn.errors)}` : ''}${churn.retried ? `; retried because: ${JSON.stringify(churn.retries)}` : ''}`)

    return {
      agents: o.agents, brokers: brokers.length,
      auctionP50Ms: quantile(closes, 0.5), auctionP99Ms: quantile(closes, 0.99), offersPerAuction, failedAuctions,
      messagesPerJob: auctionMsgs / auctions, messagesPerLeasedJob: leasedMsgs / jobs, jobsPerSecond,
      idleRssBytes: rssN, idleRssPerAgentBytes: (rssN - rss0) / o.agents,
      marginalRssPerAgentBytes: o.agents - half >= 10 ? (rssN - rssHalf) / (o.agents - half) : NaN,
      idleCpuUsPerAgentSecond: (idleCpu * 1000) / (idleWall / 1000) / o.agents,
      churn,
    }
  } finally {
    for (const stop of stops) await stop().catch(() => {})
  }
}

/** One child process of simulated agents. */
class SimProcess {
  readonly ready: Promise<void>
  private statsWaiter: ((n: number) => void) | undefined

  private constructor(private readonly proc: ChildProcess) {
    proc.on('error', () => {}) // a send to a process that just died (EPIPE): its exit tells
    this.ready = new Promise((resolve, reject) => {
      proc.on('message', (m: { type: string; offers?: number }) => {
        if (m.type === 'ready') resolve()
        if (m.type === 'stats') this.statsWaiter?.(m.offers ?? 0)
      })
      proc.once('exit', (code) => reject(new Error(`simulated agents exited (${code}) before ready`)))
    })
    this.ready.catch(() => {})
  }

  static async start(cfg: { brokers: string[]; count: number; heartbeatMs: number; jobMs: number; maxSeconds: number; name: string }): Promise<SimProcess> {
    const proc = trackChild(fork(join(ROOT, 'bench/scale/sim-agents.main.ts'), [JSON.stringify(cfg)], { execArgv: ['--import', 'tsx'], stdio: ['ignore', 'ignore', 'inherit', 'ipc'] }))
    return new SimProcess(proc)
  }

  churn(n: number): void {
    if (n > 0 && this.proc.connected) this.proc.send({ type: 'churn', n })
  }

  offers(): Promise<number> {
    if (!this.proc.connected) return Promise.reject(new Error(`simulated agents (pid ${this.proc.pid}) exited (${this.proc.exitCode})`))
    return new Promise((resolve) => {
      this.statsWaiter = resolve
      this.proc.send({ type: 'stats' })
    })
  }

  async stop(): Promise<void> {
    if (this.proc.exitCode !== null || !this.proc.connected) return stopChild(this.proc)
    const exited = new Promise<void>((r) => this.proc.once('exit', () => r()))
    this.proc.send({ type: 'stop' })
    await Promise.race([exited, sleep(10_000)])
    await stopChild(this.proc)
  }
}

async function offersSeen(procs: SimProcess[]): Promise<number> {
  return sum(await Promise.all(procs.map((p) => p.offers())))
}

/** PUBLISH packets received + delivered, over the brokers (their Prometheus counters). */
async function messages(brokers: Array<{ metrics: string | undefined }>): Promise<number> {
  let n = 0
  for (const b of brokers) {
    if (!b.metrics) return NaN // no console, no /metrics
    const text = await (await fetch(b.metrics)).text()
    for (const name of ['fogmesh_broker_messages_received_total', 'fogmesh_broker_messages_sent_total']) {
      const m = new RegExp(`^${name} (\\S+)$`, 'm').exec(text)
      if (!m) throw new Error(`${name} missing from ${b.metrics}`)
      n += Number(m[1])
    }
  }
  return n
}

function rssOf(pid: number): number {
  const s = readFileSync(`/proc/${pid}/status`, 'utf8')
  return Number(/VmRSS:\s+(\d+)/.exec(s)?.[1] ?? NaN) * 1024
}

const sum = (xs: number[]) => xs.reduce((a, b) => a + b, 0)
const sleep = (ms: number) => new Promise<void>((r) => setTimeout(r, ms))
export const quantile = (sorted: number[], q: number) => sorted[Math.min(sorted.length - 1, Math.floor(q * sorted.length))] ?? NaN
export const fmtKB = (b: number) => `${(b / 1024).toFixed(1)} KB`
