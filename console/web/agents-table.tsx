/**
 * Every agent in one table that stays fast with thousands: only the rows in
 * view are in the DOM (fixed row height, spacers above and below), sorting
 * and filtering run on plain arrays. Keyboard: ↑/↓, PgUp/PgDn, Home/End move
 * the selection, Enter opens the agent, `/` filters.
 */
import { useEffect, useRef, useState } from 'preact/hooks'
import type { AgentTelemetry } from '../../protocol/telemetry.ts'
import { ago, mesh, num, price, short } from './format.ts'
import type { AgentState, AgentView, MeshStore } from './store.ts'

const ROW = 44
const OVERSCAN = 8

interface Row {
  a: AgentView
  t: AgentTelemetry | undefined
}

type Key = 'name' | 'state' | 'site' | 'device' | 'slots' | 'load' | 'price' | 'version' | 'jobs' | 'failures' | 'fuel' | 'earned' | 'seen'

const COLUMNS: Array<{ key: Key; label: string; num?: boolean }> = [
  { key: 'name', label: 'Agent' },
  { key: 'state', label: 'State' },
  { key: 'site', label: 'Site' },
  { key: 'device', label: 'Device' },
  { key: 'slots', label: 'Slots', num: true },
  { key: 'load', label: 'Load', num: true },
  { key: 'price', label: 'Price', num: true },
  { key: 'version', label: 'Version' },
  { key: 'jobs', label: 'Jobs', num: true },
  { key: 'failures', label: 'Failed', num: true },
  { key: 'fuel', label: 'Fuel', num: true },
  { key: 'earned', label: 'Earned', num: true },
  { key: 'seen', label: 'Last seen', num: true },
]

const STATE_RANK: Record<AgentState, number> = { gone: 0, unreachable: 1, online: 2 }

function sortValue(r: Row, key: Key): number | string {
  const { a, t } = r
  switch (key) {
    case 'name': return a.name.toLowerCase()
    case 'state': return STATE_RANK[a.state]
    case 'site': return a.site
    case 'device': return a.presence ? `${a.presence.capacity.arch}/${a.presence.capacity.cores}` : ''
    case 'slots': return a.presence?.capacity.slots ?? 0
    case 'load': return a.load.running + a.load.queued
    case 'price': return a.presence?.price.perJob ?? 0
    case 'version': return a.presence?.version ?? ''
    case 'jobs': return t ? t.jobs.ok + t.jobs.failed : a.seenOk + a.seenFailed
    case 'failures': return t ? t.jobs.failed : a.seenFailed
    case 'fuel': return t?.jobs.fuel ?? 0
    case 'earned': return Number(BigInt(t?.settlement?.paid ?? '0') / 10n ** 9n)
    case 'seen': return a.lastSeen
  }
}

export function matches(a: AgentView, q: string): boolean {
  if (!q) return true
  const hay = `${a.id} ${a.name} ${a.site} ${a.state} ${a.presence?.version ?? ''} ${Object.entries(a.presence?.labels ?? {}).map(([k, v]) => `${k}=${v}`).join(' ')}`.toLowerCase()
  return q.toLowerCase().split(/\s+/).filter(Boolean).every((w) => hay.includes(w))
}

