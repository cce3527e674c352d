/**
 * Runs WebAssembly components as jobs, beside JobRunner (preview1 commands) and with the
 * same result type and the same limits: a fresh component instance per job, one reusable
 * preview2 host, every way a run can end mapped to a JobResult.
 *
 * - Job world (`run: func(input: list<u8>) -> result<list<u8>, string>`): `ok(bytes)` is
 *   the output (over `outputBytes`: `output_limit`); `err(message)` is `exit_nonzero`
 *   (the job itself reported a failure, as a command does with its exit code) with message
 *   "run returned an error" and the error text as stderr, followed by anything the
 *   component printed (its stdout and stderr are diagnostics; its stdin is empty).
 * - WASI command (`wasi:cli/run`): stdin is the input, stdout the output, exit code 0 (or
 *   `run` returning ok) is success, anything else `exit_nonzero` with stderr.
 * - Traps are `trap`; a component the host cannot link is `link_error`.
 *
 * `load` transpiles (once per sha256 per process, see prepare.ts); `add` takes a
 * component prepared elsewhere (a worker thread gets it from the pool). `run` is
 * synchronous, like JobRunner.run: the deadline is enforced from outside the thread.
 */
import { ErrorCode } from '../../../protocol/errors.ts'
import type { JobResult } from '../job-runner.ts'
import type { StdioCaps } from '../wasi-host.ts'
import { deterministicSources } from '../instrument/deterministic.ts'
import { cryptoRandom, realClock } from '../wasi-sources.ts'
import type { ClockSource, RandomSource } from '../wasi-sources.ts'
import { ComponentLinkError, compileInstantiate, defaultInstantiateCore, linkImports } from './instantiate.ts'
import type { InstantiateCore, InstantiateFn } from './instantiate.ts'
import { prepareComponent } from './prepare.ts'
import type { ComponentInfo, PrepareOptions, PreparedComponent } from './prepare.ts'
import { ComponentStop, WasiP2Host } from './wasi-p2-host.ts'

/**
 * Per-job limits, as JobRunner takes them (JobLimits). Components are not metered yet:
 * `fuel` and `memoryMiB` are not enforced yet (the seams: `rewriteCore`, `instantiateCore`); `deterministic` is.
 */
export interface ComponentJobLimits {
  /** Seeds the deterministic clock and random. */
  jobId?: string
  fuel?: number
  memoryMiB?: number
  /** Clock and random derived from `jobId` (instrument/deterministic.ts), as for preview1 jobs. */
  deterministic?: boolean
}

export interface ComponentRunnerOptions extends PrepareOptions {
  /** Clock of non-deterministic jobs (default: the real clocks). */
  clock?: ClockSource
  /** Random of non-deterministic jobs (default: node:crypto). */
  random?: RandomSource
  /**
   * Instantiates each core module of a component, per run (default: `new
   * WebAssembly.Instance(module, imports)`). The seam for metering: add the imports an
   * instrumented module needs, and keep the instances to read their counters after the run.
   */
  instantiateCore?: InstantiateCore
}

interface Loaded {
  info: ComponentInfo
  entry: string
  instantiate: InstantiateFn
  cores: Map<string, WebAssembly.Module>
}

/** The code a job-world `err` gets: the job reported a failure. One line to change for a code of its own. */
const JOB_ERROR_CODE = ErrorCode.exitNonZero

/** WebAssembly.Exception (a wasm `throw` nobody caught); not in every typing of the JS API. */
const WasmException = (WebAssembly as unknown as { Exception?: abstract new (...args: never[]) => object }).Exception

const MESSAGE_MAX = 120

function short(message: string): string {
  const line = message.split('\n', 1)[0] ?? ''
  return line.length > MESSAGE_MAX ? `${line.slice(0, MESSAGE_MAX - 3)}...` : line
}

/**
 * jco's glue rewrites V8's trap messages into wasmtime's ("wasm trap: wasm `unreachable`
 * instruction executed"); back to V8's, so a trap reads the same in both job forms.
 */
