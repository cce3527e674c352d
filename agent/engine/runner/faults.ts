/**
 * What a thrown value means for the job: a code and a short message. Shared by the two
 * runners; a FogmeshError thrown on the way (a link or layout refusal of our own) keeps
 * its code.
 */
import { ErrorCode, FogmeshError } from '../../../protocol/errors.ts'

/** Most characters of an error message taken from the engine. */
const MESSAGE_MAX = 120

/** The first line of `message`, at most MESSAGE_MAX characters. */
export function short(message: string): string {
  const line = message.split('\n', 1)[0] ?? ''
  return line.length > MESSAGE_MAX ? `${line.slice(0, MESSAGE_MAX - 3)}...` : line
}

/** WebAssembly.Exception (a wasm `throw` nobody caught); not in every typing of the JS API. */
const WasmException = (WebAssembly as unknown as { Exception?: abstract new (...args: never[]) => object }).Exception

export interface FaultReading {
  /** Trap messages to put back into V8's words (jco's glue rewrites them into wasmtime's). */
  traps?: ReadonlyMap<string, string>
  /** Which RangeError messages mean the job ran out of memory. */
  outOfMemory: RegExp
  /**
   * Any other Error: the guest's fault (`trap`: for components, whose generated glue throws
   * when the guest breaks the canonical ABI) or our host's (`internal`, reported without details).
   */
  otherError: typeof ErrorCode.trap | typeof ErrorCode.internal
}

export interface Fault {
  code: ErrorCode
  message: string
}

/** Maps something thrown out of instantiation or the job's entry to a code and a short message. */
export function describeFault(err: unknown, reading: FaultReading): Fault {
  if (err instanceof FogmeshError) return { code: err.code, message: short(err.shortMessage) }
  if (err instanceof WebAssembly.RuntimeError) {
    // V8 messages are already short: "unreachable", "memory access out of bounds", ...
    return { code: ErrorCode.trap, message: short(reading.traps?.get(err.message) ?? err.message) }
  }
  if (err instanceof RangeError) {
    if (/call stack/i.test(err.message)) return { code: ErrorCode.trap, message: 'call stack exhausted' }
    if (reading.outOfMemory.test(err.message)) return { code: ErrorCode.trap, message: 'out of memory' }
    return { code: ErrorCode.trap, message: short(err.message) }
  }
  if (err instanceof WebAssembly.LinkError) return { code: ErrorCode.linkError, message: short(err.message) }
  if (err instanceof TypeError) {
    // A WASI function imported with the wrong signature (an i64 where the ABI
    // has an i32, or the reverse) fails converting its arguments or result at
    // the host boundary. module-check cannot see import signatures (the JS API
    // does not expose them), so this surfaces here, as a fault of the job.
    return { code: ErrorCode.trap, message: short(err.message) }
  }
  if (err instanceof WebAssembly.CompileError) return { code: ErrorCode.invalidModule, message: short(err.message) }
  if (WasmException !== undefined && err instanceof WasmException) return { code: ErrorCode.trap, message: 'uncaught wasm exception' }
  if (err instanceof Error && reading.otherError === ErrorCode.trap) return { code: ErrorCode.trap, message: short(err.message) }
  // anything else came from host code: report without its details
  return { code: ErrorCode.internal, message: 'job host failed' }
}
