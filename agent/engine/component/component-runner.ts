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
 *
 * Limits, as for a preview1 job (../runner/job-runner.ts), when the component was prepared metered
 * (the default, prepare.ts):
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
import { ErrorCode, JobError } from '../../../protocol/errors.ts'
import { DEFAULT_FUEL, DEFAULT_MEMORY_MIB } from '../runner/job-runner.ts'
import type { JobResult } from '../runner/job-runner.ts'
import { BULK_BYTES_PER_FUEL } from '../instrument/costs.ts'
import { MAX_PAGES, START_EXPORT } from '../instrument/meter.ts'
import type { MemoryLimits } from '../instrument/meter.ts'
import type { StdioCaps } from '../wasi/host.ts'
import { deterministicSources } from '../wasi/deterministic-sources.ts'
import { cryptoRandom, realClock } from '../wasi/sources.ts'
import type { ClockSource, RandomSource } from '../wasi/sources.ts'
import { ComponentLinkError, compileInstantiate, defaultInstantiateCore, linkImports } from './instantiate.ts'
import type { InstantiateCore, InstantiateFn } from './instantiate.ts'
import { prepareComponent } from './prepare.ts'
import type { ComponentInfo, MeteredCore, PrepareOptions, PreparedComponent } from './prepare.ts'
import { ComponentStop, WasiP2Host } from './wasi-p2-host.ts'

/** Per-job limits, as JobRunner takes them (JobLimits), with the same meaning and defaults. */
export interface ComponentJobLimits {
  /** Seeds the deterministic clock and random. */
  jobId?: string
  /** Fuel budget, shared by every core instance of the run; undefined: `defaultFuel`. */
  fuel?: number
  /** Memory ceiling in MiB; undefined: `defaultMemoryMiB`. */
  memoryMiB?: number
  /** Clock and random derived from `jobId` (../wasi/deterministic-sources.ts), as for preview1 jobs. */
  deterministic?: boolean
}

export interface ComponentRunnerOptions extends PrepareOptions {
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

/** A metered core module, as the runner instantiates it. */
interface CoreMeta extends MeteredCore {
  /** For `memoryFrom: 'module'`: where its import of the memory is ([module, name]). */
  memoryImport: [string, string] | null
}

interface Loaded {
  info: ComponentInfo
  entry: string
  instantiate: InstantiateFn
  cores: Map<string, WebAssembly.Module>
  /** Metered cores by module; null: prepared with `meter: false`. */
  metered: Map<WebAssembly.Module, CoreMeta> | null
  /** The limits of the memory the host creates per run (that of the core that defines it), if any. */
  memory: MemoryLimits | null
}

/** What one metered run gives its core instances, and what they tell it. */
interface Metered {
  loaded: Loaded
  fuel: WebAssembly.Global
  memory: WebAssembly.Memory | null
  /** The `fogmesh` import object of this run. */
  imports: Readonly<Record<string, unknown>>
  /** The memory was given to its defining core's instance (once per run). */
  memoryGiven: boolean
  fuelOut: boolean
  growFailed: boolean
}

/** A run whose component is laid out against the cap (a second memory-defining instance, a memory from elsewhere). */
class CoreLayoutError extends Error {
  override name = 'CoreLayoutError'
}

const PAGES_PER_MIB = 16

/** MiB shown in messages: whole numbers plainly, fractions to a 64 KiB page (as JobRunner). */
const mib = (pages: number) => `${Number((pages / PAGES_PER_MIB).toFixed(4))} MiB`

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
  if (err instanceof CoreLayoutError) return { code: ErrorCode.invalidModule, message: short(err.message) }
  if (err instanceof ComponentLinkError || err instanceof WebAssembly.LinkError) {
    return { code: ErrorCode.linkError, message: short(err.message) }
  }
  if (err instanceof WebAssembly.CompileError) return { code: ErrorCode.invalidModule, message: short(err.message) }
  if (WasmException !== undefined && err instanceof WasmException) return { code: ErrorCode.trap, message: 'uncaught wasm exception' }
  if (err instanceof Error) return { code: ErrorCode.trap, message: short(err.message) }
  return { code: ErrorCode.internal, message: 'job host failed' }
}

