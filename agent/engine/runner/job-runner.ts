/**
 * Runs jobs in the current thread: a fresh instance of a prepared module per
 * job, one reusable WASI host, and the mapping of every way a run can end to
 * an outcome with a short message. The worker thread is a thin shell around it.
 *
 * A module is loaded from its bytes (or as a PreparedJob made elsewhere from
 * them, see prepare-job.ts): checked as it came, then rewritten to
 * import its memory and burn fuel (../instrument/meter.ts). Per job the runner
 * creates the memory under the job's cap (`memoryMiB`), sets the fuel budget
 * (`fuel`), picks real or deterministic clock and random (`deterministic`),
 * runs `_start` and reads back the fuel used, which it reports on every
 * outcome, errors included. The bytes a job moves through WASI (fd_read,
 * fd_write, random_get) are charged here, at the bulk-memory rate, so that a
 * host call cannot do unbounded work for the 1 fuel of its `call`.
 *
 * A compiled original module (`load(sha, WebAssembly.Module)`) still runs the
 * old way — its own memory, no cap, no fuel (reported as 0): that is what the
 * worker pool sends until it prepares modules (../worker/protocol.ts, `prepared`).
 */
import { ErrorCode } from '../../../protocol/errors.ts'
import { BULK_BYTES_PER_FUEL } from '../instrument/costs.ts'
import { deterministicSources } from '../wasi/deterministic-sources.ts'
import { FUEL_EXPORT, MAX_PAGES, START_EXPORT } from '../instrument/meter.ts'
import { compileJob } from './prepare-job.ts'
import type { PreparedJob } from './prepare-job.ts'
import type { WasiImports } from '../wasi/abi.ts'
import { WasiHost } from '../wasi/host.ts'
import type { StdioCaps, WasiStop } from '../wasi/host.ts'
import { cryptoRandom, realClock } from '../wasi/sources.ts'
import type { ClockSource, RandomSource } from '../wasi/sources.ts'

export type JobResult =
  | { ok: true; output: Uint8Array; fuel: number; ms: number }
  | { ok: false; code: ErrorCode; message: string; stderr: string; fuel: number; ms: number }

/** The per-job limits the runner enforces itself (time is enforced from outside). */
export interface JobLimits {
  /** Seeds the deterministic clock and random. */
  jobId?: string
  /** Fuel budget; undefined: `defaultFuel`. */
  fuel?: number
  /** Memory ceiling in MiB; undefined: `defaultMemoryMiB`. */
  memoryMiB?: number
  /** Clock and random derived from `jobId` (../wasi/deterministic-sources.ts). */
  deterministic?: boolean
}

export interface JobRunnerOptions {
  /** Clock of non-deterministic jobs (default: the real clocks). */
  clock?: ClockSource
  /** Random of non-deterministic jobs (default: node:crypto). */
  random?: RandomSource
  /** Memory ceiling of a job that names none. Default 256 MiB. */
  defaultMemoryMiB?: number
  /** Fuel budget of a job that names none: still metered and reported. Default 2^53 - 1. */
  defaultFuel?: number
}

export const DEFAULT_MEMORY_MIB = 256
/** Large enough never to run out in practice (~100 days at 1e9 fuel/s), small enough to stay exact in a double. */
export const DEFAULT_FUEL = Number.MAX_SAFE_INTEGER
const PAGES_PER_MIB = 16

type Loaded = { metered: true; job: PreparedJob } | { metered: false; module: WebAssembly.Module }

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

/** MiB shown in messages: whole numbers plainly, fractions to a 64 KiB page. */
const mib = (pages: number) => `${Number((pages / PAGES_PER_MIB).toFixed(4))} MiB`

function failure(code: ErrorCode, message: string, fuel = 0, ms = 0, stderr = ''): JobResult {
  return { ok: false, code, message, stderr, fuel, ms }
}

export class JobRunner {
  private readonly modules = new Map<string, Loaded>()
  private memory: WebAssembly.Memory | undefined = undefined
  private readonly host: WasiHost
  private readonly plainImports: WebAssembly.Imports
  private readonly meteredImports: WebAssembly.Imports
  private readonly fogmesh: { memory: WebAssembly.Memory | undefined; out_of_fuel: () => void; grow_failed: () => void }
  private readonly realClock: ClockSource
  private readonly realRandom: RandomSource
  private clock: ClockSource
  private random: RandomSource
  private readonly defaultMemoryMiB: number
  private readonly defaultFuel: number
  // what the running job told the host through `fogmesh`
  private fuelOut = false
  private growFailed = false
  /** The running metered instance's fuel counter. */
  private fuel: WebAssembly.Global | undefined = undefined

