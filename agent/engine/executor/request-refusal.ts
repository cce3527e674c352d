/**
 * Why an executor does not take a run request at all (the Executor port's `run` rejects
 * with it): the module was never loaded, or the limits are not limits. The same checks for
 * every implementation (the worker pool, the inline executor).
 */
import { ErrorCode, JobError } from '../../../protocol/errors.ts'
import type { RunRequest } from '../executor.ts'

export function requestRefusal(request: RunRequest, loaded: boolean): JobError | undefined {
  if (!loaded) return new JobError(ErrorCode.moduleNotFound, `module ${String(request.module).slice(0, 12)} is not loaded`)
  const { timeoutMs, outputBytes, stderrBytes } = request.limits
  if (!(timeoutMs > 0)) return new JobError(ErrorCode.invalidField, 'limits.timeoutMs: expected a positive number')
  if (!(Number.isSafeInteger(outputBytes) && outputBytes >= 0)) {
    return new JobError(ErrorCode.invalidField, 'limits.outputBytes: expected a non-negative integer')
  }
  if (!(Number.isSafeInteger(stderrBytes) && stderrBytes >= 0)) {
    return new JobError(ErrorCode.invalidField, 'limits.stderrBytes: expected a non-negative integer')
  }
  return undefined
}
