/**
 * Runs WebAssembly components as jobs, beside JobRunner (preview1 commands) and with the
 * same result type and the same limits: a fresh component instance per job, one reusable
 * preview2 host, every way a run can end mapped to a RunnerResult.
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
 *
 * Limits, as for a preview1 job (../runner/job-runner.ts), when the component was prepared metered
 * (the default, prepare.ts; the per-run state is metered-run.ts):
 * - **Fuel.** All core instances of one run burn ONE budget: each metered core module
 *   imports the counter (`fogmesh.fuel`) instead of owning one, and the runner gives every
 *   instance of the run the same `WebAssembly.Global`, set to the budget before the first
 *   core instance exists. A function keeps the count in a local and writes it back before
 *   every call (imports included: that is how control passes between instances, directly
 *   or through jco's glue) and every return, and reads it back after every call, so the
 *   one global is exact at every crossing, whichever instance is running and however
 *   deeply they re-enter each other. Nothing is summed or handed over per instance: the
 *   count is exact and deterministic (a function of the component, its input and
 *   METERING_VERSION). The bytes the host moves (stdin, stdout, stderr, random; a job-world
 *   `run`'s input and result) are charged like preview1's fd_read / fd_write / random_get.
 *   Running out anywhere traps (`fogmesh.out_of_fuel`): `fuel_exhausted`, fuel = budget.
 *   Fuel used is reported on every outcome.
 * - **Memory.** The one core module that defines the component's memory imports it
 *   (`fogmesh.memory`); the runner creates it per run with `maximum` = the job's cap
 *   (`memoryMiB`), after refusing an initial size over the cap (`memory_limit`, before any
 *   instance exists). Cores that import the memory (jco's preview1 adapter) get that same
 *   object from jco and are checked to. Growth past the cap fails inside (memory.grow
 *   returns -1, `fogmesh.grow_failed` tells the runner); a run that then fails is
 *   `memory_limit`, as for preview1.
 */
import { ErrorCode } from '../../../protocol/errors.ts'
import { mergeOptions } from '../../../protocol/options.ts'
import { describeFault } from '../runner/faults.ts'
import type { FaultReading } from '../runner/faults.ts'
import { BUDGET_DEFAULTS, BUDGET_RANGES } from '../runner/job-runner.ts'
import { budgetOf, fuelBurned, memoryFaultMessage } from '../runner/run-budget.ts'
import { failure } from '../runner/runner-result.ts'
import type { RunnerLimits, RunnerResult } from '../runner/runner-result.ts'
import type { StdioCaps } from '../wasi/host.ts'
import { RunSources } from '../wasi/run-sources.ts'
import { cryptoRandom, realClock } from '../wasi/sources.ts'
import type { ClockSource, RandomSource } from '../wasi/sources.ts'
import { compileInstantiate, defaultInstantiateCore, linkImports } from './instantiate.ts'
import type { InstantiateCore, InstantiateFn } from './instantiate.ts'
import { CoreLayoutError, MeteredRun, meteredCores } from './metered-run.ts'
import type { MeteredCores } from './metered-run.ts'
import { prepareComponent } from './prepare.ts'
import type { ComponentInfo, ComponentPrepareOptions, PreparedComponent } from './prepare.ts'
import { WasiP2Host } from './wasi-p2-host.ts'

export interface ComponentRunnerOptions extends ComponentPrepareOptions {
  /** Clock of non-deterministic jobs (default: the real clocks). */
  clock?: ClockSource
  /** Random of non-deterministic jobs (default: node:crypto). */
  random?: RandomSource
  /**
   * Instantiates each core module of a component, per run (default: `new
   * WebAssembly.Instance(module, imports)`). For a metered component the imports already
   * hold the `fogmesh` ones (fuel, memory, out_of_fuel, grow_failed).
   */
  instantiateCore?: InstantiateCore
  /** Memory ceiling of a job that names none. Default 256 MiB (as JobRunner). */
  defaultMemoryMiB?: number
  /** Fuel budget of a job that names none: still metered and reported. Default 2^53 - 1 (as JobRunner). */
  defaultFuel?: number
}

