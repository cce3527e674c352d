/** The live job feed: newest first, failures highlighted, search by job id, pause to read. */
import { useEffect, useRef, useState } from 'preact/hooks'
import { clock, ms, num, short } from './format.ts'
import type { FeedItem, MeshStore } from './store.ts'

export function JobsFeed({ store, limit = 200, compact = false }: { store: MeshStore; limit?: number; compact?: boolean }) {
  const [q, setQ] = useState('')
  const [failuresOnly, setFailuresOnly] = useState(false)
  const [paused, setPaused] = useState<FeedItem[] | undefined>(undefined)
  const search = useRef<HTMLInputElement>(null)

  useEffect(() => {
    if (compact) return
    const keys = (e: KeyboardEvent) => {
      if (document.activeElement?.tagName === 'INPUT') return
      if (e.key === '/') {
        e.preventDefault()
        search.current?.focus()
      }
    }
    window.addEventListener('keydown', keys)
    return () => window.removeEventListener('keydown', keys)
  }, [compact])

  const needle = q.trim()
  const keep = (j: FeedItem) => (!failuresOnly || j.status === 'error') && (!needle || j.id.includes(needle))
  const items = paused ? paused.filter(keep).slice(0, limit) : store.feed.newest(limit, keep)
  return (
    <section class="feed" aria-label="job feed">
      {!compact && (
        <div class="toolbar">
          <label>
            Job id <input ref={search} type="search" value={q} placeholder="search by id ( / )" onInput={(e) => setQ((e.target as HTMLInputElement).value)} aria-label="search jobs by id" />
          </label>
          <label>
            <input type="checkbox" checked={failuresOnly} onChange={(e) => setFailuresOnly((e.target as HTMLInputElement).checked)} /> failures only
          </label>
          <button type="button" onClick={() => setPaused(paused ? undefined : store.feed.newest())} aria-pressed={paused !== undefined}>
            {paused ? 'resume' : 'pause'}
          </button>
          <span class="muted">
            last {store.feed.size} jobs kept{store.eventsDropped ? ` · ${num(store.eventsDropped)} events left out by publishers (rate cap)` : ''}
          </span>
        </div>
      )}
      <table class={`grid-table feed-table${compact ? ' compact' : ''}`}>
        {compact && (
          <colgroup>
            <col style={{ width: '5.2em' }} />
            <col />
            <col style={{ width: '6.5em' }} />
            <col style={{ width: '6.5em' }} />
            <col style={{ width: '5em' }} />
            <col style={{ width: '3em' }} />
          </colgroup>
        )}
        <thead>
          <tr>
            <th>time</th>
            <th>job id</th>
            {!compact && <th>module</th>}
            <th>status</th>
            <th>agent</th>
            <th class="n">latency</th>
            <th class="n">{compact ? 'tries' : 'attempts'}</th>
          </tr>
        </thead>
        <tbody>
          {items.map((j) => (
            <tr key={`${j.source}${j.id}${j.ts}`} class={j.status === 'error' ? 'error' : ''} data-job={j.id} data-status={j.status} data-code={j.code ?? ''}>
              <td>{compact ? clock(j.ts).slice(0, 8) : clock(j.ts)}</td>
              <td class="mono">{compact ? short(j.id, 20) : j.id}</td>
              {!compact && <td class="mono">{short(j.module, 12)}</td>}
              <td>{j.status === 'ok' ? <span class="ok">ok</span> : <span class="code">✕ {j.code ?? 'error'}</span>}</td>
              <td>{j.agent ? <a href={`#/agent/${j.agent}`}>{store.agents.get(j.agent)?.name ?? short(j.agent)}</a> : '–'}</td>
              <td class="n">{ms(j.latencyMs)}</td>
              <td class={`n${j.attempts > 1 ? ' warn' : ''}`}>{j.attempts}</td>
            </tr>
          ))}
        </tbody>
      </table>
      {items.length === 0 && <p class="muted">{needle ? `no job id contains “${needle}” among the last ${store.feed.size}` : 'no jobs yet'}</p>}
    </section>
  )
}
