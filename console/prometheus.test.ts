/**
 * Prometheus metrics, checked by the real thing: Debian's `prometheus` started
 * on a free loopback port scrapes a running mesh — the broker's /metrics on
 * the console port and two `fogmesh agent --metrics-port` processes — and its
 * HTTP query API returns the series; `promtool check metrics` accepts both
 * endpoints' exposition.
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { readFileSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { startConsoleMesh, type ConsoleMesh } from '../test/support/console-mesh.ts'
import { freePort } from '../test/support/ports.ts'
import { findProgram, requireProgram, testNeeding } from '../test/support/programs.ts'
import { tmpDir } from '../test/support/temp-dirs.ts'
import { waitFor } from '../test/support/wait.ts'

const promTest = testNeeding(test, 'prometheus', 'promtool')
const available = (findProgram('prometheus') && findProgram('promtool')) || process.env.CI
let promtoolBin = ''

let mesh: ConsoleMesh | undefined
let prom: ChildProcess | undefined
let promUrl = ''
const agentPorts: number[] = []

test.before(async () => {
  if (!available) return
  try {
    const prometheusBin = requireProgram('prometheus')
    promtoolBin = requireProgram('promtool')
    agentPorts.push(await freePort(), await freePort())
    mesh = await startConsoleMesh({ agents: 2, intervalMs: 50, agentArgs: (i) => ['--metrics-port', String(agentPorts[i])] })
    const port = await freePort()
    const dir = tmpDir('fm-prom-')
    const targets = [`127.0.0.1:${mesh.web.port}`, ...agentPorts.map((p) => `127.0.0.1:${p}`)]
    writeFileSync(
      join(dir, 'prometheus.yml'),
      `global:\n  scrape_interval: 1s\n  evaluation_interval: 1s\nscrape_configs:\n  - job_name: fogmesh\n    static_configs:\n      - targets: [${targets.map((t) => `'${t}'`).join(', ')}]\n`,
    )
    prom = spawn(prometheusBin, [`--config.file=${join(dir, 'prometheus.yml')}`, `--storage.tsdb.path=${join(dir, 'data')}`, `--web.listen-address=127.0.0.1:${port}`], { stdio: ['ignore', 'ignore', 'pipe'] })
    let log = ''
    prom.stderr!.on('data', (d) => (log = (log + d).slice(-4000)))
    promUrl = `http://127.0.0.1:${port}`
    await waitFor(async () => {
      if (prom!.exitCode !== null) throw new Error(`prometheus exited: ${log}`)
      return fetch(`${promUrl}/-/ready`).then((r) => r.ok, () => false)
    }, 20_000, 'prometheus to be ready')
  } catch (err) {
    console.error('setup failed:', err)
    throw err
  }
})

test.after(async () => {
  if (prom && prom.exitCode === null) {
    const exited = new Promise((r) => prom!.once('exit', r))
    prom.kill('SIGTERM')
    await exited
  }
  await mesh?.close()
})

async function query(q: string): Promise<Array<{ metric: Record<string, string>; value: [number, string] }>> {
  const r = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(q)}`)
  const body = (await r.json()) as { status: string; data: { result: Array<{ metric: Record<string, string>; value: [number, string] }> } }
  assert.is(body.status, 'success')
  return body.data.result
}


promTest('promtool check metrics accepts the broker\'s and the agents\' /metrics', async () => {
  for (const url of [`${mesh!.web.url}metrics`, ...agentPorts.map((p) => `http://127.0.0.1:${p}/metrics`)]) {
    const text = await (await fetch(url)).text()
    assert.match(text, /^# HELP fogmesh_/m)
    const r = spawnSync(promtoolBin, ['check', 'metrics'], { input: text, encoding: 'utf8' })
    assert.is(r.status, 0, `${url}: ${r.stdout}${r.stderr}`)
  }
})

promTest('Prometheus scrapes every target and its query API returns the mesh\'s series', async () => {
  await waitFor(async () => {
    const up = await query('up')
    return up.length === 3 && up.every((s) => s.value[1] === '1')
  }, 20_000, 'all three targets up')
  // broker: connections, messages, bytes; mesh: jobs by status, latency histogram, auctions, agents by state
  const series = async (q: string, pred: (v: number) => boolean = (v) => v > 0) => {
    let last: unknown
    await waitFor(async () => {
      const r = await query(q)
      last = r
      return r.length > 0 && r.some((s) => pred(Number(s.value[1])))
    }, 20_000, `${q} (last: ${JSON.stringify(last)})`)
  }
  await series('fogmesh_broker_connections')
  await series('fogmesh_broker_messages_received_total')
  await series('fogmesh_broker_sent_bytes_total')
  await series('fogmesh_broker_packet_cap_violations_total', (v) => v === 0)
  await series('fogmesh_jobs_total{status="ok"}')
  await series('rate(fogmesh_jobs_total{status="ok"}[5s])')
  await series('histogram_quantile(0.99, sum(rate(fogmesh_job_duration_seconds_bucket[5s])) by (le))')
  await series('fogmesh_auction_duration_seconds_count')
  await series('fogmesh_agents{state="online"}', (v) => v === 2)
  // agents: slots, jobs, fuel, duration, module cache
  await series('fogmesh_agent_slots', (v) => v === 1)
  await series('sum(fogmesh_agent_jobs_total{status="ok"})')
  await series('fogmesh_agent_fuel_total')
  await series('fogmesh_agent_job_duration_seconds_count')
  await series('fogmesh_agent_module_cache_modules', (v) => v >= 1)
  const info = await query('fogmesh_agent_info')
  assert.is(info.length, 2)
  assert.equal(new Set(info.map((s) => s.metric.agent)), new Set(mesh!.agents.map((a) => a.id)))
})

promTest('the Grafana dashboard queries only metrics that exist, in PromQL Prometheus accepts', async () => {
  const dash = JSON.parse(readFileSync(new URL('./grafana/fogmesh.json', import.meta.url), 'utf8')) as { panels: Array<{ targets?: Array<{ expr: string }> }> }
  const exprs = dash.panels.flatMap((p) => p.targets ?? []).map((t) => t.expr)
  assert.ok(exprs.length >= 30, `${exprs.length} queries`)
  const exposed = [await (await fetch(`${mesh!.web.url}metrics`)).text(), await (await fetch(`http://127.0.0.1:${agentPorts[0]}/metrics`)).text()].join('\n')
  const names = new Set([...exposed.matchAll(/^# TYPE (\S+)/gm)].map((m) => m[1]!))
  for (const expr of exprs) {
    for (const m of expr.matchAll(/\bfogmesh_[a-z_]+/g)) {
      const name = m[0].replace(/_(bucket|sum|count)$/, '')
      assert.ok(names.has(name), `${name} (in ${expr}) is not exposed`)
    }
    const r = await fetch(`${promUrl}/api/v1/query?query=${encodeURIComponent(expr)}`)
    const body = (await r.json()) as { status: string; error?: string }
    assert.is(body.status, 'success', `${expr}: ${body.error}`)
  }
})

test.run()
