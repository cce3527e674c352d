/**
 * From a module's bytes to what a job worker runs: the original module is
 * compiled and checked (module-check.ts: a WASI command with allowed imports),
 * then rewritten (../instrument/meter.ts) and the rewrite compiled. Both steps happen once
 * per module; the result is structured-cloneable, so it can be prepared once
 * and posted to every worker.
 */
import { ErrorCode, JobError } from '../../../protocol/errors.ts'
import { checkModule } from './module-check.ts'
import type { ModuleInfo } from '../executor.ts'
import { prepareModule } from '../instrument/meter.ts'
import type { MemoryLimits } from '../instrument/meter.ts'

/** A job module ready to instantiate: the compiled rewrite and what the runner must know about it. */
export interface PreparedJob {
  /** The metered, memory-importing module (compiled `prepareModule` output). */
  module: WebAssembly.Module
  /** The memory the module declares: the host creates it per job under the job's cap. */
  memory: MemoryLimits
  /** Call `fogmesh_start` (the original start function) after setting the fuel, before `_start`. */
  start: boolean
  /** Cost model version of the fuel counts (see costs.ts). */
  metering: number
}

function compileError(sha256: string, what: string, err: unknown): JobError {
  return new JobError(ErrorCode.invalidModule, `module ${sha256.slice(0, 12)}${what} is not valid WebAssembly`, { cause: err })
}

/** Checks the original module, then prepares it (synchronous compiles: use in workers and tests). */
export function compileJob(sha256: string, bytes: Uint8Array): { info: ModuleInfo; job: PreparedJob } {
  let original: WebAssembly.Module
  try {
    original = new WebAssembly.Module(bytes)
  } catch (err) {
    throw compileError(sha256, '', err)
  }
  const info = checkModule(sha256, original)
  const prepared = prepareModule(bytes)
  let module: WebAssembly.Module
  try {
    module = new WebAssembly.Module(prepared.bytes)
  } catch (err) {
    throw compileError(sha256, ' (metered)', err)
  }
  return { info, job: { module, memory: prepared.memory, start: prepared.start, metering: prepared.metering } }
}

/** The same, compiling off the calling thread (for the pool's `load` on the main thread). */
export async function compileJobAsync(sha256: string, bytes: Uint8Array): Promise<{ info: ModuleInfo; job: PreparedJob }> {
  let original: WebAssembly.Module
  try {
    original = await WebAssembly.compile(bytes)
  } catch (err) {
    throw compileError(sha256, '', err)
  }
  const info = checkModule(sha256, original)
  const prepared = prepareModule(bytes)
  let module: WebAssembly.Module
  try {
    module = await WebAssembly.compile(prepared.bytes)
  } catch (err) {
    throw compileError(sha256, ' (metered)', err)
  }
  return { info, job: { module, memory: prepared.memory, start: prepared.start, metering: prepared.metering } }
}
