/**
 * Runs jobs in the current thread: a fresh instance of a compiled module per
 * job, one reusable WASI host, and the mapping of every way a run can end to
 * an outcome with a short message. The worker thread is a thin shell around it.
 */
import { ErrorCode } from '../../protocol/errors.ts'
import { WasiHost } from './wasi-host.ts'
import type { StdioCaps, WasiStop } from './wasi-host.ts'
import type { ClockSource, RandomSource } from './wasi-sources.ts'

export type JobResult =
  | { ok: true; output: Uint8Array; fuel: number; ms: number }
  | { ok: false; code: ErrorCode; message: string; stderr: string; fuel: number; ms: number }

export interface JobRunnerOptions {
  clock?: ClockSource
  random?: RandomSource
}

/** WebAssembly.Exception (a wasm `throw` nobody caught); not in every typing of the JS API. */
const WasmException = (WebAssembly as unknown as { Exception?: abstract new (...args: never[]) => object }).Exception

/** Most characters of an error message taken from the engine. */
const MESSAGE_MAX = 120

function short(message: string): string {
  const line = message.split('\n', 1)[0] ?? ''
  return line.length > MESSAGE_MAX ? `${line.slice(0, MESSAGE_MAX - 3)}...` : line
}

/** Maps something thrown out of instantiation or `_start` to a code and a short message. */
function describeFault(err: unknown): { code: ErrorCode; message: string } {
  if (err instanceof WebAssembly.RuntimeError) {
    // V8 messages are already short: "unreachable", "memory access out of bounds", ...
    return { code: ErrorCode.trap, message: short(err.message) }
  }
  if (err instanceof RangeError) {
    if (/call stack/i.test(err.message)) return { code: ErrorCode.trap, message: 'call stack exhausted' }
    if (/memory/i.test(err.message)) return { code: ErrorCode.trap, message: 'out of memory' }
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
  // anything else came from host code: report without its details
  return { code: ErrorCode.internal, message: 'job host failed' }
}

export class JobRunner {
  private readonly modules = new Map<string, WebAssembly.Module>()
  private memory: WebAssembly.Memory | undefined = undefined
  private readonly host: WasiHost
  private readonly importObject: WebAssembly.Imports

  constructor(options: JobRunnerOptions = {}) {
    this.host = new WasiHost({ memory: () => this.memory, ...options })
    this.importObject = { wasi_snapshot_preview1: this.host.imports }
  }

  load(sha256: string, module: WebAssembly.Module): void {
    this.modules.set(sha256, module)
  }

  has(sha256: string): boolean {
    return this.modules.has(sha256)
  }

  /** Instantiates a fresh instance of the module and runs `_start` on `input`. */
  run(sha256: string, input: Uint8Array, caps: StdioCaps): JobResult {
    const started = performance.now()
    const module = this.modules.get(sha256)
    if (module === undefined) {
      return { ok: false, code: ErrorCode.moduleNotFound, message: 'module not loaded', stderr: '', fuel: 0, ms: 0 }
    }
    this.host.begin(input, caps)
    let thrown: unknown = undefined
    let failed = false
    try {
      // A fresh instance per job: no state survives from one job to the next.
      // The module's start function (if any) runs inside this constructor.
      const instance = new WebAssembly.Instance(module, this.importObject)
      const { memory, _start } = instance.exports
      if (!(memory instanceof WebAssembly.Memory) || typeof _start !== 'function') {
        throw new WebAssembly.LinkError('module lost its _start or memory export')
      }
      this.memory = memory
      _start()
    } catch (err) {
      thrown = err
      failed = true
    } finally {
      this.memory = undefined
    }
    // Fuel metering is a later issue: the metered count will be read here.
    const fuel = 0
    const stop = this.host.stopped // authoritative even if the guest caught the throw
    const { stdout, stderr } = this.host.finish()
    const ms = performance.now() - started

    if (stop !== null) return this.stopped(stop, stdout, stderr, fuel, ms)
    if (!failed) return { ok: true, output: stdout, fuel, ms }
    const { code, message } = describeFault(thrown)
    return { ok: false, code, message, stderr, fuel, ms }
  }

  private stopped(stop: WasiStop, stdout: Uint8Array, stderr: string, fuel: number, ms: number): JobResult {
    switch (stop.reason) {
      case 'exit':
        if (stop.value === 0) return { ok: true, output: stdout, fuel, ms }
        return { ok: false, code: ErrorCode.exitNonZero, message: `exit code ${stop.value}`, stderr, fuel, ms }
      case 'output_limit':
        return { ok: false, code: ErrorCode.outputLimit, message: `stdout exceeds ${stop.value} bytes`, stderr, fuel, ms }
      case 'signal':
        return { ok: false, code: ErrorCode.trap, message: `terminated by signal ${stop.value}`, stderr, fuel, ms }
    }
  }
}