interface Loaded {
  info: ComponentInfo
  entry: string
  instantiate: InstantiateFn
  cores: Map<string, WebAssembly.Module>
  /** Metered cores; null: prepared with `meter: false`. */
  metered: MeteredCores | null
}

/** The code a job-world `err` gets: the job reported a failure. One line to change for a code of its own. */
const JOB_ERROR_CODE = ErrorCode.exitNonZero

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

/**
 * A component's faults. Errors from jco's glue (a bad handle, a pointer out of bounds, an
 * invalid discriminant) are the guest breaking the canonical ABI: traps.
 */
const FAULTS: FaultReading = { traps: V8_TRAP_MESSAGES, outOfMemory: /memory|allocation/i, otherError: ErrorCode.trap }

/** A value jco's glue threw for a lifted `err` (a ComponentError: an Error with an own `payload`). */
function errPayload(err: unknown): { payload: unknown } | null {
  return err instanceof Error && Object.hasOwn(err, 'payload') ? (err as Error & { payload: unknown }) : null
}

function owned(bytes: Uint8Array): Uint8Array {
  return bytes.byteOffset === 0 && bytes.byteLength === bytes.buffer.byteLength ? bytes : bytes.slice()
}

export class ComponentRunner {
  private readonly components = new Map<string, Loaded>()
  private readonly host: WasiP2Host
  private readonly imports: Record<string, unknown>
  private readonly prepareOptions: ComponentPrepareOptions
  private readonly instantiateCore: InstantiateCore
  /** `instantiateCore` as jco calls it for a metered component: adds the `fogmesh` imports. */
  private readonly instantiateMetered: InstantiateCore
  private readonly sources: RunSources
  private readonly defaults: { defaultMemoryMiB: number; defaultFuel: number }
  /** The metered run in progress. */
  private metered: MeteredRun | null = null

