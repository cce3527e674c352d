/**
 * Messages between the agent and its executor process, over Node's IPC
 * channel with the structured-clone ("advanced") serialization: bytes travel
 * as bytes, no JSON, no base64. Both sides batch what one event-loop turn
 * produced into a single message, so the process boundary costs one
 * round trip per turn, not one per job.
 *
 * The hot messages, a job's run and its answer, travel as binary frames, all of a turn's in one
 * buffer (run-frames.ts); the rest (ready, loads, close) as a batch of objects. An IPC message
 * is one or the other: a Uint8Array of frames or an array of control messages.
 */
import type { ModuleInfo, RunOutcome, RunRequest } from '../executor.ts'
import { FrameWriter } from './run-frames.ts'

export type ToExecutor = { t: 'load'; sha256: string; bytes: Uint8Array } | { t: 'close' }

export type FromExecutor =
  | { t: 'ready'; slots: number; pid: number; uid: number }
  | { t: 'loaded'; sha256: string; info: ModuleInfo }
  | { t: 'loadFailed'; sha256: string; code: string; message: string }

/** Control messages of one turn, in one IPC message. */
export type Batch<M> = M[]
/** One IPC message: a batch of control messages, or the run / done frames of one turn (run-frames.ts). */
export type Wire<M> = Batch<M> | Uint8Array

/**
 * Collects messages and sends them at the end of the turn — control messages as one batch,
 * then runs or answers as one buffer of frames — or at once, with what is collected so far,
 * when the caller says nothing else is coming (`last`: e.g. a lone job, nothing else in flight):
 * one job in flight then does not wait for the end of a turn on either side of the process
 * boundary, and under load batches stay whole. Control messages always go before the frames
 * collected with them (a module's load before a run of it).
 *
 * `send` must serialize synchronously (Node's channel.send does, no handles being sent): the
 * frames it gets are a view of a buffer reused for the next batch.
 */
export class Outbox<M> {
  private items: M[] = []
  private readonly frames = new FrameWriter()
  private scheduled = false

  constructor(private readonly send: (message: Wire<M>) => void) {}

  push(m: M, last = false): void {
    this.items.push(m)
    this.after(last)
  }

  /** A job's run (agent side). */
  run(n: number, request: RunRequest, last: boolean): void {
    this.frames.run(n, request)
    this.after(last)
  }

  /** A job's answer (executor side). */
  done(n: number, outcome: RunOutcome, last: boolean): void {
    this.frames.done(n, outcome)
    this.after(last)
  }

  flush(): void {
    this.scheduled = false // a setImmediate still pending finds nothing to send
    if (this.items.length > 0) {
      const batch = this.items
      this.items = []
      this.send(batch)
    }
    if (this.frames.length > 0) this.send(this.frames.take())
  }

  private after(last: boolean): void {
    if (last) return this.flush()
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => this.flush())
    }
  }
}
