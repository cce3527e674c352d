/**
 * The page's frame: header with the connection state and the mesh's counts,
 * navigation (keys 1–5), and the view the address names (`#/`, `#/agents`,
 * `#/agent/<id>`, `#/jobs`, `#/alerts`, `#/map`). The store is polled for
 * changes 4 times a second at most — 1,000 agents beating every second must
 * not mean 1,000 renders.
 */
import { useEffect, useState } from 'preact/hooks'
import { AgentPage } from './agent-page.tsx'
import { AgentsTable } from './agents-table.tsx'
import { AlertsPanel } from './alerts-panel.tsx'
import { num } from './format.ts'
import { JobsFeed } from './jobs-feed.tsx'
import type { LinkStatus } from './link.ts'
import { SiteMap } from './map.tsx'
import { Overview } from './overview.tsx'
import type { MeshStore } from './store.ts'

export const FRAME_MS = 250

const NAV = [
  { key: '1', hash: '#/', label: 'Overview' },
  { key: '2', hash: '#/agents', label: 'Agents' },
  { key: '3', hash: '#/jobs', label: 'Jobs' },
  { key: '4', hash: '#/alerts', label: 'Alerts' },
  { key: '5', hash: '#/map', label: 'Map' },
]

export interface AppProps {
  store: MeshStore
  status: () => { status: LinkStatus; detail?: string | undefined; since: number }
  onLogin: (username: string, password: string) => void
}

function useRoute(): string {
  const [hash, setHash] = useState(location.hash || '#/')
  useEffect(() => {
    const on = () => setHash(location.hash || '#/')
    window.addEventListener('hashchange', on)
    return () => window.removeEventListener('hashchange', on)
  }, [])
  return hash
}

/** Re-renders when the store changed, at most every FRAME_MS. */
function useTicker(store: MeshStore): number {
  const [, setTick] = useState(0)
  useEffect(() => {
    let seen = -1
    let lastSecond = 0
    const t = setInterval(() => {
      const second = Math.floor(Date.now() / 1000)
      if (store.version !== seen || second !== lastSecond) {
        seen = store.version
        lastSecond = second
        setTick((n) => n + 1)
      }
    }, FRAME_MS)
    return () => clearInterval(t)
  }, [store])
  return Date.now()
}

export function App({ store, status, onLogin }: AppProps) {
  const now = useTicker(store)
  const route = useRoute()
  const link = status()
  useEffect(() => {
    const keys = (e: KeyboardEvent) => {
      const tag = document.activeElement?.tagName
      if (tag === 'INPUT' || tag === 'SELECT' || e.ctrlKey || e.metaKey || e.altKey) return
      const n = NAV.find((x) => x.key === e.key)
      if (n) {
        e.preventDefault()
        location.hash = n.hash
      } else if (e.key === 'Escape' && location.hash.startsWith('#/agent/')) location.hash = '#/agents'
    }
    window.addEventListener('keydown', keys)
    return () => window.removeEventListener('keydown', keys)
  }, [])

  const [path, query] = route.slice(1).split('?') as [string, string | undefined]
  const params = new URLSearchParams(query ?? '')
  let view
  if (path.startsWith('/agent/')) view = <AgentPage store={store} id={decodeURIComponent(path.slice(7))} now={now} />
  else if (path === '/agents') view = <AgentsTable store={store} now={now} initialFilter={params.get('q') ?? ''} />
  else if (path === '/jobs') view = <JobsFeed store={store} limit={300} />
  else if (path === '/alerts') view = <div class="panel"><h2>Alerts</h2><AlertsPanel store={store} now={now} /></div>
  else if (path === '/map') view = <div class="panel"><h2>Sites</h2><SiteMap store={store} version={store.placeVersion} /></div>
  else view = <Overview store={store} now={now} second={Math.floor(now / 1000)} />

  const counts = store.counts()
  const active = NAV.find((n) => n.hash === `#${path}`) ?? (path.startsWith('/agent/') ? NAV[1] : NAV[0])
  return (
    <div class={`app link-${link.status}`}>
      <header class="top">
        <h1>fogmesh</h1>
        <nav aria-label="views">
          {NAV.map((n) => (
            <a key={n.hash} href={n.hash} aria-current={n === active ? 'page' : undefined} aria-keyshortcuts={n.key}>
              <kbd>{n.key}</kbd> {n.label}
              {n.hash === '#/alerts' && store.alerts.length ? <span class="count">{store.alerts.length}</span> : null}
            </a>
          ))}
        </nav>
        <div class="summary" aria-live="polite">
          <span class="ok">{counts.online} online</span>
          {counts.unreachable ? <span class="warn">{counts.unreachable} unreachable</span> : null}
          {counts.gone ? <span class="bad">{counts.gone} gone</span> : null}
          {store.dropped ? <span class="muted" title={store.lastDrop ? `${store.lastDrop.topic}: ${store.lastDrop.message}` : ''} data-testid="dropped">{num(store.dropped)} bad messages dropped</span> : null}
        </div>
        <div class={`conn ${link.status}`} role="status" data-testid="connection">
          {link.status === 'connected' ? 'live' : link.status === 'connecting' ? 'connecting…' : link.status === 'unauthorized' ? 'refused' : 'disconnected'}
        </div>
      </header>
      {(link.status === 'disconnected' || link.status === 'connecting') && (link.status === 'disconnected' || now - link.since > 1500) ? (
        <div class="banner" role="alert" data-testid="disconnected">
          disconnected from the broker{link.detail ? ` (${link.detail})` : ''} — reconnecting by itself; what is shown is as of {Math.round((now - link.since) / 1000)} s ago
        </div>
      ) : null}
      {link.status === 'unauthorized' ? <Login detail={link.detail} onLogin={onLogin} /> : null}
      <main>{view}</main>
    </div>
  )
}

function Login({ detail, onLogin }: { detail: string | undefined; onLogin: (u: string, p: string) => void }) {
  const [user, setUser] = useState('')
  const [pass, setPass] = useState('')
  return (
    <form
      class="login panel"
      onSubmit={(e) => {
        e.preventDefault()
        onLogin(user, pass)
      }}
    >
      <h2>The broker wants an operator's credentials</h2>
      {detail ? <p class="muted">{detail}</p> : null}
      <label>
        User <input autoFocus value={user} autocomplete="username" onInput={(e) => setUser((e.target as HTMLInputElement).value)} />
      </label>
      <label>
        Password <input type="password" value={pass} autocomplete="current-password" onInput={(e) => setPass((e.target as HTMLInputElement).value)} />
      </label>
      <button type="submit">Connect</button>
    </form>
  )
}
