/**
 * A map of the sites drawn from the agents' `lat`/`lon`/`site` labels alone:
 * an equirectangular projection fitted to the agents, a graticule with its
 * degrees, a scale bar — no tile server, so it works with no internet.
 * Agents are dots coloured (and shaped) by state; agents at the same spot
 * spread out in a small spiral around it.
 */
import { useMemo } from 'preact/hooks'
import type { AgentView, MeshStore } from './store.ts'

const W = 900
const H = 520
const PAD = 48
const NICE = [0.0001, 0.0002, 0.0005, 0.001, 0.002, 0.005, 0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 30, 45]
const NICE_KM = [0.01, 0.02, 0.05, 0.1, 0.2, 0.5, 1, 2, 5, 10, 20, 50, 100, 200, 500, 1000, 2000, 5000]

interface Placed {
  a: AgentView
  x: number
  y: number
}

export function SiteMap({ store, version, compact = false }: { store: MeshStore; version: number; compact?: boolean }) {
  const drawn = useMemo(() => layout([...store.agents.values()]), [version])
  const sites = useMemo(() => store.sites(), [version])
  if (!drawn) {
    return (
      <div class="map-empty" role="img" aria-label="map: no agent has lat/lon labels">
        No agent has <code>lat</code>/<code>lon</code> labels yet (e.g. <code>--labels site=depot-3,lat=52.52,lon=13.40</code>).
      </div>
    )
  }
  const { placed, project, lines, scale, unplaced } = drawn
  return (
    <div class="map">
      <svg
        onClick={(e) => {
          // one handler for every dot (1,000 links would weigh on the page); the table is the keyboard way in
          const id = (e.target as Element).getAttribute('data-agent')
          if (id) location.hash = `#/agent/${id}`
        }}
        viewBox={`0 0 ${W} ${H}`}
        role="img"
        aria-label={`map of ${sites.length} sites, ${placed.length} agents placed`}
        data-agents={placed.length}
        data-sites={sites.filter((s) => s.lat !== undefined).length}
      >
        <rect x="0" y="0" width={W} height={H} class="map-bg" />
        {lines.map((l) => (
          <g key={`${l.kind}${l.v}`} class="grid">
            {l.kind === 'lat' ? <line x1={PAD / 2} x2={W - PAD / 2} y1={l.p} y2={l.p} /> : <line y1={PAD / 2} y2={H - PAD / 2} x1={l.p} x2={l.p} />}
            <text x={l.kind === 'lat' ? 4 : l.p + 4} y={l.kind === 'lat' ? l.p - 4 : H - 6}>{`${l.v.toFixed(decimals(l.step))}°${l.kind === 'lat' ? (l.v >= 0 ? 'N' : 'S') : l.v >= 0 ? 'E' : 'W'}`}</text>
          </g>
        ))}
        <g class="scale" transform={`translate(${W - PAD - scale.px}, ${H - PAD / 2 - 8})`}>
          <line x1="0" x2={scale.px} y1="0" y2="0" />
          <line x1="0" x2="0" y1="-6" y2="6" />
          <line x1={scale.px} x2={scale.px} y1="-6" y2="6" />
          <text x={scale.px / 2} y="-10" text-anchor="middle">{scale.label}</text>
        </g>
        {placed.map(({ a, x, y }) => (
          <circle key={a.id} cx={x} cy={y} r={compact ? 6 : 8} class={`dot ${a.state}`} data-agent={a.id} data-state={a.state}>
            <title>{`${a.name} (${a.state}) · ${a.site}`}</title>
          </circle>
        ))}
        {sites.map((s) => {
          if (s.lat === undefined || s.lon === undefined) return null
          const [x, y] = project(s.lat, s.lon)
          return (
            <text key={s.site} x={x} y={y - 34} class="site-label" text-anchor="middle">
              {s.site}
              <tspan class="counts" x={x} dy="17">{`${s.online} up${s.unreachable ? ` · ${s.unreachable} unreach.` : ''}${s.gone ? ` · ${s.gone} gone` : ''}`}</tspan>
            </text>
          )
        })}
      </svg>
      {unplaced > 0 && <p class="muted">{unplaced} agents without lat/lon labels are not on the map.</p>}
    </div>
  )
}

