/**
 * The console page: connects to the broker over MQTT-over-WebSocket (the
 * console server's `/mqtt`, or `?broker=ws://…`), anonymously unless given
 * credentials (`?user=…&pass=…`, or the form shown when the broker refuses),
 * and renders what arrives.
 */
import { render } from 'preact'
import { App } from './app.tsx'
import { openLink, type Link, type LinkStatus } from './link.ts'
import { MeshStore } from './store.ts'
import './styles.css'

interface Config {
  mqttPath: string
  version: string
}

const params = new URLSearchParams(location.search)
const store = new MeshStore()
let link: Link | undefined
let state: { status: LinkStatus; detail?: string | undefined; since: number } = { status: 'connecting', since: Date.now() }

async function config(): Promise<Config> {
  try {
    const r = await fetch('config.json', { cache: 'no-store' })
    if (r.ok) return (await r.json()) as Config
  } catch {
    // served from elsewhere: the defaults below
  }
  return { mqttPath: '/mqtt', version: '' }
}

function connect(url: string, username?: string, password?: string): void {
  link?.close()
  link = openLink({
    url,
    username,
    password,
    onMessage: (topic, payload) => store.handle(topic, payload),
    onStatus: (status, detail) => {
      const wasUp = state.status === 'connected'
      const since = status === 'connected' || wasUp || state.status === 'unauthorized' ? Date.now() : state.since
      state = { status, detail, since }
    },
  })
}

const cfg = await config()
const url = params.get('broker') ?? `${location.protocol === 'https:' ? 'wss' : 'ws'}://${location.host}${cfg.mqttPath}`
const user = params.get('user') ?? undefined
const pass = params.get('pass') ?? undefined
if (user && pass === undefined) state = { status: 'unauthorized', detail: `password for ${user}`, since: Date.now() }
else connect(url, user, pass)

// heartbeats that stop make an agent unreachable even when no message arrives
setInterval(() => store.sweep(), 500)
// a read-only handle for tests and the curious (the page never publishes)
;(window as unknown as { fogmesh: unknown }).fogmesh = { store, version: cfg.version }

const root = document.getElementById('app')!
root.textContent = '' // the "loading…" placeholder
render(<App store={store} status={() => state} onLogin={(u, p) => connect(url, u, p)} />, root)
