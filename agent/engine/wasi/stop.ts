/**
 * Why a run ended before its entry returned: the job called exit, wrote more stdout than
 * its cap, or raised a fatal signal. Both hosts (preview1, ./host.ts, and the components'
 * preview2, ../component/wasi-p2-host.ts) record one and throw it to unwind the guest; the
 * record, not the throw, is what counts (a guest may catch the throw), and the runner turns
 * it into the job's result. An Error (a FogmeshError, code `stopped`), so that jco's glue
 * rethrows it instead of lowering it into a WASI error value.
 *
 * Thrown once per early exit, on the hot path of jobs that end with `proc_exit`: made
 * without a stack trace, which nobody reads and which would cost more than the rest of
 * the unwind (the frames below are the guest's).
 */
import { ErrorCode, FogmeshError } from '../../../protocol/errors.ts'

export type StopReason = 'exit' | 'output_limit' | 'signal'

export class WasiStop extends FogmeshError {
  override name = 'WasiStop'
  readonly reason: StopReason
  /** exit: the exit code; output_limit: the cap; signal: the signal number. */
  readonly value: number

  constructor(reason: StopReason, value: number) {
    const limit = Error.stackTraceLimit
    Error.stackTraceLimit = 0
    try {
      super(ErrorCode.stopped, `run stopped: ${reason} ${value}`)
    } finally {
      Error.stackTraceLimit = limit
    }
    this.reason = reason
    this.value = value
  }
}
