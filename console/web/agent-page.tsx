/** One agent: what it is, its state history, recent jobs, failures by code, channels and settlements. */
import { ago, clock, mesh, ms, num, price, short } from './format.ts'
import type { MeshStore } from './store.ts'

export function AgentPage({ store, id, now }: { store: MeshStore; id: string; now: number }) {
  const a = store.agents.get(id)
  const t = store.telemetry.get(id)
  if (!a) {
    return (
      <section class="panel">
        <h2>Agent {short(id, 20)}</h2>
        <p>Not known to this console (yet). <a href="#/agents">All agents</a></p>
      </section>
    )
  }
  const p = a.presence
  const st = t?.settlement
  // what the requesters say about their channels to this agent: deposits
  const deposits = new Map<string, { deposit: string; source: string; failed?: string }>()
  for (const s of store.sources.values()) {
    for (const c of s.payments?.channels ?? []) {
      if (c.agent === id && c.channelId) deposits.set(c.channelId, { deposit: c.deposit, source: s.source, ...(c.failed ? { failed: c.failed } : {}) })
    }
  }
  const codes = Object.entries(t?.jobs.byCode ?? {}).sort((x, y) => y[1] - x[1])
  return (
    <section class="agent-page" data-agent={a.id} data-state={a.state}>
      <header class="agent-head">
        <a href="#/agents" class="back">← agents</a>
        <h2>
          {a.name} <span class={`badge big ${a.state}`}>{a.state}{a.reason ? ` (${a.reason})` : ''}</span>
        </h2>
        <p class="mono muted">{a.id}</p>
      </header>
      <div class="cards">
        <Fact label="Site" value={a.site} />
        <Fact label="Device" value={p ? `${p.capacity.arch}, ${p.capacity.cores} cores, ${Math.round(p.capacity.memoryMiB)} MiB, ${p.capacity.platform}` : '–'} />
        <Fact label="Slots · load" value={p ? `${p.capacity.slots} · ${a.load.running} running, ${a.load.queued} queued` : '–'} />
        <Fact label="Price per job" value={p ? price(p.price.perJob) : '–'} />
        <Fact label="Version" value={p?.version ?? '–'} />
        <Fact label="Up since" value={p ? ago(p.since, now) : '–'} />
        <Fact label="Last seen" value={ago(a.lastSeen, now)} />
        <Fact label="Jobs" value={t ? `${num(t.jobs.ok)} ok · ${num(t.jobs.failed)} failed` : `${a.seenOk} ok · ${a.seenFailed} failed (seen here)`} />
        <Fact label="Fuel burned" value={num(t?.jobs.fuel)} />
        <Fact label="Earned (paid on chain)" value={st ? mesh(st.paid) : '–'} />
        <Fact label="Owed (vouchers held)" value={st ? mesh(st.owed) : '–'} />
        <Fact label="Labels" value={p ? Object.entries(p.labels).map(([k, v]) => `${k}=${v}`).join(', ') || '–' : '–'} />
      </div>
      <div class="columns">
        <div class="panel">
          <h3>State history</h3>
          <ol class="history">
            {a.history.newest(20).map((h) => (
              <li key={h.ts}>
                <span class={`badge ${h.state}`}>{h.state}</span> {clock(h.ts)}
                {h.reason ? ` · ${h.reason}` : ''}
              </li>
            ))}
          </ol>
        </div>
        <div class="panel">
          <h3>Failures by code</h3>
          {codes.length === 0 ? <p class="muted">none</p> : (
            <table class="small-table">
              <tbody>{codes.map(([c, n]) => <tr key={c}><td class="code">{c}</td><td class="n">{num(n)}</td></tr>)}</tbody>
            </table>
          )}
          <h3>Recent failures</h3>
          <JobList items={a.failures.newest(10)} />
        </div>
      </div>
      <div class="panel">
        <h3>Recent jobs</h3>
        <JobList items={a.jobs.newest(25)} />
      </div>
      <div class="columns">
        <div class="panel">
          <h3>Channels</h3>
          {!st || st.channels.length === 0 ? <p class="muted">no payment channels</p> : (
            <table class="small-table">
              <thead><tr><th>channel</th><th class="n">deposit</th><th class="n">vouchers</th><th class="n">paid</th><th class="n">jobs</th></tr></thead>
              <tbody>
                {st.channels.map((c) => {
                  const d = deposits.get(c.channelId)
                  return (
                    <tr key={c.channelId} class={d?.failed ? 'error' : ''}>
                      <td class="mono">#{c.channelId}{d ? <span class="muted"> from {short(d.source, 10)}</span> : null}</td>
                      <td class="n">{d ? mesh(d.deposit, 4) : '–'}</td>
                      <td class="n">{mesh(c.cumulative, 6)}</td>
                      <td class="n">{mesh(c.paid, 6)}</td>
                      <td class="n">{num(c.jobCount)}</td>
                    </tr>
                  )
                })}
              </tbody>
            </table>
          )}
        </div>
        <div class="panel">
          <h3>Settlements {st ? <span class="muted">({st.settlements}, {st.failures} failed attempts)</span> : null}</h3>
          {st?.failing ? <p class="alert-line critical">failing: {st.lastError}</p> : null}
          {!st || st.recent.length === 0 ? <p class="muted">none yet</p> : (
            <table class="small-table">
              <thead><tr><th>when</th><th>tx hash</th><th class="n">paid</th><th class="n">jobs</th><th class="n">gas</th></tr></thead>
              <tbody>
                {st.recent.map((s) => (
                  <tr key={s.txHash} data-tx={s.txHash}>
                    <td>{clock(s.ts)}</td>
                    <td class="mono" title={s.txHash}>{short(s.txHash, 18)}</td>
                    <td class="n">{mesh(s.amount, 6)}</td>
                    <td class="n">{s.jobs}</td>
                    <td class="n">{num(Number(s.gasUsed))}</td>
                  </tr>
                ))}
              </tbody>
            </table>
          )}
        </div>
      </div>
    </section>
  )
}

function Fact({ label, value }: { label: string; value: string }) {
  return (
    <div class="fact">
      <div class="fact-label">{label}</div>
      <div class="fact-value">{value}</div>
    </div>
  )
}

export function JobList({ items }: { items: Array<{ id: string; module?: string; status: string; code?: string; agent?: string; latencyMs: number; attempts: number; ts: number }> }) {
  if (items.length === 0) return <p class="muted">none seen since this page opened</p>
  return (
    <table class="small-table">
      <tbody>
        {items.map((j) => (
          <tr key={`${j.id}${j.ts}`} class={j.status === 'error' ? 'error' : ''}>
            <td>{clock(j.ts)}</td>
            <td class="mono">{short(j.id, 24)}</td>
            <td>{j.status === 'ok' ? 'ok' : <span class="code">{j.code ?? 'error'}</span>}</td>
            <td class="n">{ms(j.latencyMs)}</td>
            <td class="n">{j.attempts}×</td>
          </tr>
        ))}
      </tbody>
    </table>
  )
}
