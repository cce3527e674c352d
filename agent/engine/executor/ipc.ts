/**
 * Messages between the agent and its executor process, over Node's IPC
 * channel with the structured-clone ("advanced") serialization: bytes travel
 * as bytes, no JSON, no base64. Both sides batch what one event-loop turn
 * produced into a single message, so the process boundary costs one
 * round trip per turn, not one per job.
 */
import type { ModuleInfo, RunOutcome, RunRequest } from '../executor.ts'

export type ToExecutor =
  | { t: 'load'; sha256: string; bytes: Uint8Array }
  | { t: 'run'; n: number; request: RunRequest }
  | { t: 'close' }

export type FromExecutor =
  | { t: 'ready'; slots: number; pid: number; uid: number }
  | { t: 'loaded'; sha256: string; info: ModuleInfo }
  | { t: 'loadFailed'; sha256: string; code: string; message: string }
  | { t: 'done'; n: number; outcome: RunOutcome }

/** One IPC message: everything one side had to say in one turn. */
export type Batch<M> = M[]

/**
 * Collects messages and sends them as one batch at the end of the turn — or at once, with
 * what is collected so far, when the caller says nothing else is coming (`push(m, true)`:
 * e.g. a lone job, nothing else in flight): one job in flight then does not wait for the
 * end of a turn on either side of the process boundary, and under load batches stay whole.
 */
export class Outbox<M> {
  private items: M[] = []
  private scheduled = false

  constructor(private readonly send: (batch: Batch<M>) => void) {}

  push(m: M, last = false): void {
    this.items.push(m)
    if (last) return this.flush()
    if (!this.scheduled) {
      this.scheduled = true
      setImmediate(() => this.flush())
    }
  }

  flush(): void {
    this.scheduled = false // a setImmediate still pending finds nothing to send
    if (this.items.length === 0) return
    const batch = this.items
    this.items = []
    this.send(batch)
  }
}
