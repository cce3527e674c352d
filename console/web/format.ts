/** How the page shows numbers: short, and the same everywhere. */

export function ms(v: number | undefined | null): string {
  if (v === undefined || v === null || !Number.isFinite(v)) return '–'
  if (v < 1) return `${(v * 1000).toFixed(0)} µs`
  if (v < 10) return `${v.toFixed(1)} ms`
  if (v < 1000) return `${v.toFixed(0)} ms`
  return `${(v / 1000).toFixed(1)} s`
}

export function num(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '–'
  if (Math.abs(v) >= 1e9) return `${(v / 1e9).toFixed(1)}G`
  if (Math.abs(v) >= 1e6) return `${(v / 1e6).toFixed(1)}M`
  if (Math.abs(v) >= 1e4) return `${(v / 1e3).toFixed(1)}k`
  return Number.isInteger(v) ? String(v) : v.toFixed(1)
}

/** Token base units (18 decimals) as MESH. */
export function mesh(base: bigint | string | undefined, digits = 6): string {
  if (base === undefined) return '–'
  const b = typeof base === 'bigint' ? base : BigInt(base)
  const unit = 10n ** 18n
  const whole = b / unit
  const frac = (b % unit).toString().padStart(18, '0').slice(0, digits)
  return `${whole}.${frac} MESH`
}

export function ago(ts: number | undefined, now = Date.now()): string {
  if (!ts) return '–'
  const s = Math.max(0, Math.round((now - ts) / 1000))
  if (s < 1) return 'now'
  if (s < 60) return `${s} s ago`
  if (s < 3600) return `${Math.floor(s / 60)} min ago`
  if (s < 86400) return `${Math.floor(s / 3600)} h ago`
  return `${Math.floor(s / 86400)} d ago`
}

export function clock(ts: number): string {
  const d = new Date(ts)
  const p = (n: number, w = 2) => String(n).padStart(w, '0')
  return `${p(d.getHours())}:${p(d.getMinutes())}:${p(d.getSeconds())}.${p(d.getMilliseconds(), 3)}`
}

export const short = (id: string | undefined, n = 8) => (id ? (id.length > n + 1 ? `${id.slice(0, n)}…` : id) : '–')

export function pct(v: number | undefined): string {
  if (v === undefined || !Number.isFinite(v)) return '–'
  return `${(v * 100).toFixed(v < 0.1 ? 1 : 0)}%`
}

/** A price per job in token base units: MESH when it is a visible fraction of one, base units otherwise. */
export function price(perJob: number): string {
  if (perJob >= 1e9) return mesh(BigInt(Math.round(perJob)), 6)
  return `${num(perJob)} units`
}

/** An amount for a big tile: [value, unit] in MESH, or µMESH below a hundredth of one. */
export function meshTile(base: bigint): [string, string] {
  if (base === 0n) return ['0', 'MESH']
  if (base >= 10n ** 16n) return [(Number(base / 10n ** 14n) / 10_000).toFixed(2), 'MESH']
  const micro = Number(base) / 1e12
  return [micro >= 10 ? micro.toFixed(0) : micro.toFixed(1), 'µMESH']
}
