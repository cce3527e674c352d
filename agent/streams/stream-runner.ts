/**
 * One stream job on one agent. As `standby` it buffers the source's readings
 * (bounded, drop-oldest) and follows the retained stream state, dropping what
 * the primary has consumed. As `primary` it resumes after the last published
 * window (the state's seq and cursor; a cold start waits `stateWaitMs` for the
 * retained state), cuts windows (windower.ts), runs the module once per window
 * — one at a time, at most `maxPendingWindows` waiting, then drop-oldest,
 * counted — and for each window publishes the signed result on the stream's
 * `replyTo`, a receipt to the placer (payment), then the state (retained):
 * result before state, so a takeover re-runs at most the windows whose state
 * it did not see (at-least-once; `id` + `seq` let consumers drop duplicates).
 */
import { createHash } from 'node:crypto'
import { EventEmitter } from 'node:events'
import type { Clock, Timer } from '../../protocol/clock.ts'
import type { Result } from '../../protocol/messages.ts'
import type { RunnableJob } from '../admission.ts'
import { signResult, type Signer } from '../../protocol/signature.ts'
import { streamStateSchema, windowJobId, type StreamSpec, type StreamState } from '../../protocol/streams.ts'
import { topics } from '../../protocol/topics.ts'
import type { Connection } from '../../protocol/transport.ts'
import { decodeJson } from '../../protocol/validate.ts'
import { afterCursor, Windower, type ClosedWindow, type Reading } from './windower.ts'

export interface StreamLimits {
  /** Windows waiting for the module; one more drops the oldest (counted). */
  maxPendingWindows: number
  /** Readings a standby (or a primary between windows) holds; one more drops the oldest. */
  maxBufferedReadings: number
  /** Largest reading taken; larger ones are counted `invalid` and dropped. */
  maxReadingBytes: number
  /** Time windows close this long after their end (readings in flight). */
  graceMs: number
  /** A cold start waits this long for the retained stream state. */
  stateWaitMs: number
}

export interface StreamRunnerDeps {
  conn: Connection
  agentId: string
  clock: Clock
  signer: Signer
  /** Runs one window as a job (the agent's AssignmentRunner): a signed result, never a rejection for job faults. */
  run: (job: RunnableJob) => Promise<Result>
  limits: StreamLimits
}

export interface StreamCounts {
  readings: number
  windows: number
  dropped: number
  invalid: number
  overflow: number
  late: number
  skipped: number
}

export interface StreamRunnerEvents {
  window: [{ stream: string; seq: number; status: 'ok' | 'error'; count: number; result: Result }]
  dropped: [{ stream: string; seq: number; reason: 'pending_cap' }]
  invalid: [{ stream: string; reason: string }]
}

const sha256 = (b: Uint8Array | string) => createHash('sha256').update(b).digest('hex')

export class StreamRunner extends EventEmitter<StreamRunnerEvents> {
  role: 'standby' | 'primary' = 'standby'
  private buffer: Reading[] = []
  private windower: Windower | undefined
  private state: StreamState | undefined
  private readonly queue: ClosedWindow[] = []
  private running = false
  private timer: Timer | undefined
  private stopped = false
  private readonly counts_ = { readings: 0, windows: 0, dropped: 0, invalid: 0, overflow: 0 }
  private readonly stateTopic: string

  constructor(
    readonly spec: StreamSpec,
    private readonly placer: { requester: string; inbox: string },
    private readonly d: StreamRunnerDeps,
  ) {
    super()
    this.stateTopic = topics.streamState(spec.stream)
  }

  /** Subscribes to the state; as primary, resumes from it. Readings are fed by the host (`onReading`). */
  async start(role: 'standby' | 'primary'): Promise<void> {
    this.d.conn.route(this.stateTopic, (_t, p) => this.onState(p))
    await this.d.conn.subscribe(this.stateTopic, 1)
    if (role === 'primary') await this.promote(true)
  }

  /** Becomes the primary: resumes after the last window published (waiting for the retained state on a cold start). */
  async promote(coldStart = false): Promise<void> {
    if (this.role === 'primary' || this.stopped) return
    if (coldStart && !this.state) await new Promise<void>((r) => this.d.clock.setTimeout(r, this.d.limits.stateWaitMs))
    if (this.stopped) return
    this.role = 'primary'
    const w = new Windower(this.spec.window, this.spec.epoch, { graceMs: this.d.limits.graceMs, maxCatchUp: this.d.limits.maxPendingWindows })
    w.resume(this.state?.seq ?? 0, undefined)
    this.counts_.dropped = this.state?.dropped ?? 0
    this.windower = w
    const held = this.state?.cursor ? afterCursor(this.buffer, this.state.cursor) : this.buffer
    this.buffer = []
    for (const r of held) this.enqueue(w.push(r))
    this.arm()
  }

  counts(): StreamCounts {
    return { ...this.counts_, late: this.windower?.counts.late ?? 0, skipped: this.windower?.counts.skipped ?? 0 }
  }

