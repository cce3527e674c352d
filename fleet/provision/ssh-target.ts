/**
 * Where to provision: `ssh://user@host[:port]`, and a hosts file of such lines with
 * optional per-host `name=` and `labels=`:
 *
 * ```
 * # site depot-3
 * ssh://pi@10.0.0.21 name=pi-kitchen labels=site=depot-3,room=kitchen
 * ssh://root@gw.local:2222
 * ```
 */
import { readFileSync } from 'node:fs'
import { ErrorCode, FogmeshError } from '../../protocol/errors.ts'

export interface SshTarget {
  user: string
  host: string
  port: number
  /** `user@host:port` as messages name it. */
  label: string
  name?: string
  labels?: Record<string, string>
}

const usage = (m: string) => new FogmeshError(ErrorCode.usage, m)

export function parseTarget(url: string): SshTarget {
  const m = /^ssh:\/\/([A-Za-z0-9._-]{1,32})@(\[[0-9a-fA-F:.]+\]|[A-Za-z0-9.-]{1,253})(?::(\d{1,5}))?\/?$/.exec(url)
  if (!m) throw usage(`${url}: expected ssh://user@host[:port]`)
  const port = m[3] === undefined ? 22 : Number(m[3])
  if (port < 1 || port > 65535) throw usage(`${url}: port ${port} is not 1..65535`)
  const host = m[2]!.replace(/^\[|\]$/g, '')
  return { user: m[1]!, host, port, label: `${m[1]}@${host}${port === 22 ? '' : `:${port}`}` }
}

function parseLabels(raw: string, where: string): Record<string, string> {
  const out: Record<string, string> = {}
  for (const part of raw.split(',').filter(Boolean)) {
    const i = part.indexOf('=')
    if (i <= 0) throw usage(`${where}: labels take k=v pairs separated by commas (got "${part}")`)
    out[part.slice(0, i)] = part.slice(i + 1)
  }
  return out
}

/** A hosts file: one target a line, `#` comments, blank lines ignored; errors name the line. */
export function parseHostsFile(path: string): SshTarget[] {
  let text: string
  try {
    text = readFileSync(path, 'utf8')
  } catch (err) {
    throw usage(`cannot read hosts file ${path}: ${(err as NodeJS.ErrnoException).code ?? 'unreadable'}`)
  }
  const out: SshTarget[] = []
  for (const [i, raw] of text.split('\n').entries()) {
    const line = raw.replace(/#.*$/, '').trim()
    if (!line) continue
    const where = `${path}:${i + 1}`
    const [url, ...rest] = line.split(/\s+/)
    let t: SshTarget
    try {
      t = parseTarget(url!)
    } catch (err) {
      throw usage(`${where}: ${(err as FogmeshError).shortMessage}`)
    }
    for (const kv of rest) {
      const j = kv.indexOf('=')
      const key = kv.slice(0, j)
      const value = kv.slice(j + 1)
      if (key === 'name' && /^[A-Za-z0-9._-]{1,64}$/.test(value)) t.name = value
      else if (key === 'labels') t.labels = parseLabels(value, where)
      else throw usage(`${where}: unknown field "${kv}" (name=N, labels=k=v,...)`)
    }
    out.push(t)
  }
  if (out.length === 0) throw usage(`hosts file ${path} names no host`)
  return out
}
