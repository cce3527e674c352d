/**
 * Presence epochs: a new one for every connection to the broker, each larger
 * than any before it — the ms clock, but never at or below the last epoch,
 * which is kept in the data dir (a Pi without a real-time clock may boot with
 * its clock behind the last run's). Watchers believe only statements of the
 * newest epoch (protocol/presence-signature.ts).
 */
import { readFileSync, renameSync, writeFileSync } from 'node:fs'
import type { Clock } from '../protocol/clock.ts'

export const EPOCH_FILE = 'epoch'

export class EpochCounter {
  private last: number

  constructor(private readonly path: string, private readonly clock: Clock) {
    this.last = readLast(path)
  }

  /** The epoch of a new connection (written down before it is used). */
  next(): number {
    const e = Math.max(Math.floor(this.clock.now()), this.last + 1, 1)
    const tmp = `${this.path}.${process.pid}.tmp`
    writeFileSync(tmp, `${e}\n`, { mode: 0o600 })
    renameSync(tmp, this.path)
    this.last = e
    return e
  }

  get current(): number {
    return this.last
  }
}

function readLast(path: string): number {
  try {
    const n = Number(readFileSync(path, 'utf8').trim())
    return Number.isSafeInteger(n) && n > 0 ? n : 0
  } catch {
    return 0 // first start
  }
}
