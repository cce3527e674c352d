/**
 * The agent's stream jobs: starts and stops from the placer on
 * `fm/v1/agents/<id>/streams` (a start as primary to a standby promotes it),
 * each one signed and admitted first (the `admit` hook: agent/admission.ts),
 * one StreamRunner per stream, and one subscription per source filter however
 * many streams read it. At most `maxStreams` at once; a start beyond that is
 * refused (`rejected` event) and the placer's next choice takes it.
 */
import { EventEmitter } from 'node:events'
import type { Clock } from '../../protocol/clock.ts'
import type { Result } from '../../protocol/messages.ts'
import type { RunnableJob } from '../admission.ts'
import type { Signer } from '../../protocol/signature.ts'
import { streamControlSchema, type StreamControl } from '../../protocol/streams.ts'
import { topics } from '../../protocol/topics.ts'
import type { Connection } from '../../protocol/transport.ts'
import type { EarlyInbox } from '../early-inbox.ts'
import { decodeJson } from '../../protocol/validate.ts'
import { StreamRunner, type StreamCounts, type StreamLimits } from './stream-runner.ts'

export interface StreamHostOptions {
  conn: Connection
  agentId: string
  clock: Clock
  signer: Signer
  run: (job: RunnableJob) => Promise<Result>
  /** Fetch the module ahead of the first window (a standby too, so a takeover does not wait for it). */
  prefetch: (module: string) => void
  maxStreams: number
  limits: StreamLimits
  /** Whether a start or stop (as received, and as parsed) is an order this agent takes: signed, accepted, fresh (agent/admission.ts). */
  admit: (raw: Readonly<Record<string, unknown>>, m: StreamControl) => Promise<{ ok: true } | { ok: false; code: string; reason: string }>
}

export interface StreamHostEvents {
  window: [{ stream: string; seq: number; status: 'ok' | 'error'; count: number; result: Result }]
  dropped: [{ stream: string; seq: number; reason: 'pending_cap' }]
  started: [{ stream: string; role: 'primary' | 'standby'; promoted: boolean }]
  stopped: [{ stream: string }]
  rejected: [{ topic: string; code: string; message: string }]
}

export class StreamHost extends EventEmitter<StreamHostEvents> {
  private readonly runners = new Map<string, StreamRunner>()
  /** Source filter → the streams reading it. */
  private readonly sources = new Map<string, Set<StreamRunner>>()
  private readonly topic: string
  private closing = false
  private queue: Promise<void> = Promise.resolve()

  constructor(private readonly o: StreamHostOptions) {
    super()
    this.topic = topics.agentStreams(o.agentId)
  }

  /** `early`: what came for the control topic before the host was up (agent/early-inbox.ts), taken in first. */
  async start(early?: EarlyInbox): Promise<void> {
    this.o.conn.route(this.topic, (t, p) => this.onControl(t, p))
    early?.release(this.topic, (t, p) => this.onControl(t, p), (topic, err) => void this.emit('rejected', { topic, code: 'internal', message: (err as Error).message }))
    await this.o.conn.subscribe(this.topic, 1)
  }

  /** Per stream: its role and counters. */
  stats(): Array<{ stream: string; role: 'primary' | 'standby'; counts: StreamCounts }> {
    return [...this.runners.values()].map((r) => ({ stream: r.spec.stream, role: r.role, counts: r.counts() }))
  }

  get size(): number {
    return this.runners.size
  }

  private onControl(topic: string, payload: Buffer): void {
    const d = decodeJson(payload, streamControlSchema, 64 * 1024)
    if (!d.ok) return void this.emit('rejected', { topic, code: d.error.code, message: d.error.shortMessage })
    const failed = (err: unknown) => void this.emit('rejected', { topic, code: 'internal', message: (err as Error).message })
    // admitted one at a time, in arrival order: a stop never overtakes its start while the start is checked
    this.queue = this.queue.then(async () => {
      const v = await this.o.admit(d.raw as Record<string, unknown>, d.value)
      if (!v.ok) return void this.emit('rejected', { topic, code: v.code, message: v.reason })
      void this.handle(d.value).catch(failed)
    }).catch(failed)
  }

  private async handle(m: StreamControl): Promise<void> {
    if (m.type === 'stop') return this.stop(m.stream)
    if (this.closing) return
    const known = this.runners.get(m.spec.stream)
    if (known) {
      if (m.role === 'primary' && known.role === 'standby') {
        await known.promote()
        this.emit('started', { stream: known.spec.stream, role: 'primary', promoted: true })
      }
      return
    }
    if (this.runners.size >= this.o.maxStreams) {
      return void this.emit('rejected', { topic: this.topic, code: 'overloaded', message: `this agent runs at most ${this.o.maxStreams} streams` })
    }
    const r = new StreamRunner(m.spec, { requester: m.requester, inbox: m.inbox }, this.o)
    r.on('window', (e) => this.emit('window', e))
    r.on('dropped', (e) => this.emit('dropped', e))
    this.runners.set(m.spec.stream, r)
    this.o.prefetch(m.spec.module)
    await this.addSource(r)
    await r.start(m.role)
    this.emit('started', { stream: m.spec.stream, role: r.role, promoted: false })
  }

  private async addSource(r: StreamRunner): Promise<void> {
    const filter = r.spec.source
    let set = this.sources.get(filter)
    if (!set) {
      const readers = new Set<StreamRunner>()
      set = readers
      this.sources.set(filter, readers)
      this.o.conn.route(filter, (_t, p) => {
        for (const x of readers) x.onReading(p)
      })
      await this.o.conn.subscribe(filter, 1)
    }
    set.add(r)
  }

  private async stop(stream: string): Promise<void> {
    const r = this.runners.get(stream)
    if (!r) return
    this.runners.delete(stream)
    const set = this.sources.get(r.spec.source)
    set?.delete(r)
    if (set && set.size === 0) {
      this.sources.delete(r.spec.source)
      this.o.conn.unroute(r.spec.source)
      await this.o.conn.unsubscribe(r.spec.source).catch(() => {})
    }
    await r.stop()
    this.emit('stopped', { stream })
  }

  async close(): Promise<void> {
    this.closing = true
    await this.o.conn.unsubscribe(this.topic).catch(() => {})
    for (const s of [...this.runners.keys()]) await this.stop(s)
  }
}