  constructor(options: ComponentRunnerOptions = {}) {
    const { clock, random, instantiateCore, defaultMemoryMiB, defaultFuel, ...prepareOptions } = mergeOptions(
      options,
      { clock: realClock, random: cryptoRandom, instantiateCore: defaultInstantiateCore, ...BUDGET_DEFAULTS },
      BUDGET_RANGES,
      'componentRunner',
    )
    this.defaults = { defaultMemoryMiB, defaultFuel }
    this.sources = new RunSources(clock, random)
    // the host keeps these functions; which source they read (and which count they charge) is chosen per job
    this.host = new WasiP2Host({ clock: this.sources.clock, random: this.sources.random, charge: (bytes) => this.metered?.charge(bytes) })
    this.imports = linkImports(this.host.interfaces)
    this.prepareOptions = prepareOptions
    this.instantiateCore = instantiateCore
    this.instantiateMetered = (module, imports) => {
      const run = this.metered
      if (run === null) throw new CoreLayoutError('component instantiates a core module the job host did not meter')
      return run.instantiate(module, imports, this.instantiateCore)
    }
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
    const cores = new Map(prepared.cores)
    this.components.set(prepared.info.sha256, {
      info: prepared.info,
      entry: prepared.entry,
      instantiate: compileInstantiate(prepared.js),
      cores,
      metered: meteredCores(prepared, cores),
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
  run(sha256: string, input: Uint8Array, caps: StdioCaps, limits: RunnerLimits = {}): RunnerResult {
    const started = performance.now()
    const component = this.components.get(sha256)
    if (component === undefined) return failure(ErrorCode.moduleNotFound, 'module not loaded')
    const fail = (code: ErrorCode, message: string): RunnerResult => failure(code, message, 0, performance.now() - started)

    // the limits, checked and set up before anything of the component exists
    let metered: MeteredRun | null = null
    let budget = 0
    let capPages = 0
    if (component.metered !== null) {
      const checked = budgetOf(limits, this.defaults)
      if ('code' in checked) return fail(checked.code, checked.message)
      ;({ fuel: budget, capPages } = checked)
      const run = MeteredRun.begin(component.metered, budget, capPages, {
        outOfFuel: () => {
          if (this.metered !== null) this.metered.fuelOut = true // the module traps right after this returns
        },
        growFailed: () => {
          if (this.metered !== null) this.metered.growFailed = true
        },
      })
      if (!(run instanceof MeteredRun)) return fail(run.code, run.message)
      metered = run
    }

    const job = component.info.kind === 'component-job'
    const host = this.host
    this.sources.begin(limits)
    host.begin(job ? new Uint8Array(0) : input, caps, job ? 'diagnostics' : 'output')
    this.metered = metered

    let returned: unknown = undefined
    let thrown: unknown = undefined
    let failed = false
    try {
      // A fresh instance per job: no state survives from one job to the next. Core
      // modules' start functions run inside instantiate.
      const exports = component.instantiate(
        (name) => component.cores.get(name) as WebAssembly.Module,
        this.imports,
        metered !== null ? this.instantiateMetered : this.instantiateCore,
      )
      if (job) {
        // the host copies the input into the component's memory: charged like fd_read
        metered?.charge(input.length)
        returned = (exports[component.entry] as (input: Uint8Array) => unknown)(input)
        // and the result out of it: like fd_write
        if (returned instanceof Uint8Array) metered?.charge(returned.length)
      } else {
        const run = exports[component.entry] as { run: () => unknown }
        run.run()
      }
    } catch (err) {
      thrown = err
      failed = true
    } finally {
      this.metered = null
      this.sources.end()
    }
    const stop = host.stopped // authoritative even if the guest caught the throw
    const fault = host.fault
    const guestErr = failed ? errPayload(thrown) : null
    if (guestErr !== null && job && stop === null && fault === null) {
      // err(message): the message first, then whatever the component printed
      const message = typeof guestErr.payload === 'string' ? guestErr.payload : String(guestErr.payload)
      metered?.charge(message.length) // lifted out of its memory, like a result
      host.note(message)
    }
    const { stdout, stderr } = host.finish()

    // fuel: what the one shared counter says, on every outcome
    const { fuel, exhausted } = metered !== null ? fuelBurned(budget, metered.fuel.value as bigint, metered.fuelOut) : { fuel: 0, exhausted: false }
    const growFailed = metered?.growFailed === true
    const ms = performance.now() - started
    const out = (code: ErrorCode, message: string): RunnerResult => {
      // a run that failed after memory.grow was refused: the cap, not the job's own fault, is the cause
      if (growFailed && code !== ErrorCode.outputLimit && code !== ErrorCode.internal) {
        return failure(ErrorCode.memoryLimit, memoryFaultMessage(capPages, message), fuel, ms, stderr)
      }
      return failure(code, message, fuel, ms, stderr)
    }

    // Over budget is over budget, however the run ended (see ../runner/run-budget.ts)
    if (exhausted) return failure(ErrorCode.fuelExhausted, `fuel limit of ${budget} exhausted`, fuel, ms, stderr)
    if (stop !== null) {
      if (stop.reason === 'output_limit') return out(ErrorCode.outputLimit, `stdout exceeds ${stop.value} bytes`)
      // the job world has no exit status: leaving before run returns is a fault
      if (job) return out(ErrorCode.trap, `exit (code ${stop.value}) before run returned`)
      if (stop.value === 0) return { ok: true, output: stdout, fuel, ms }
      return out(ErrorCode.exitNonZero, `exit code ${stop.value}`)
    }
    if (guestErr !== null && fault === null) {
      if (job) return out(JOB_ERROR_CODE, 'run returned an error')
      // wasi:cli/run returned err: exit status 1, as wasmtime reports it
      return out(ErrorCode.exitNonZero, 'exit code 1')
    }
    if (failed) {
      if (fault !== null) return out(ErrorCode.internal, 'job host failed')
      const { code, message } = describeFault(thrown, FAULTS)
      return out(code, message)
    }
    if (!job) return { ok: true, output: stdout, fuel, ms }
    if (!(returned instanceof Uint8Array)) return out(ErrorCode.internal, 'job host failed')
    if (returned.length > caps.outputBytes) return out(ErrorCode.outputLimit, `output exceeds ${caps.outputBytes} bytes`)
    return { ok: true, output: owned(returned), fuel, ms }
  }
}
