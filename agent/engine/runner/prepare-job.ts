/**
 * From a module's bytes to what a job worker runs: the original module is compiled and
 * checked (module-check.ts: a WASI command with allowed imports), then rewritten
 * (../instrument/meter.ts) and the rewrite compiled. Both steps happen once per module;
 * the result is structured-cloneable, so it can be prepared once and posted to every worker.
 *
 * The steps are written once (`steps`, a generator that yields the bytes it needs
 * compiled) and driven two ways: compiling in this thread (`compileJob`: workers, tests)
 * or off it (`compileJobAsync`: the pool's `load`, on the executor's main thread).
 */
import { ErrorCode, JobError } from '../../../protocol/errors.ts'
import type { ModuleInfo } from '../executor.ts'
import { prepareModule } from '../instrument/meter.ts'
import type { MemoryLimits } from '../instrument/meter.ts'
import { checkModule } from './module-check.ts'

/** A job module ready to instantiate: the compiled rewrite and what the runner must know about it. */
export interface PreparedJob {
  /** The metered, memory-importing module (compiled `prepareModule` output). */
  module: WebAssembly.Module
  /** The memory the module declares: the host creates it per job under the job's cap. */
  memory: MemoryLimits
  /** Call `fogmesh_start` (the original start function) after setting the fuel, before `_start`. */
  start: boolean
  /** Cost model version of the fuel counts (see ../instrument/costs.ts). */
  metering: number
}

export interface CompiledJob {
  info: ModuleInfo
  job: PreparedJob
}

/** Bytes the steps need compiled, and how to name them if they do not compile. */
interface CompileRequest {
  bytes: Uint8Array
  /** '' for the original, ' (metered)' for the rewrite. */
  what: string
}

function* steps(sha256: string, bytes: Uint8Array): Generator<CompileRequest, CompiledJob, WebAssembly.Module> {
  const original = yield { bytes, what: '' }
  const info = checkModule(sha256, original)
  const prepared = prepareModule(bytes)
  const module = yield { bytes: prepared.bytes, what: ' (metered)' }
  return { info, job: { module, memory: prepared.memory, start: prepared.start, metering: prepared.metering } }
}

function compileError(sha256: string, what: string, err: unknown): JobError {
  return new JobError(ErrorCode.invalidModule, `module ${sha256.slice(0, 12)}${what} is not valid WebAssembly`, { cause: err })
}

function compileHere(sha256: string, { bytes, what }: CompileRequest): WebAssembly.Module {
  try {
    return new WebAssembly.Module(bytes)
  } catch (err) {
    throw compileError(sha256, what, err)
  }
}

function compileOffThread(sha256: string, { bytes, what }: CompileRequest): Promise<WebAssembly.Module> {
  return WebAssembly.compile(bytes).catch((err: unknown) => {
    throw compileError(sha256, what, err)
  })
}

/** Checks the original module, then prepares it (synchronous compiles: use in workers and tests). */
export function compileJob(sha256: string, bytes: Uint8Array): CompiledJob {
  const run = steps(sha256, bytes)
  let step = run.next()
  while (!step.done) step = run.next(compileHere(sha256, step.value))
  return step.value
}

/** The same, compiling off the calling thread (for the pool's `load` on the main thread). */
export async function compileJobAsync(sha256: string, bytes: Uint8Array): Promise<CompiledJob> {
  const run = steps(sha256, bytes)
  let step = run.next()
  while (!step.done) step = run.next(await compileOffThread(sha256, step.value))
  return step.value
}
