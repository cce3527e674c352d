/**
 * Reputation: what one requester saw of each agent — results accepted, results outvoted or
 * caught by a spot check (mismatched), attempts that timed out, results refused (garbage, bad
 * signatures or attestations) — and the latency of its accepted results (an exponential moving
 * average). Kept per requester, persisted to a JSON file (written to a temporary file and
 * renamed, so a crash never leaves half of it), and used in the pick rule:
 *
 *   trust  = (accepted + 1) / (accepted + 1 + 20·mismatched + 3·timedOut + 3·refused)
 *   factor = 1 / trust            (multiplies the lease score; lower wins)
 *
 * so one mismatch weighs as much as twenty accepted results, and a new agent starts at 1.
 * The book holds at most `maxAgents` agents; past that the one seen longest ago goes, with an
 * `evicted` event.
 */
import { EventEmitter } from 'node:events'
import { mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { dirname } from 'node:path'
import { ErrorCode, FogmeshError } from '../protocol/errors.ts'
import { mergeOptions, type Merged, type Ranges } from '../protocol/options.ts'

export type Observation = 'accepted' | 'mismatched' | 'timedOut' | 'refused'

export interface AgentReputation {
  accepted: number
  mismatched: number
  timedOut: number
  refused: number
  /** Moving average of the latency of accepted results, ms (0: none yet). */
  latencyMs: number
  /** 0..1, see the file comment. */
  trust: number
  /** When last observed (ms since the epoch). */
  lastSeen: number
}

export interface ReputationOptions {
  /** Where to persist it; none: in memory only. */
  file?: string
  /** Agents kept (default 100,000). */
  maxAgents?: number
  /** Writes at most every this many ms while observations come in (default 5000). */
  flushMs?: number
}

const DEFAULTS = { maxAgents: 100_000, flushMs: 5000 }
const RANGES: Ranges<ReputationOptions> = { maxAgents: { min: 1, max: 10_000_000, integer: true }, flushMs: { min: 0, max: 3_600_000, integer: true } }
const LATENCY_WEIGHT = 0.2
const WEIGHTS = { mismatched: 20, timedOut: 3, refused: 3 }

export interface ReputationEvents {
  evicted: [{ agent: string }]
  flushFailed: [{ message: string }]
}

interface FileFormat {
  kind: 'fogmesh-reputation'
  version: 1
  agents: Record<string, Omit<AgentReputation, 'trust'>>
}

export class ReputationBook extends EventEmitter<ReputationEvents> {
  private readonly agents = new Map<string, Omit<AgentReputation, 'trust'>>()
  private readonly opts: Merged<ReputationOptions, typeof DEFAULTS>
  private timer: NodeJS.Timeout | undefined
  private dirty = false

  constructor(options: ReputationOptions = {}) {
    super()
    this.opts = mergeOptions(options, DEFAULTS, RANGES, 'reputation')
    if (this.opts.file) this.load(this.opts.file)
  }

  record(agent: string, what: Observation, latencyMs?: number): void {
    let a = this.agents.get(agent)
    if (a) this.agents.delete(agent) // re-insert: the map's order is least recently seen first
    else a = { accepted: 0, mismatched: 0, timedOut: 0, refused: 0, latencyMs: 0, lastSeen: 0 }
    a[what]++
    if (what === 'accepted' && latencyMs !== undefined && Number.isFinite(latencyMs)) {
      a.latencyMs = a.latencyMs === 0 ? latencyMs : a.latencyMs + LATENCY_WEIGHT * (latencyMs - a.latencyMs)
    }
    a.lastSeen = Date.now()
    this.agents.set(agent, a)
    while (this.agents.size > this.opts.maxAgents) {
      const oldest = this.agents.keys().next().value!
      this.agents.delete(oldest)
      this.emit('evicted', { agent: oldest })
    }
    this.dirty = true
    this.scheduleFlush()
  }

  get(agent: string): AgentReputation | undefined {
    const a = this.agents.get(agent)
    return a ? { ...a, trust: trustOf(a) } : undefined
  }

  /** The pick-rule multiplier: 1 for an agent never seen, higher the less it is trusted. */
  factor(agent: string): number {
    const a = this.agents.get(agent)
    return a ? 1 / trustOf(a) : 1
  }

  snapshot(): Record<string, AgentReputation> {
    const out: Record<string, AgentReputation> = {}
    for (const [id, a] of this.agents) out[id] = { ...a, trust: trustOf(a) }
    return out
  }

  /** Writes the file now (when there is one and something changed). */
  flush(): void {
    if (this.timer) clearTimeout(this.timer)
    this.timer = undefined
    if (!this.opts.file || !this.dirty) return
    const file: FileFormat = { kind: 'fogmesh-reputation', version: 1, agents: Object.fromEntries(this.agents) }
    try {
      mkdirSync(dirname(this.opts.file), { recursive: true })
      const tmp = `${this.opts.file}.${process.pid}.tmp`
      writeFileSync(tmp, JSON.stringify(file) + '\n')
      renameSync(tmp, this.opts.file)
      this.dirty = false
    } catch (err) {
      this.emit('flushFailed', { message: (err as Error).message })
    }
  }

  close(): void {
    this.flush()
  }

  private scheduleFlush(): void {
    if (!this.opts.file || this.timer) return
    this.timer = setTimeout(() => this.flush(), this.opts.flushMs)
    this.timer.unref()
  }

  private load(path: string): void {
    let raw: string
    try {
      raw = readFileSync(path, 'utf8')
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return
      throw new FogmeshError(ErrorCode.usage, `cannot read reputation file ${path}: ${(err as NodeJS.ErrnoException).code}`)
    }
    const file = readReputationFile(raw, path)
    const entries = Object.entries(file.agents).sort((a, b) => a[1].lastSeen - b[1].lastSeen)
    for (const [id, a] of entries.slice(-this.opts.maxAgents)) this.agents.set(id, a)
  }
}

function trustOf(a: Omit<AgentReputation, 'trust'>): number {
  return (a.accepted + 1) / (a.accepted + 1 + WEIGHTS.mismatched * a.mismatched + WEIGHTS.timedOut * a.timedOut + WEIGHTS.refused * a.refused)
}

/** Parses a reputation file (what `fogmesh status` shows); throws a usage error naming the file. */
export function readReputationFile(raw: string, path: string): FileFormat {
  let file: Partial<FileFormat>
  try {
    file = JSON.parse(raw) as Partial<FileFormat>
  } catch {
    throw new FogmeshError(ErrorCode.usage, `reputation file ${path} is not valid JSON`)
  }
  if (file.kind !== 'fogmesh-reputation' || typeof file.agents !== 'object' || file.agents === null) {
    throw new FogmeshError(ErrorCode.usage, `${path} is not a fogmesh reputation file`)
  }
  const agents: FileFormat['agents'] = {}
  for (const [id, a] of Object.entries(file.agents)) {
    const n = (v: unknown) => (typeof v === 'number' && Number.isFinite(v) && v >= 0 ? v : 0)
    agents[id] = { accepted: n(a.accepted), mismatched: n(a.mismatched), timedOut: n(a.timedOut), refused: n(a.refused), latencyMs: n(a.latencyMs), lastSeen: n(a.lastSeen) }
  }
  return { kind: 'fogmesh-reputation', version: 1, agents }
}

/** The trust of a persisted record (for readers of the file). */
export const trustFromRecord = trustOf
