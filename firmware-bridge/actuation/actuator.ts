/**
 * An actuator under guard: a command (from MQTT, from a stream job's result,
 * from a Sparkplug DCMD) reaches the hardware only through
 *
 * 1. **allowed values**: a list (`[0, 1]`, `["open", "closed"]`) or a range
 *    (`{min, max, integer}`); anything else is refused (`not_allowed`);
 * 2. **duplicates**: a command with `id` + `seq` at or below the last seq seen
 *    for that id is refused (`duplicate`) — stream results are at-least-once;
 * 3. **a rate limit** (token bucket): a command over the limit is not lost but
 *    held as the *latest* wanted value and applied when the bucket allows
 *    (later commands replace it: `coalesced`);
 * 4. **a watchdog**: when no valid command has arrived for `watchdogMs`, the
 *    actuator goes to its `safe` value (a stream that stopped, an agent that
 *    died, a broker that went away).
 *
 * Events come after the state they report has changed.
 */
import { EventEmitter } from 'node:events'
import type { Value } from '../serial/protocol.ts'
import type { Command } from './command.ts'
import { TokenBucket } from './rate-limit.ts'

export type Allowed = { values: Value[] } | { min: number; max: number; integer?: boolean }

export interface ActuatorGuards {
  allowed: Allowed
  /** Commands per second on average (token bucket refill). */
  ratePerSecond: number
  /** Commands at once before the rate applies. */
  burst: number
  /** No valid command for this long → `safe`. 0 turns the watchdog off. */
  watchdogMs: number
  safe: Value
  initial: Value
  /** Distinct command ids remembered for duplicate detection (oldest forgotten first). */
  maxSequenceIds: number
}

/** Where the value goes: a GPIO output, a serial command. */
export interface ActuatorTarget {
  apply(value: Value): Promise<void>
}

export type Source = 'initial' | 'command' | 'watchdog' | 'shutdown' | 'reapply'
export type RefusalReason = 'not_allowed' | 'duplicate' | 'invalid' | 'result_error'

export interface ActuatorEvents {
  applied: [{ value: Value; source: Source }]
  refused: [{ value?: Value; reason: RefusalReason }]
  coalesced: [{ value: Value }]
  failed: [{ value: Value; source: Source; error: Error }]
  watchdog: [{ safe: Value; idleMs: number }]
}

export class Actuator extends EventEmitter<ActuatorEvents> {
  readonly stats = { commands: 0, applied: 0, refused: 0, coalesced: 0, failed: 0, watchdog: 0 }
  private readonly bucket: TokenBucket
  private readonly lastSeq = new Map<string, number>()
  private current: Value | undefined
  private desired: Value
  private pending: Value | undefined
  private pendingTimer: NodeJS.Timeout | undefined
  private watchdogTimer: NodeJS.Timeout | undefined
  private lastValidAt = performance.now()
  private chain: Promise<void> = Promise.resolve()
  private closed = false

  constructor(readonly name: string, readonly guards: ActuatorGuards, private readonly target: ActuatorTarget) {
    super()
    this.bucket = new TokenBucket(guards.ratePerSecond, guards.burst)
    this.desired = guards.initial
  }

  /** The value last applied to the hardware. */
  get value(): Value | undefined {
    return this.current
  }

  isAllowed(v: Value): boolean {
    const a = this.guards.allowed
    if ('values' in a) return a.values.some((x) => x === v || (typeof x === 'number' && typeof v === 'boolean' && x === Number(v)))
    if (typeof v !== 'number' || !Number.isFinite(v)) return false
    if (a.integer && !Number.isInteger(v)) return false
    return v >= a.min && v <= a.max
  }

  /** Booleans given to numeric allowed lists become 0/1. */
  private normalize(v: Value): Value {
    const a = this.guards.allowed
    if (typeof v === 'boolean' && 'values' in a && !a.values.includes(v)) return v ? 1 : 0
    return v
  }

  /** Applies the initial value (or, when the target is not there yet, only wants it: `reapply()` sends it) and arms the watchdog. */
  async start(applyNow = true): Promise<void> {
    if (applyNow) await this.apply(this.guards.initial, 'initial')
    this.armWatchdog()
  }

  command(cmd: Command | RefusalReason): void {
    if (this.closed) return
    this.stats.commands++
    if (typeof cmd === 'string') return this.refuse(undefined, cmd)
    if (!this.isAllowed(cmd.value)) return this.refuse(cmd.value, 'not_allowed')
    if (cmd.id !== undefined && cmd.seq !== undefined) {
      const last = this.lastSeq.get(cmd.id)
      if (last !== undefined && cmd.seq <= last) return this.refuse(cmd.value, 'duplicate')
      this.lastSeq.delete(cmd.id)
      this.lastSeq.set(cmd.id, cmd.seq)
      if (this.lastSeq.size > this.guards.maxSequenceIds) this.lastSeq.delete(this.lastSeq.keys().next().value as string)
    }
    const value = this.normalize(cmd.value)
    this.lastValidAt = performance.now()
    this.armWatchdog()
    if (this.bucket.take()) {
      this.cancelPending()
      void this.apply(value, 'command')
      return
    }
    if (this.pending !== undefined) this.stats.coalesced++
    this.pending = value
    this.emit('coalesced', { value })
    if (!this.pendingTimer) this.pendingTimer = setTimeout(() => this.flushPending(), this.bucket.waitMs())
  }

  private flushPending(): void {
    this.pendingTimer = undefined
    if (this.pending === undefined || this.closed) return
    if (!this.bucket.take()) {
      this.pendingTimer = setTimeout(() => this.flushPending(), this.bucket.waitMs())
      return
    }
    const v = this.pending
    this.pending = undefined
    void this.apply(v, 'command')
  }

  private cancelPending(): void {
    clearTimeout(this.pendingTimer)
    this.pendingTimer = undefined
    this.pending = undefined
  }

  private refuse(value: Value | undefined, reason: RefusalReason): void {
    this.stats.refused++
    this.emit('refused', value === undefined ? { reason } : { value, reason })
  }

  private armWatchdog(): void {
    clearTimeout(this.watchdogTimer)
    if (this.guards.watchdogMs <= 0 || this.closed) return
    this.watchdogTimer = setTimeout(() => {
      this.watchdogTimer = undefined
      this.cancelPending()
      const idleMs = Math.round(performance.now() - this.lastValidAt)
      if (this.desired === this.guards.safe && this.current === this.guards.safe) return
      this.stats.watchdog++
      void this.apply(this.guards.safe, 'watchdog').then(() => this.emit('watchdog', { safe: this.guards.safe, idleMs }))
    }, this.guards.watchdogMs)
  }

  /** Applies the wanted value again (the device came back after a reset or an unplug). */
  reapply(): Promise<void> {
    return this.apply(this.desired, 'reapply')
  }

  private apply(value: Value, source: Source): Promise<void> {
    this.desired = value
    const run = this.chain.then(async () => {
      try {
        await this.target.apply(value)
        this.current = value
        this.stats.applied++
        this.emit('applied', { value, source })
      } catch (err) {
        this.stats.failed++
        this.emit('failed', { value, source, error: err as Error })
      }
    })
    this.chain = run
    return run
  }

  /** Stops taking commands and leaves the actuator at its safe value. */
  async close(): Promise<void> {
    this.closed = true
    clearTimeout(this.watchdogTimer)
    this.cancelPending()
    if (this.current !== this.guards.safe) await this.apply(this.guards.safe, 'shutdown')
    await this.chain
  }
}