const V8_TRAP_MESSAGES = new Map([
  ['wasm trap: wasm `unreachable` instruction executed', 'unreachable'],
  ['wasm trap: out of bounds memory access', 'memory access out of bounds'],
  ['wasm trap: integer divide by zero', 'divide by zero'],
  ['wasm trap: integer overflow', 'divide result unrepresentable'],
  ['wasm trap: invalid conversion to integer', 'float unrepresentable in integer range'],
  ['wasm trap: undefined element: out of bounds table access', 'table index is out of bounds'],
  ['wasm trap: indirect call type mismatch', 'function signature mismatch'],
  ['wasm trap: call stack exhausted', 'call stack exhausted'],
])

/** A value jco's glue threw for a lifted `err` (a ComponentError: an Error with an own `payload`). */
function errPayload(err: unknown): { payload: unknown } | null {
  return err instanceof Error && Object.hasOwn(err, 'payload') ? (err as Error & { payload: unknown }) : null
}

/**
 * Maps something thrown out of instantiation or the export to a code and a short
 * message. Errors from jco's glue (a bad handle, a pointer out of bounds, an invalid
 * discriminant) are the guest breaking the canonical ABI: traps.
 */
function describeFault(err: unknown, hostFault: unknown): { code: ErrorCode; message: string } {
  if (hostFault !== null) return { code: ErrorCode.internal, message: 'job host failed' }
  if (err instanceof WebAssembly.RuntimeError) {
    return { code: ErrorCode.trap, message: short(V8_TRAP_MESSAGES.get(err.message) ?? err.message) }
  }
  if (err instanceof RangeError) {
    if (/call stack/i.test(err.message)) return { code: ErrorCode.trap, message: 'call stack exhausted' }
    if (/memory|allocation/i.test(err.message)) return { code: ErrorCode.trap, message: 'out of memory' }
    return { code: ErrorCode.trap, message: short(err.message) }
  }
  if (err instanceof ComponentLinkError || err instanceof WebAssembly.LinkError) {
    return { code: ErrorCode.linkError, message: short(err.message) }
  }
  if (err instanceof WebAssembly.CompileError) return { code: ErrorCode.invalidModule, message: short(err.message) }
  if (WasmException !== undefined && err instanceof WasmException) return { code: ErrorCode.trap, message: 'uncaught wasm exception' }
  if (err instanceof Error) return { code: ErrorCode.trap, message: short(err.message) }
  return { code: ErrorCode.internal, message: 'job host failed' }
}

function owned(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice()
}

export class ComponentRunner {
  private readonly components = new Map<string, Loaded>()
  private readonly host: WasiP2Host
  private readonly imports: Record<string, unknown>
  private readonly prepareOptions: PrepareOptions
  private readonly instantiateCore: InstantiateCore
  private readonly realClock: ClockSource
  private readonly realRandom: RandomSource
  private clock: ClockSource
  private random: RandomSource

  constructor(options: ComponentRunnerOptions = {}) {
    const { clock, random, instantiateCore, ...prepareOptions } = options
    this.realClock = clock ?? realClock
    this.realRandom = random ?? cryptoRandom
    this.clock = this.realClock
    this.random = this.realRandom
    // the host keeps these two functions; which source they read is chosen per job
    this.host = new WasiP2Host({
      clock: (id, runStartNs) => this.clock(id, runStartNs),
      random: (dest) => this.random(dest),
    })
    this.imports = linkImports(this.host.interfaces)
    this.prepareOptions = prepareOptions
    this.instantiateCore = instantiateCore ?? defaultInstantiateCore
  }

  /**
   * Checks, transpiles (cached per sha256 in this process) and keeps a component. Rejects
   * with a JobError: `invalid_module`, `module_hash_mismatch`, `link_error`, `not_a_command`.
   */
  async load(sha256: string, bytes: Uint8Array): Promise<ComponentInfo> {
    const existing = this.components.get(sha256)
    if (existing !== undefined) return existing.info
    return this.add(await prepareComponent(sha256, bytes, this.prepareOptions))
  }

