/** Messages between the model pool and its inference thread (model-worker.main.ts). */
import type { RunOutcome } from '../executor.ts'
import type { TfBackend } from './tf-runtime.ts'

export interface ModelWorkerData {
  backend: TfBackend
}

export type ToModelWorker =
  | { t: 'load'; sha256: string; bytes: Uint8Array }
  | { t: 'run'; n: number; sha256: string; input: Uint8Array; fuel: number | undefined; memoryMiB: number | undefined; outputBytes: number }

export type FromModelWorker =
  | { t: 'loaded'; sha256: string }
  | { t: 'loadFailed'; sha256: string; code: string; message: string }
  | { t: 'done'; n: number; outcome: RunOutcome }