export function AgentsTable({ store, now, initialFilter = '' }: { store: MeshStore; now: number; initialFilter?: string }) {
  const [sort, setSort] = useState<{ key: Key; dir: 1 | -1 }>({ key: 'state', dir: 1 })
  const [filter, setFilter] = useState(initialFilter)
  const [state, setState] = useState<AgentState | 'all'>('all')
  const [scroll, setScroll] = useState(0)
  const [height, setHeight] = useState(600)
  const [sel, setSel] = useState(0)
  const box = useRef<HTMLDivElement>(null)
  const search = useRef<HTMLInputElement>(null)

  useEffect(() => {
    const el = box.current
    if (!el) return
    const ro = new ResizeObserver(() => setHeight(el.clientHeight))
    ro.observe(el)
    setHeight(el.clientHeight)
    const slash = (e: KeyboardEvent) => {
      if (e.key === '/' && document.activeElement?.tagName !== 'INPUT') {
        e.preventDefault()
        search.current?.focus()
      }
    }
    window.addEventListener('keydown', slash)
    return () => {
      ro.disconnect()
      window.removeEventListener('keydown', slash)
    }
  }, [])

  const rows: Row[] = []
  for (const a of store.agents.values()) {
    if ((state === 'all' || a.state === state) && matches(a, filter)) rows.push({ a, t: store.telemetry.get(a.id) })
  }
  rows.sort((x, y) => {
    const a = sortValue(x, sort.key)
    const b = sortValue(y, sort.key)
    const c = a < b ? -1 : a > b ? 1 : 0
    return c * sort.dir || x.a.name.localeCompare(y.a.name)
  })
  const first = Math.max(0, Math.floor(scroll / ROW) - OVERSCAN)
  const last = Math.min(rows.length, Math.ceil((scroll + height) / ROW) + OVERSCAN)
  const selected = Math.min(sel, Math.max(0, rows.length - 1))

  const move = (to: number) => {
    const i = Math.max(0, Math.min(rows.length - 1, to))
    setSel(i)
    const el = box.current
    if (!el) return
    const header = ROW
    if (i * ROW < el.scrollTop) el.scrollTop = i * ROW
    else if ((i + 1) * ROW + header > el.scrollTop + el.clientHeight) el.scrollTop = (i + 1) * ROW + header - el.clientHeight
  }
  const onKey = (e: KeyboardEvent) => {
    const page = Math.max(1, Math.floor(height / ROW) - 1)
    const keys: Record<string, () => void> = {
      ArrowDown: () => move(selected + 1),
      ArrowUp: () => move(selected - 1),
      PageDown: () => move(selected + page),
      PageUp: () => move(selected - page),
      Home: () => move(0),
      End: () => move(rows.length - 1),
      Enter: () => {
        const r = rows[selected]
        if (r) location.hash = `#/agent/${r.a.id}`
      },
    }
    const f = keys[e.key]
    if (f && (e.target as HTMLElement).tagName !== 'INPUT') {
      e.preventDefault()
      f()
    }
  }

  return (
    <section class="agents" aria-label="agents">
      <div class="toolbar">
        <label>
          Filter <input ref={search} type="search" value={filter} placeholder="name, id, site, label… ( / )" onInput={(e) => { setFilter((e.target as HTMLInputElement).value); setSel(0) }} aria-label="filter agents" />
        </label>
        <label>
          State{' '}
          <select value={state} onChange={(e) => setState((e.target as HTMLSelectElement).value as AgentState | 'all')} aria-label="agent state">
            <option value="all">all</option>
            <option value="online">online</option>
            <option value="unreachable">unreachable</option>
            <option value="gone">gone</option>
          </select>
        </label>
        <span class="muted" data-testid="agents-shown">{rows.length} of {store.agents.size} agents</span>
      </div>
      <div class="table-box" ref={box} tabIndex={0} onScroll={(e) => setScroll((e.target as HTMLElement).scrollTop)} onKeyDown={onKey} aria-label="agents table; arrow keys move, Enter opens">
        <table class="grid-table" aria-rowcount={rows.length}>
          <thead>
            <tr>
              {COLUMNS.map((c) => (
                <th key={c.key} class={c.num ? 'n' : ''} aria-sort={sort.key === c.key ? (sort.dir === 1 ? 'ascending' : 'descending') : 'none'}>
                  <button type="button" onClick={() => setSort({ key: c.key, dir: sort.key === c.key ? (-sort.dir as 1 | -1) : 1 })}>
                    {c.label}
                    {sort.key === c.key ? (sort.dir === 1 ? ' ▲' : ' ▼') : ''}
                  </button>
                </th>
              ))}
            </tr>
          </thead>
          <tbody>
            <tr style={{ height: `${first * ROW}px` }} aria-hidden="true" />
            {rows.slice(first, last).map((r, i) => (
              <AgentRow key={r.a.id} r={r} now={now} selected={first + i === selected} onPick={() => setSel(first + i)} />
            ))}
            <tr style={{ height: `${(rows.length - last) * ROW}px` }} aria-hidden="true" />
          </tbody>
        </table>
      </div>
    </section>
  )
}

function AgentRow({ r, now, selected, onPick }: { r: Row; now: number; selected: boolean; onPick: () => void }) {
  const { a, t } = r
  const p = a.presence
  const jobs = t ? t.jobs.ok + t.jobs.failed : a.seenOk + a.seenFailed
  const failed = t ? t.jobs.failed : a.seenFailed
  return (
    <tr class={`${a.state}${selected ? ' selected' : ''}`} data-agent={a.id} data-state={a.state} onClick={onPick}>
      <td>
        <a href={`#/agent/${a.id}`}>{a.name}</a> <span class="muted mono">{short(a.id)}</span>
      </td>
      <td><span class={`badge ${a.state}`}>{a.state}</span></td>
      <td>{a.site}</td>
      <td class="mono">{p ? `${p.capacity.arch}/${p.capacity.cores}c/${Math.round(p.capacity.memoryMiB / 1024)}G` : '–'}</td>
      <td class="n">{p?.capacity.slots ?? '–'}</td>
      <td class="n">{a.load.running}/{a.load.queued}</td>
      <td class="n">{p ? price(p.price.perJob) : '–'}</td>
      <td>{p?.version ?? '–'}</td>
      <td class="n">{num(jobs)}</td>
      <td class={`n${failed ? ' bad' : ''}`}>{num(failed)}</td>
      <td class="n">{num(t?.jobs.fuel)}</td>
      <td class="n">{t?.settlement ? mesh(t.settlement.paid, 6) : '–'}</td>
      <td class="n">{ago(a.lastSeen, now)}</td>
    </tr>
  )
}