  constructor(options: JobRunnerOptions = {}) {
    this.realClock = options.clock ?? realClock
    this.realRandom = options.random ?? cryptoRandom
    this.clock = this.realClock
    this.random = this.realRandom
    this.defaultMemoryMiB = options.defaultMemoryMiB ?? DEFAULT_MEMORY_MIB
    this.defaultFuel = options.defaultFuel ?? DEFAULT_FUEL
    // the host keeps these two functions; which source they read is chosen per job
    this.host = new WasiHost({
      memory: () => this.memory,
      clock: (id, runStartNs) => this.clock(id, runStartNs),
      random: (dest) => this.random(dest),
    })
    this.fogmesh = {
      memory: undefined,
      out_of_fuel: () => {
        this.fuelOut = true // the module traps right after this returns
      },
      grow_failed: () => {
        this.growFailed = true
      },
    }
    this.plainImports = { wasi_snapshot_preview1: this.host.imports }
    this.meteredImports = {
      wasi_snapshot_preview1: this.chargedWasi(this.host.imports) as unknown as WebAssembly.ModuleImports,
      fogmesh: this.fogmesh as unknown as WebAssembly.ModuleImports,
    }
  }

  /**
   * The WASI imports of a metered job: the three that move bytes charge
   * ceil(bytes / 64) fuel on success. The module writes its count to the
   * global before every call and reads it back after, so the charge counts.
   */
  private chargedWasi(wasi: WasiImports): WasiImports {
    const charge = (bytes: number) => {
      const fuel = this.fuel
      if (fuel !== undefined && bytes > 0) fuel.value = (fuel.value as bigint) - BigInt(Math.ceil(bytes / BULK_BYTES_PER_FUEL))
    }
    const u32At = (ptr: number) => {
      const memory = this.memory
      return memory === undefined ? 0 : new DataView(memory.buffer).getUint32(ptr >>> 0, true)
    }
    const fdRead = wasi.fd_read as (fd: number, iovs: number, count: number, nreadPtr: number) => number
    const fdWrite = wasi.fd_write as (fd: number, iovs: number, count: number, nwrittenPtr: number) => number
    const randomGet = wasi.random_get as (buf: number, len: number) => number
    return Object.freeze({
      ...wasi,
      fd_read: (fd: number, iovs: number, count: number, nreadPtr: number) => {
        const errno = fdRead(fd, iovs, count, nreadPtr)
        if (errno === 0) charge(u32At(nreadPtr))
        return errno
      },
      fd_write: (fd: number, iovs: number, count: number, nwrittenPtr: number) => {
        const errno = fdWrite(fd, iovs, count, nwrittenPtr)
        if (errno === 0) charge(u32At(nwrittenPtr))
        return errno
      },
      random_get: (buf: number, len: number) => {
        const errno = randomGet(buf, len)
        if (errno === 0) charge(len >>> 0)
        return errno
      },
    })
  }

  /**
   * Makes a module runnable under `sha256`: from its bytes (checked, metered
   * and compiled here; throws a JobError like checkModule/prepareModule do),
   * from a PreparedJob made elsewhere, or — unmetered and uncapped — from a
   * compiled original module. A sha already loaded is kept as it is.
   */
  load(sha256: string, source: Uint8Array | PreparedJob | WebAssembly.Module): void {
    if (this.modules.has(sha256)) return
    if (source instanceof WebAssembly.Module) this.modules.set(sha256, { metered: false, module: source })
    else if (source instanceof Uint8Array) this.modules.set(sha256, { metered: true, job: compileJob(sha256, source).job })
    else this.modules.set(sha256, { metered: true, job: source })
  }

  has(sha256: string): boolean {
    return this.modules.has(sha256)
  }

  /** Instantiates a fresh instance of the module and runs `_start` on `input`. */
  run(sha256: string, input: Uint8Array, caps: StdioCaps, limits: JobLimits = {}): JobResult {
    const loaded = this.modules.get(sha256)
    if (loaded === undefined) return failure(ErrorCode.moduleNotFound, 'module not loaded')
    if (!loaded.metered) return this.runPlain(loaded.module, input, caps)
    return this.runMetered(loaded.job, input, caps, limits)
  }

