/** The mesh at a glance, for a wall screen: big numbers, the last minutes as charts, sites, alerts. */
import { useMemo } from 'preact/hooks'
import { AlertsPanel } from './alerts-panel.tsx'
import { Chart, type Line } from './chart.tsx'
import { mesh, meshTile, ms, num, pct } from './format.ts'
import { JobsFeed } from './jobs-feed.tsx'
import { SiteMap } from './map.tsx'
import { meshSeries, recent, recentMax } from './series.ts'
import type { MeshStore } from './store.ts'

const CODE_COLORS = ['#ff7b72', '#ffa657', '#d2a8ff', '#79c0ff', '#f2cc60', '#ff9bce', '#7ee787', '#a5d6ff']

export function Overview({ store, now, second }: { store: MeshStore; now: number; second: number }) {
  const counts = store.counts()
  const totals = store.totals()
  const earn = store.earnings()
  // the charts move once a second, whatever else changes
  const s = useMemo(() => meshSeries(store.sources.values()), [second])
  const rate = recent(s.rate, 5)
  const failedRate = recent(s.failedRate, 60)
  const allRate = recent(s.rate, 60)
  const errorShare = allRate ? (failedRate ?? 0) / allRate : undefined
  const codeLines: Line[] = Object.keys(s.codes).sort().map((c, i) => ({ label: c, color: CODE_COLORS[i % CODE_COLORS.length]!, values: s.codes[c]! }))
  const sites = store.sites()
  return (
    <div class="overview">
      <div class="tiles">
        <Tile label="agents online" value={`${counts.online}`} sub={`of ${store.agents.size}`} kind={counts.online === store.agents.size ? 'good' : 'warn'} testid="agents-online" />
        <Tile label="unreachable" value={`${counts.unreachable}`} kind={counts.unreachable ? 'warn' : 'quiet'} testid="agents-unreachable" />
        <Tile label="gone" value={`${counts.gone}`} kind={counts.gone ? 'bad' : 'quiet'} testid="agents-gone" />
        <Tile label="jobs / s" value={num(rate ?? 0)} sub={`${num(totals.ok)} ok · ${num(totals.failed)} failed`} testid="jobs-rate" data={{ ok: totals.ok, failed: totals.failed }} />
        <Tile label="p50 · p99" value={ms(recent(s.p50, 10)).replace(/ (ms|µs|s)$/, '')} unit={ms(recent(s.p50, 10)).split(' ')[1]} sub={`p99 ${ms(recentMax(s.p99, 10))}`} testid="latency" />
        <Tile label="errors (1 min)" value={pct(errorShare)} kind={errorShare && errorShare > 0.05 ? 'bad' : 'quiet'} sub={topCodes(totals.errors)} testid="errors" />
        <Tile label="paid on chain" value={meshTile(earn.paid)[0]} unit={meshTile(earn.paid)[1]} sub={`${earn.settlements} settlements${earn.failing ? ` · ${earn.failing} failing` : ''}`} kind={earn.failing ? 'bad' : 'quiet'} testid="paid" />
      </div>
      <div class="charts">
        <Chart title="jobs per second" t={s.t} unit="/s" lines={[{ label: 'answered', color: '#7ee787', values: s.rate, fill: true }, { label: 'failed', color: '#ff7b72', values: s.failedRate }]} />
        <Chart title="latency (submit → verified result)" t={s.t} unit="ms" lines={[{ label: 'p50', color: '#79c0ff', values: s.p50 }, { label: 'p99', color: '#d2a8ff', values: s.p99 }]} />
        <Chart title="errors by code" t={s.t} unit="/s" lines={codeLines.length ? codeLines : [{ label: 'none', color: '#30363d', values: s.t.map(() => 0) }]} />
      </div>
      <div class="columns wide-left">
        <div class="panel">
          <h2>Sites</h2>
          <SiteMap store={store} version={store.placeVersion} compact />
          <table class="small-table sites-table">
            <thead><tr><th>site</th><th class="n">online</th><th class="n">unreachable</th><th class="n">gone</th></tr></thead>
            <tbody>
              {sites.map((x) => (
                <tr key={x.site} data-site={x.site}>
                  <td><a href={`#/agents?q=${encodeURIComponent(x.site)}`}>{x.site}</a></td>
                  <td class="n ok">{x.online}</td>
                  <td class={`n${x.unreachable ? ' warn' : ''}`}>{x.unreachable}</td>
                  <td class={`n${x.gone ? ' bad' : ''}`}>{x.gone}</td>
                </tr>
              ))}
            </tbody>
          </table>
        </div>
        <div class="stack">
          <div class="panel">
            <h2>Alerts</h2>
            <AlertsPanel store={store} now={now} limit={8} />
          </div>
          <div class="panel">
            <h2>Latest jobs</h2>
            <JobsFeed store={store} limit={12} compact />
          </div>
          <div class="panel">
            <h2>Payments</h2>
            <p class="big-line">{totals.vouchers} vouchers · {mesh(totals.owed, 6)} promised · {mesh(earn.paid, 6)} paid for {String(earn.jobsSettled)} jobs · {mesh(earn.owed, 6)} still owed</p>
          </div>
        </div>
      </div>
    </div>
  )
}

function topCodes(errors: Record<string, number>): string {
  const top = Object.entries(errors).sort((a, b) => b[1] - a[1]).slice(0, 2)
  return top.length ? top.map(([c, n]) => `${c} ${num(n)}`).join(' · ') : 'none so far'
}

function Tile({ label, value, unit, sub, kind = 'plain', testid, data }: { label: string; value: string; unit?: string | undefined; sub?: string; kind?: string; testid: string; data?: Record<string, number> }) {
  const attrs: Record<string, string> = {}
  for (const [k, v] of Object.entries(data ?? {})) attrs[`data-${k}`] = String(v)
  return (
    <div class={`tile ${kind}`} data-testid={testid} {...attrs}>
      <div class="tile-value">{value}{unit ? <span class="tile-unit"> {unit}</span> : null}</div>
      <div class="tile-label">{label}</div>
      {sub ? <div class="tile-sub">{sub}</div> : null}
    </div>
  )
}