  onReading(payload: Buffer): void {
    if (this.stopped) return
    if (payload.length > this.d.limits.maxReadingBytes) return this.invalid(`reading of ${payload.length} bytes (at most ${this.d.limits.maxReadingBytes})`)
    const line = payload.toString('utf8')
    if (line.includes('\n') || line.includes('\r')) return this.invalid('a reading with a line break')
    this.counts_.readings++
    const r: Reading = { line, ts: readingTs(line) ?? this.d.clock.now(), digest: sha256(payload) }
    if (this.windower) return this.enqueue(this.windower.push(r))
    this.buffer.push(r)
    if (this.buffer.length > this.d.limits.maxBufferedReadings) {
      this.buffer.shift()
      this.counts_.overflow++
    }
  }

  async stop(): Promise<void> {
    this.stopped = true
    this.timer?.cancel()
    this.queue.length = 0
    this.d.conn.unroute(this.stateTopic)
    await this.d.conn.unsubscribe(this.stateTopic).catch(() => {})
  }

  private invalid(reason: string): void {
    this.counts_.invalid++
    this.emit('invalid', { stream: this.spec.stream, reason })
  }

  private onState(payload: Buffer): void {
    if (payload.length === 0) return
    const d = decodeJson(payload, streamStateSchema, 4096)
    if (!d.ok || d.value.stream !== this.spec.stream) return
    const s = d.value
    if (this.role === 'primary') return // our own, or a primary that lost its place (the placer decides)
    if (this.state && s.seq < this.state.seq) return
    this.state = s
    // what the primary consumed is not needed any more
    if (s.cursor) this.buffer = afterCursor(this.buffer, s.cursor)
    const ms = this.spec.window.ms
    if (ms !== undefined) {
      const end = this.spec.epoch + s.seq * ms
      this.buffer = this.buffer.filter((r) => r.ts >= end)
    }
  }

  private enqueue(closed: ClosedWindow[]): void {
    for (const w of closed) {
      this.queue.push(w)
      if (this.queue.length > this.d.limits.maxPendingWindows) {
        const old = this.queue.shift() as ClosedWindow
        this.counts_.dropped++
        this.emit('dropped', { stream: this.spec.stream, seq: old.seq, reason: 'pending_cap' })
      }
    }
    this.pump()
  }

  /** Time windows: closes what has ended, then sleeps until the next one ends. */
  private arm(): void {
    const w = this.windower
    if (!w || this.stopped || this.spec.window.ms === undefined) return
    this.enqueue(w.tick(this.d.clock.now()))
    const at = w.nextDeadline() as number
    this.timer = this.d.clock.setTimeout(() => this.arm(), Math.max(1, at - this.d.clock.now()))
  }

  private pump(): void {
    if (this.running || this.stopped) return
    const w = this.queue.shift()
    if (!w) return
    this.running = true
    this.runWindow(w)
      .catch(() => {}) // publishing failed: the connection is gone; the placer moves the stream
      .finally(() => {
        this.running = false
        this.pump()
      })
  }

  private async runWindow(w: ClosedWindow): Promise<void> {
    const { spec } = this
    const jobId = windowJobId(spec.stream, w.seq)
    const input = Buffer.from(w.readings.map((r) => `${r.line}\n`).join(''), 'utf8')
    const result = w.readings.length === 0 ? this.emptyWindow(jobId, input) : await this.d.run({
      id: jobId, attempt: 1, requester: this.placer.requester, replyTo: spec.replyTo, module: spec.module, input,
      ...(spec.limits ? { limits: spec.limits } : {}),
    })
    if (this.stopped) return
    this.counts_.windows++
    const { type: _t, attempt: _a, id: _id, ...signed } = result
    const wire = {
      type: 'window', id: spec.id, stream: spec.stream, jobId, seq: w.seq,
      window: { seq: w.seq, from: w.from, to: w.to, count: w.readings.length }, dropped: this.counts_.dropped, ...signed,
    }
    const body = JSON.stringify(wire)
    this.d.conn.publish(spec.replyTo, body, { qos: 1 })
    if (w.readings.length > 0) this.d.conn.publish(this.placer.inbox, body, { qos: 1 })
    const last = w.readings.at(-1)
    const state: StreamState = {
      stream: spec.stream, agent: this.d.agentId, seq: w.seq, dropped: this.counts_.dropped,
      ...(last ? { cursor: { ts: last.ts, digest: last.digest } } : this.state?.cursor ? { cursor: this.state.cursor } : {}),
    }
    this.state = state
    await this.d.conn.publishAsync(this.stateTopic, JSON.stringify(state), { qos: 1, retain: true })
    this.emit('window', { stream: spec.stream, seq: w.seq, status: result.status, count: w.readings.length, result })
  }

  /** A time window without readings: not run, not paid; a signed statement that it was empty. */
  private emptyWindow(jobId: string, input: Buffer): Result {
    const fields = {
      type: 'result' as const, id: jobId, attempt: 1, agent: this.d.agentId, module: this.spec.module, inputSha256: sha256(input),
      status: 'ok' as const, output: '', outputSha256: sha256(input), fuel: 0, durationMs: 0,
    }
    return { ...fields, signature: signResult(fields, this.d.signer) }
  }
}

/** The `ts` (ms since the epoch) of a JSON reading, if it has one. */
function readingTs(line: string): number | undefined {
  if (!line.startsWith('{')) return undefined
  try {
    const ts = (JSON.parse(line) as { ts?: unknown }).ts
    return typeof ts === 'number' && Number.isFinite(ts) && ts >= 0 ? ts : undefined
  } catch {
    return undefined
  }
}