/** Bytes moved by the host, charged at the bulk rate: ceil(bytes / 64) (instrument/costs.ts). */
function burn(m: Metered, bytes: number): void {
  if (bytes > 0) m.fuel.value = (m.fuel.value as bigint) - BigInt(Math.ceil(bytes / BULK_BYTES_PER_FUEL))
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
  /** `instantiateCore` as jco calls it for a metered component: adds the `fogmesh` imports. */
  private readonly instantiateMetered: InstantiateCore
  private readonly outOfFuel: () => void
  private readonly growFailed: () => void
  private readonly realClock: ClockSource
  private readonly realRandom: RandomSource
  private readonly defaultMemoryMiB: number
  private readonly defaultFuel: number
  private clock: ClockSource
  private random: RandomSource
  /** The metered run in progress. */
  private metered: Metered | null = null

  constructor(options: ComponentRunnerOptions = {}) {
    const { clock, random, instantiateCore, defaultMemoryMiB, defaultFuel, ...prepareOptions } = options
    this.realClock = clock ?? realClock
    this.realRandom = random ?? cryptoRandom
    this.clock = this.realClock
    this.random = this.realRandom
    this.defaultMemoryMiB = defaultMemoryMiB ?? DEFAULT_MEMORY_MIB
    this.defaultFuel = defaultFuel ?? DEFAULT_FUEL
    // the host keeps these functions; which source they read (and which count they charge) is chosen per job
    this.host = new WasiP2Host({
      clock: (id, runStartNs) => this.clock(id, runStartNs),
      random: (dest) => this.random(dest),
      charge: (bytes) => this.charge(bytes),
    })
    this.imports = linkImports(this.host.interfaces)
    this.prepareOptions = prepareOptions
    this.instantiateCore = instantiateCore ?? defaultInstantiateCore
    this.outOfFuel = () => {
      if (this.metered !== null) this.metered.fuelOut = true // the module traps right after this returns
    }
    this.growFailed = () => {
      if (this.metered !== null) this.metered.growFailed = true
    }
    this.instantiateMetered = (module, imports) => this.instantiateCoreMetered(module, imports)
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
    let metered: Map<WebAssembly.Module, CoreMeta> | null = null
    let memory: MemoryLimits | null = null
    if (prepared.metering !== undefined) {
      metered = new Map()
      for (const [name, core] of prepared.metering.cores) {
        const module = cores.get(name)
        if (module === undefined) throw new JobError(ErrorCode.internal, `metering names a missing core module ${name}`)
        let memoryImport: [string, string] | null = null
        if (core.memoryFrom === 'module') {
          const imp = WebAssembly.Module.imports(module).find((i) => i.kind === 'memory')
          if (imp !== undefined) memoryImport = [imp.module, imp.name]
        }
        if (core.memoryFrom === 'host') memory = core.memory
        metered.set(module, { ...core, memoryImport })
      }
      if (metered.size !== cores.size) throw new JobError(ErrorCode.internal, 'a core module of a metered component is not metered')
    }
    this.components.set(prepared.info.sha256, {
      info: prepared.info,
      entry: prepared.entry,
      instantiate: compileInstantiate(prepared.js),
      cores,
      metered,
      memory,
    })
    return prepared.info
  }

  has(sha256: string): boolean {
    return this.components.has(sha256)
  }

  info(sha256: string): ComponentInfo | undefined {
    return this.components.get(sha256)?.info
  }

  /** Charges the bytes a host call moved (see WasiP2HostOptions.charge) to the run in progress. */
  private charge(bytes: number): void {
    if (this.metered !== null) burn(this.metered, bytes)
  }

  /** Instantiates one core module of a metered run: its `fogmesh` imports, then its start function. */
  private instantiateCoreMetered(module: WebAssembly.Module, imports?: WebAssembly.Imports): WebAssembly.Instance {
    const m = this.metered
    const core = m?.loaded.metered?.get(module)
    if (m === null || core === undefined) throw new CoreLayoutError('component instantiates a core module the job host did not meter')
    if (core.memoryFrom === 'host') {
      // the cap is per job: a second instance of the memory's module would get a second memory
      if (m.memoryGiven) throw new CoreLayoutError('component instantiates its memory-defining core module twice; the job host caps one memory')
      m.memoryGiven = true
    } else if (core.memoryFrom === 'module' && core.memoryImport !== null) {
      // jco wires the defining core's exported memory here: it must be the capped one
      const [mod, name] = core.memoryImport
      const given = (imports?.[mod] as Record<string, unknown> | undefined)?.[name]
      if (m.memory === null || given !== m.memory) throw new CoreLayoutError('a core module imports a memory the job host does not cap')
    }
    const instance = this.instantiateCore(module, { ...imports, fogmesh: m.imports as WebAssembly.ModuleImports })
    if (core.start) {
      // the wasm start function, moved out of instantiation so that it is metered too
      const start = instance.exports[START_EXPORT]
      if (typeof start !== 'function') throw new WebAssembly.LinkError('metered core module lost its start function')
      ;(start as () => void)()
    }
    return instance
  }

  /** Instantiates a fresh instance of the component and runs it on `input`. */
  run(sha256: string, input: Uint8Array, caps: StdioCaps, limits: ComponentJobLimits = {}): JobResult {
    const started = performance.now()
    const component = this.components.get(sha256)
    if (component === undefined) {
      return { ok: false, code: ErrorCode.moduleNotFound, message: 'module not loaded', stderr: '', fuel: 0, ms: 0 }
    }
    const fail = (code: ErrorCode, message: string): JobResult => ({ ok: false, code, message, stderr: '', fuel: 0, ms: performance.now() - started })

    // the limits, checked and set up before anything of the component exists
    const budget = limits.fuel ?? this.defaultFuel
    const memoryMiB = limits.memoryMiB ?? this.defaultMemoryMiB
    let metered: Metered | null = null
    let capPages = 0
    if (component.metered !== null) {
      if (!(Number.isSafeInteger(budget) && budget >= 0)) return fail(ErrorCode.invalidField, 'limits.fuel: expected a non-negative integer')
      if (!(memoryMiB > 0 && Number.isFinite(memoryMiB))) return fail(ErrorCode.invalidField, 'limits.memoryMiB: expected a positive number')
      capPages = Math.min(MAX_PAGES, Math.floor(memoryMiB * PAGES_PER_MIB))
      let memory: WebAssembly.Memory | null = null
      if (component.memory !== null) {
        const { initialPages, maxPages } = component.memory
        // refused before anything is allocated: a 4 GiB initial memory costs nothing here
        if (initialPages > capPages) {
          return fail(ErrorCode.memoryLimit, `module needs ${mib(initialPages)} of memory to start; the limit is ${mib(capPages)}`)
        }
        try {
          memory = new WebAssembly.Memory({ initial: initialPages, maximum: Math.min(capPages, maxPages ?? MAX_PAGES) })
        } catch {
          return fail(ErrorCode.memoryLimit, `could not allocate ${mib(initialPages)} of memory`)
        }
      }
      const fuel = new WebAssembly.Global({ value: 'i64', mutable: true }, BigInt(budget))
      metered = {
        loaded: component,
        fuel,
        memory,
        imports: Object.freeze({ fuel, memory: memory ?? undefined, out_of_fuel: this.outOfFuel, grow_failed: this.growFailed }),
        memoryGiven: false,
        fuelOut: false,
        growFailed: false,
      }
    }

    const job = component.info.kind === 'component-job'
    const host = this.host
    if (limits.deterministic === true) {
      const sources = deterministicSources(limits.jobId ?? '')
      this.clock = sources.clock
      this.random = sources.random
    }
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
        this.charge(input.length)
        returned = (exports[component.entry] as (input: Uint8Array) => unknown)(input)
        // and the result out of it: like fd_write
        if (returned instanceof Uint8Array) this.charge(returned.length)
      } else {
        const run = exports[component.entry] as { run: () => unknown }
        run.run()
      }
    } catch (err) {
      thrown = err
      failed = true
    } finally {
      this.metered = null
      this.clock = this.realClock
      this.random = this.realRandom
    }
    const stop = host.stopped // authoritative even if the guest caught the throw
    const fault = host.fault
    const guestErr = failed ? errPayload(thrown) : null
    if (guestErr !== null && job && stop === null && fault === null) {
      // err(message): the message first, then whatever the component printed
      const message = typeof guestErr.payload === 'string' ? guestErr.payload : String(guestErr.payload)
      if (metered !== null) burn(metered, message.length) // lifted out of its memory, like a result
      host.note(message)
    }
    const { stdout, stderr } = host.finish()

    // fuel: what the one shared counter says, on every outcome
    let fuel = 0
    let exhausted = false
    if (metered !== null) {
      const left = metered.fuel.value as bigint
      exhausted = metered.fuelOut || left < 0n
      fuel = exhausted ? budget : budget - Number(left)
    }
    const growFailed = metered?.growFailed === true
    const ms = performance.now() - started
    const out = (code: ErrorCode, message: string): JobResult => {
      // a run that failed after memory.grow was refused: the cap, not the job's own fault, is the cause
      if (growFailed && code !== ErrorCode.outputLimit && code !== ErrorCode.internal) {
        return { ok: false, code: ErrorCode.memoryLimit, message: short(`memory limit of ${mib(capPages)} reached (then: ${message})`), stderr, fuel, ms }
      }
      return { ok: false, code, message, stderr, fuel, ms }
    }

    // Over budget is over budget, however the run ended (see ../runner/job-runner.ts)
    if (exhausted) return { ok: false, code: ErrorCode.fuelExhausted, message: `fuel limit of ${budget} exhausted`, stderr, fuel, ms }
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
      const { code, message } = describeFault(thrown, fault)
      return out(code, message)
    }
    if (!job) return { ok: true, output: stdout, fuel, ms }
    if (!(returned instanceof Uint8Array)) return out(ErrorCode.internal, 'job host failed')
    if (returned.length > caps.outputBytes) return out(ErrorCode.outputLimit, `output exceeds ${caps.outputBytes} bytes`)
    return { ok: true, output: owned(returned), fuel, ms }
  }
}
