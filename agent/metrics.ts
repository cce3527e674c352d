/**
 * An agent's Prometheus metrics (`fogmesh agent --metrics-port P`): slots,
 * running and queued jobs, jobs by status and code, fuel, job duration,
 * executor restarts, the module cache, the settlement journal's size, vouchers,
 * settlements and what they paid. Counters are fed by the agent's events;
 * gauges are read from the agent when Prometheus scrapes.
 */
import { statSync } from 'node:fs'
import { createServer, type Server } from 'node:http'
import type { AddressInfo, Socket } from 'node:net'
import { join } from 'node:path'
import { Counter, Gauge, Histogram, Registry, collectDefaultMetrics } from 'prom-client'
import { VERSION } from '../protocol/version.ts'
import type { Agent } from './agent.ts'

const UNIT = 10n ** 18n
const tokens = (base: bigint) => Number(base / UNIT) + Number(base % UNIT) / Number(UNIT)

export interface AgentMetrics {
  readonly registry: Registry
  detach(): void
}

/** Registers the agent's metrics; `dataDir` is where its settlement journal lives. */
export function registerAgentMetrics(agent: Agent, registry: Registry, dataDir?: string): AgentMetrics {
  const registers = [registry]
  const gauge = (name: string, help: string, read: () => number) =>
    new Gauge({
      name,
      help,
      registers,
      collect() {
        this.set(read())
      },
    })
  /** A counter that follows a running total the agent keeps. */
  const following = (name: string, help: string, read: () => number) => {
    let reported = 0
    return new Counter({
      name,
      help,
      registers,
      collect() {
        const v = read()
        if (v > reported) this.inc(v - reported)
        reported = Math.max(reported, v)
      },
    })
  }
  new Gauge({ name: 'fogmesh_agent_info', help: 'The agent: id, name, version (always 1)', labelNames: ['agent', 'name', 'version'] as const, registers }).set(
    { agent: agent.id, name: agent.name, version: VERSION },
    1,
  )
  gauge('fogmesh_agent_slots', 'Jobs this agent runs at once', () => agent.presence().capacity.slots)
  gauge('fogmesh_agent_jobs_running', 'Jobs running now', () => agent.load().running)
  gauge('fogmesh_agent_jobs_queued', 'Jobs waiting for a slot or their module', () => agent.load().queued)
  const jobs = new Counter({ name: 'fogmesh_agent_jobs_total', help: 'Jobs run, by status and error code (code is empty for ok)', labelNames: ['status', 'code'] as const, registers })
  const fuel = new Counter({ name: 'fogmesh_agent_fuel_total', help: 'Fuel burned by jobs (deterministic instruction-cost units)', registers })
  const duration = new Histogram({
    name: 'fogmesh_agent_job_duration_seconds',
    help: 'Time a job ran on this agent',
    buckets: [0.0001, 0.0005, 0.001, 0.005, 0.01, 0.05, 0.1, 0.5, 1, 5, 10, 60],
    registers,
  })
  following('fogmesh_agent_bids_total', 'Bids sent for offers', () => agent.stats().bids)
  following('fogmesh_agent_rejected_messages_total', 'Messages from the network dropped by validation', () => agent.stats().rejectedMessages)
  following('fogmesh_agent_executor_restarts_total', 'Executor workers or processes replaced after a crash or a deadline', () => agent.engineStats().executor.restarts)
  gauge('fogmesh_agent_executor_workers', 'Executor workers alive', () => agent.engineStats().executor.workers)
  gauge('fogmesh_agent_module_cache_modules', 'Modules compiled and ready', () => agent.engineStats().modules.cached)
  following('fogmesh_agent_module_fetches_total', 'Modules fetched from the broker', () => agent.engineStats().modules.fetched)
  following('fogmesh_agent_module_disk_loads_total', 'Modules loaded from the disk cache', () => agent.engineStats().modules.fromDisk)
  following('fogmesh_agent_modules_rejected_total', 'Modules refused (bad hash, not WebAssembly, wrong imports)', () => agent.engineStats().modules.rejected)
  if (dataDir) {
    const journal = join(dataDir, 'settlement.db')
    gauge('fogmesh_agent_journal_bytes', 'Size of the settlement journal on disk (SQLite file and its WAL)', () => size(journal) + size(`${journal}-wal`))
  }
  following('fogmesh_agent_vouchers_accepted_total', 'Vouchers checked and journaled', () => agent.stats().settlement?.vouchersAccepted ?? 0)
  following('fogmesh_agent_vouchers_refused_total', 'Vouchers refused', () => agent.stats().settlement?.vouchersRefused ?? 0)
  gauge('fogmesh_agent_owed_tokens', 'Tokens held in vouchers and not settled yet', () => tokens(agent.channels().reduce((s, c) => s + (c.cumulative > c.paid ? c.cumulative - c.paid : 0n), 0n)))
  const settlements = new Counter({ name: 'fogmesh_agent_settlements_total', help: 'Settlement transactions, by result', labelNames: ['result'] as const, registers })
  const paid = new Counter({ name: 'fogmesh_agent_settled_tokens_total', help: 'Tokens paid to this agent on chain (whole tokens, 18 decimals)', registers })
  const settledJobs = new Counter({ name: 'fogmesh_agent_settled_jobs_total', help: 'Jobs paid for by settlements', registers })
  const gas = new Counter({ name: 'fogmesh_agent_settlement_gas_total', help: 'Gas used by this agent\u2019s settlements', registers })

  const onJob = (j: { status: 'ok' | 'error'; code?: string | undefined; durationMs: number; fuel: number }) => {
    jobs.inc({ status: j.status, code: j.status === 'ok' ? '' : (j.code ?? 'unknown') })
    fuel.inc(j.fuel)
    duration.observe(j.durationMs / 1000)
  }
  const onSettled = (r: { total: bigint; jobs: bigint; gasUsed: bigint }) => {
    settlements.inc({ result: 'ok' })
    paid.inc(tokens(r.total))
    settledJobs.inc(Number(r.jobs))
    gas.inc(Number(r.gasUsed))
  }
  const onFailed = () => settlements.inc({ result: 'failed' })
  agent.on('job', onJob)
  agent.on('settled', onSettled)
  agent.on('settleFailed', onFailed)
  return {
    registry,
    detach() {
      agent.off('job', onJob)
      agent.off('settled', onSettled)
      agent.off('settleFailed', onFailed)
    },
  }
}

