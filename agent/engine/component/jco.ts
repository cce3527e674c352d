/**
 * The one place that loads jco (`@bytecodealliance/jco`). Lazily: an agent that never
 * receives a component never pays for it (jco's two embedded wasm tools take about
 * 250 ms and 100 MB of memory to start).
 */
import { ErrorCode, JobError } from '../../../protocol/errors.ts'

export type Jco = typeof import('@bytecodealliance/jco')

let loading: Promise<Jco> | undefined

export function loadJco(): Promise<Jco> {
  loading ??= import('@bytecodealliance/jco').catch((err: unknown) => {
    loading = undefined
    throw new JobError(ErrorCode.internal, 'WebAssembly components need @bytecodealliance/jco, which is not installed', {
      cause: err,
    })
  })
  return loading
}

/** Whether jco can be loaded here (for tests that skip without it). */
export async function jcoAvailable(): Promise<boolean> {
  try {
    await loadJco()
    return true
  } catch {
    return false
  }
}