  /** Keeps a component prepared elsewhere (`prepareComponent`, e.g. in the pool's thread). */
  add(prepared: PreparedComponent): ComponentInfo {
    this.components.set(prepared.info.sha256, {
      info: prepared.info,
      entry: prepared.entry,
      instantiate: compileInstantiate(prepared.js),
      cores: new Map(prepared.cores),
    })
    return prepared.info
  }

  has(sha256: string): boolean {
    return this.components.has(sha256)
  }

  info(sha256: string): ComponentInfo | undefined {
    return this.components.get(sha256)?.info
  }

  /** Instantiates a fresh instance of the component and runs it on `input`. */
  run(sha256: string, input: Uint8Array, caps: StdioCaps, limits: ComponentJobLimits = {}): JobResult {
    const started = performance.now()
    const component = this.components.get(sha256)
    if (component === undefined) {
      return { ok: false, code: ErrorCode.moduleNotFound, message: 'module not loaded', stderr: '', fuel: 0, ms: 0 }
    }
    const job = component.info.kind === 'component-job'
    const host = this.host
    if (limits.deterministic === true) {
      const sources = deterministicSources(limits.jobId ?? '')
      this.clock = sources.clock
      this.random = sources.random
    }
    host.begin(job ? new Uint8Array(0) : input, caps, job ? 'diagnostics' : 'output')

    let returned: unknown = undefined
    let thrown: unknown = undefined
    let failed = false
    try {
      // A fresh instance per job: no state survives from one job to the next. Core
      // modules' start functions run inside instantiate.
      const exports = component.instantiate(
        (name) => component.cores.get(name) as WebAssembly.Module,
        this.imports,
        this.instantiateCore,
      )
      if (job) {
        returned = (exports[component.entry] as (input: Uint8Array) => unknown)(input)
      } else {
        const run = exports[component.entry] as { run: () => unknown }
        run.run()
      }
    } catch (err) {
      thrown = err
      failed = true
    } finally {
      this.clock = this.realClock
      this.random = this.realRandom
    }
    // Fuel metering is a later issue: the metered count will be read here (see instantiateCore).
    const fuel = 0
    const stop = host.stopped // authoritative even if the guest caught the throw
    const fault = host.fault
    const guestErr = failed ? errPayload(thrown) : null
    if (guestErr !== null && job && stop === null && fault === null) {
      // err(message): the message first, then whatever the component printed
      host.note(typeof guestErr.payload === 'string' ? guestErr.payload : String(guestErr.payload))
    }
    const { stdout, stderr } = host.finish()
    const ms = performance.now() - started

    if (stop !== null) {
      if (stop.reason === 'output_limit') {
        return { ok: false, code: ErrorCode.outputLimit, message: `stdout exceeds ${stop.value} bytes`, stderr, fuel, ms }
      }
      if (job) {
        // the job world has no exit status: leaving before run returns is a fault
        return { ok: false, code: ErrorCode.trap, message: `exit (code ${stop.value}) before run returned`, stderr, fuel, ms }
      }
      if (stop.value === 0) return { ok: true, output: stdout, fuel, ms }
      return { ok: false, code: ErrorCode.exitNonZero, message: `exit code ${stop.value}`, stderr, fuel, ms }
    }
    if (guestErr !== null && fault === null) {
      if (job) return { ok: false, code: JOB_ERROR_CODE, message: 'run returned an error', stderr, fuel, ms }
      // wasi:cli/run returned err: exit status 1, as wasmtime reports it
      return { ok: false, code: ErrorCode.exitNonZero, message: 'exit code 1', stderr, fuel, ms }
    }
    if (failed) {
      const { code, message } = describeFault(thrown, fault)
      return { ok: false, code, message, stderr, fuel, ms }
    }
    if (!job) return { ok: true, output: stdout, fuel, ms }
    if (!(returned instanceof Uint8Array)) {
      return { ok: false, code: ErrorCode.internal, message: 'job host failed', stderr, fuel, ms }
    }
    if (returned.length > caps.outputBytes) {
      return { ok: false, code: ErrorCode.outputLimit, message: `output exceeds ${caps.outputBytes} bytes`, stderr, fuel, ms }
    }
    return { ok: true, output: owned(returned), fuel, ms }
  }
}