function size(path: string): number {
  try {
    return statSync(path).size
  } catch {
    return 0
  }
}

export interface MetricsServer {
  readonly port: number
  readonly url: string
  close(): Promise<void>
}

/** Serves `/metrics` of the agent on its own port (default loopback only). */
export async function serveAgentMetrics(agent: Agent, options: { port: number; host?: string; dataDir?: string }): Promise<MetricsServer & { metrics: AgentMetrics }> {
  const registry = new Registry()
  collectDefaultMetrics({ register: registry })
  // prom-client names these gauges `_total`, which Prometheus keeps for counters (promtool refuses them)
  for (const name of ['nodejs_active_handles_total', 'nodejs_active_requests_total', 'nodejs_active_resources_total']) registry.removeSingleMetric(name)
  const metrics = registerAgentMetrics(agent, registry, options.dataDir)
  const server: Server = createServer((req, res) => {
    if ((req.url ?? '').split('?')[0] !== '/metrics') {
      res.writeHead(404, { 'content-type': 'text/plain' }).end('see /metrics\n')
      return
    }
    registry.metrics().then(
      (body) => res.writeHead(200, { 'content-type': registry.contentType }).end(body),
      () => res.writeHead(500).end(),
    )
  })
  server.maxConnections = 64
  server.on('connection', (s: Socket) => s.setNoDelay(true))
  const host = options.host ?? '127.0.0.1'
  await new Promise<void>((resolve, reject) => {
    server.once('error', reject)
    server.listen(options.port, host, () => {
      server.off('error', reject)
      resolve()
    })
  })
  const port = (server.address() as AddressInfo).port
  return {
    port,
    url: `http://${host === '0.0.0.0' ? '127.0.0.1' : host}:${port}/metrics`,
    metrics,
    close: () => {
      metrics.detach()
      server.closeAllConnections()
      return new Promise((resolve) => server.close(() => resolve()))
    },
  }
}