function layout(agents: AgentView[]) {
  const withPos = agents.filter((a) => a.lat !== undefined && a.lon !== undefined)
  if (withPos.length === 0) return undefined
  let minLat = Infinity, maxLat = -Infinity, minLon = Infinity, maxLon = -Infinity
  for (const a of withPos) {
    minLat = Math.min(minLat, a.lat!)
    maxLat = Math.max(maxLat, a.lat!)
    minLon = Math.min(minLon, a.lon!)
    maxLon = Math.max(maxLon, a.lon!)
  }
  const midLat = (minLat + maxLat) / 2
  const k = Math.max(0.05, Math.cos((midLat * Math.PI) / 180)) // a degree of longitude is shorter away from the equator
  // at least ~1 km across, and 15% room around the agents
  const spanLat = Math.max(0.01, maxLat - minLat) * 1.3
  const spanLon = Math.max(0.01 / k, maxLon - minLon) * 1.3
  const cLat = midLat
  const cLon = (minLon + maxLon) / 2
  const scalePx = Math.min((W - 2 * PAD) / (spanLon * k), (H - 2 * PAD) / spanLat) // px per degree of latitude
  const project = (lat: number, lon: number): [number, number] => [W / 2 + (lon - cLon) * k * scalePx, H / 2 - (lat - cLat) * scalePx]

  const stepLat = nice((H - 2 * PAD) / scalePx / 4)
  const stepLon = nice((W - 2 * PAD) / (scalePx * k) / 5)
  const lines: Array<{ kind: 'lat' | 'lon'; v: number; p: number; step: number }> = []
  const latTop = cLat + H / 2 / scalePx
  const latBottom = cLat - H / 2 / scalePx
  for (let v = Math.ceil(latBottom / stepLat) * stepLat; v <= latTop && lines.length < 40; v += stepLat) lines.push({ kind: 'lat', v, p: project(v, cLon)[1], step: stepLat })
  const lonLeft = cLon - W / 2 / (scalePx * k)
  const lonRight = cLon + W / 2 / (scalePx * k)
  for (let v = Math.ceil(lonLeft / stepLon) * stepLon; v <= lonRight && lines.length < 80; v += stepLon) lines.push({ kind: 'lon', v, p: project(cLat, v)[0], step: stepLon })

  const kmPerPx = 111.32 / scalePx
  const km = NICE_KM.reduce((best, d) => (Math.abs(d / kmPerPx - W / 6) < Math.abs(best / kmPerPx - W / 6) ? d : best), NICE_KM[0]!)
  const scale = { px: km / kmPerPx, label: km < 1 ? `${Math.round(km * 1000)} m` : `${km} km` }

  // agents at the same spot: a sunflower spiral around it
  const spots = new Map<string, number>()
  const placed: Placed[] = []
  for (const a of withPos.sort((x, y) => x.id.localeCompare(y.id))) {
    const [x0, y0] = project(a.lat!, a.lon!)
    const key = `${Math.round(x0 / 6)}:${Math.round(y0 / 6)}`
    const n = spots.get(key) ?? 0
    spots.set(key, n + 1)
    const r = n === 0 ? 0 : 9 * Math.sqrt(n)
    const angle = n * 2.39996 // the golden angle
    placed.push({ a, x: x0 + r * Math.cos(angle), y: y0 + r * Math.sin(angle) })
  }
  return { placed, project, lines, scale, unplaced: agents.length - withPos.length }
}

function nice(raw: number): number {
  return NICE.find((s) => s >= raw) ?? NICE[NICE.length - 1]!
}

function decimals(step: number): number {
  return Math.max(0, Math.min(5, Math.ceil(-Math.log10(step))))
}