  private runMetered(job: PreparedJob, input: Uint8Array, caps: StdioCaps, limits: JobLimits): JobResult {
    const started = performance.now()
    const budget = limits.fuel ?? this.defaultFuel
    if (!(Number.isSafeInteger(budget) && budget >= 0)) {
      return failure(ErrorCode.invalidField, 'limits.fuel: expected a non-negative integer')
    }
    const memoryMiB = limits.memoryMiB ?? this.defaultMemoryMiB
    if (!(memoryMiB > 0 && Number.isFinite(memoryMiB))) {
      return failure(ErrorCode.invalidField, 'limits.memoryMiB: expected a positive number')
    }
    const capPages = Math.min(MAX_PAGES, Math.floor(memoryMiB * PAGES_PER_MIB))
    const { initialPages, maxPages } = job.memory
    // refused before anything is allocated: a 4 GiB initial memory costs nothing here
    if (initialPages > capPages) {
      return failure(
        ErrorCode.memoryLimit,
        `module needs ${mib(initialPages)} of memory to start; the limit is ${mib(capPages)}`,
        0,
        performance.now() - started,
      )
    }
    let memory: WebAssembly.Memory
    try {
      memory = new WebAssembly.Memory({ initial: initialPages, maximum: Math.min(capPages, maxPages ?? MAX_PAGES) })
    } catch {
      return failure(ErrorCode.memoryLimit, `could not allocate ${mib(initialPages)} of memory`, 0, performance.now() - started)
    }

    if (limits.deterministic === true) {
      const sources = deterministicSources(limits.jobId ?? '')
      this.clock = sources.clock
      this.random = sources.random
    }
    this.fuelOut = false
    this.growFailed = false
    this.fogmesh.memory = memory
    this.memory = memory
    this.host.begin(input, caps)
    let fuelGlobal: WebAssembly.Global | undefined = undefined
    let thrown: unknown = undefined
    let failed = false
    try {
      // A fresh instance per job: no state survives from one job to the next.
      const instance = new WebAssembly.Instance(job.module, this.meteredImports)
      const exports = instance.exports
      const fuel = exports[FUEL_EXPORT]
      const start = exports[START_EXPORT]
      const { _start } = exports
      if (!(fuel instanceof WebAssembly.Global) || typeof _start !== 'function' || (job.start && typeof start !== 'function')) {
        throw new WebAssembly.LinkError('prepared module lost its _start or fuel export')
      }
      fuelGlobal = fuel
      fuel.value = BigInt(budget)
      this.fuel = fuel
      if (job.start) (start as () => void)()
      _start()
    } catch (err) {
      thrown = err
      failed = true
    } finally {
      this.memory = undefined
      this.fuel = undefined
      this.fogmesh.memory = undefined
      this.clock = this.realClock
      this.random = this.realRandom
    }
    const left = fuelGlobal === undefined ? BigInt(budget) : (fuelGlobal.value as bigint)
    const exhausted = this.fuelOut || left < 0n
    const fuel = exhausted ? budget : budget - Number(left)
    const stop = this.host.stopped // authoritative even if the guest caught the throw
    const { stdout, stderr } = this.host.finish()
    const ms = performance.now() - started

    // Over budget is over budget, however the run ended: the module tests its
    // count at loop heads and function entries only (meter.ts), so it may
    // have exited, or trapped, in the straight stretch after crossing zero.
    if (exhausted) return failure(ErrorCode.fuelExhausted, `fuel limit of ${budget} exhausted`, fuel, ms, stderr)
    if (stop !== null) {
      const r = this.stopped(stop, stdout, stderr, fuel, ms)
      if (!r.ok && this.growFailed && r.code !== ErrorCode.outputLimit) return this.memoryFault(capPages, r.message, stderr, fuel, ms)
      return r
    }
    if (!failed) return { ok: true, output: stdout, fuel, ms }
    const { code, message } = describeFault(thrown)
    if (this.growFailed && code !== ErrorCode.internal) return this.memoryFault(capPages, message, stderr, fuel, ms)
    return failure(code, message, fuel, ms, stderr)
  }

  /** A job that failed after memory.grow was refused: the cap, not the job's own fault, is the cause. */
  private memoryFault(capPages: number, then: string, stderr: string, fuel: number, ms: number): JobResult {
    return failure(ErrorCode.memoryLimit, short(`memory limit of ${mib(capPages)} reached (then: ${then})`), fuel, ms, stderr)
  }

  /** The unmetered path: a compiled original module, with its own memory. */
  private runPlain(module: WebAssembly.Module, input: Uint8Array, caps: StdioCaps): JobResult {
    const started = performance.now()
    this.host.begin(input, caps)
    let thrown: unknown = undefined
    let failed = false
    try {
      // The module's start function (if any) runs inside this constructor.
      const instance = new WebAssembly.Instance(module, this.plainImports)
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
    const fuel = 0 // not metered
    const stop = this.host.stopped
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
