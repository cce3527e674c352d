/**
 * Runs preview1 jobs in the current thread: a fresh instance of a prepared module per
 * job, one reusable WASI host, and the mapping of every way a run can end to a result
 * with a short message. The worker thread is a thin shell around it (./thread-runner.ts).
 *
 * A module is loaded from its bytes (or as a PreparedJob made elsewhere from them, see
 * prepare-job.ts): checked as it came, then rewritten to import its memory and burn fuel
 * (../instrument/meter.ts). Per job the runner creates the memory under the job's cap
 * (`memoryMiB`), sets the fuel budget (`fuel`), picks real or deterministic clock and
 * random (`deterministic`), runs `_start` and reads back the fuel used, which it reports
 * on every outcome, errors included. The bytes a job moves through WASI (fd_read,
 * fd_write, random_get) are charged here, at the bulk-memory rate, so that a host call
 * cannot do unbounded work for the 1 fuel of its `call`.
 *
 * A compiled original module (`load(sha, WebAssembly.Module)`) runs the plain way — its
 * own memory, no cap, no fuel (reported as 0), real clock and random: for comparisons.
 * Both ways share one run path; only how the instance is made and started differs.
 */
import { ErrorCode, JobError } from '../../../protocol/errors.ts'
import { mergeOptions } from '../../../protocol/options.ts'
import { FUEL_EXPORT, START_EXPORT } from '../instrument/meter.ts'
import type { WasiImports } from '../wasi/abi.ts'
import { WasiHost } from '../wasi/host.ts'
import type { StdioCaps } from '../wasi/host.ts'
import { RunSources } from '../wasi/run-sources.ts'
import { cryptoRandom, realClock } from '../wasi/sources.ts'
import type { ClockSource, RandomSource } from '../wasi/sources.ts'
import type { WasiStop } from '../wasi/stop.ts'
import { describeFault } from './faults.ts'
import type { FaultReading } from './faults.ts'
import { compileJob } from './prepare-job.ts'
import type { PreparedJob } from './prepare-job.ts'
import { SpareMemory } from './spare-memory.ts'
import { budgetOf, chargeBytes, DEFAULT_FUEL, DEFAULT_MEMORY_MIB, fuelBurned, memoryFaultMessage, PAGES_PER_MIB } from './run-budget.ts'
import { failure } from './runner-result.ts'
import type { RunnerLimits, RunnerResult } from './runner-result.ts'

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

/** The options both runners take for the budgets, with their defaults and ranges. */
export const BUDGET_DEFAULTS = { defaultMemoryMiB: DEFAULT_MEMORY_MIB, defaultFuel: DEFAULT_FUEL }
export const BUDGET_RANGES = {
  defaultMemoryMiB: { min: 1 / PAGES_PER_MIB },
  defaultFuel: { min: 0, max: Number.MAX_SAFE_INTEGER, integer: true },
}

type Loaded = { metered: true; job: PreparedJob } | { metered: false; module: WebAssembly.Module }

/** A preview1 job's faults: anything that is not the guest's is the host's (`internal`). */
const FAULTS: FaultReading = { outOfMemory: /memory/i, otherError: ErrorCode.internal }

export class JobRunner {
  private readonly modules = new Map<string, Loaded>()
  private memory: WebAssembly.Memory | undefined = undefined
  /** The memory of the last metered job, zeroed, for the next one (spare-memory.ts). */
  private readonly spareMemory = new SpareMemory()
  private readonly host: WasiHost
  private readonly sources: RunSources
  private readonly plainImports: WebAssembly.Imports
  private readonly meteredImports: WebAssembly.Imports
  private readonly fogmesh: { memory: WebAssembly.Memory | undefined; out_of_fuel: () => void; grow_failed: () => void }
  private readonly defaults: { defaultMemoryMiB: number; defaultFuel: number }
  // what the running job told the host through `fogmesh`
  private fuelOut = false
  private growFailed = false
  /** The running metered instance's fuel counter. */
  private fuel: WebAssembly.Global | undefined = undefined

  /** Whether a memory.grow of the last metered run was refused (its cap, or the engine). */
  get lastGrowFailed(): boolean {
    return this.growFailed
  }

  constructor(options: JobRunnerOptions = {}) {
    const o = mergeOptions(options, { clock: realClock, random: cryptoRandom, ...BUDGET_DEFAULTS }, BUDGET_RANGES, 'jobRunner')
    this.defaults = { defaultMemoryMiB: o.defaultMemoryMiB, defaultFuel: o.defaultFuel }
    this.sources = new RunSources(o.clock, o.random)
    this.host = new WasiHost({ memory: () => this.memory, clock: this.sources.clock, random: this.sources.random })
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
      if (this.fuel !== undefined) chargeBytes(this.fuel, bytes)
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
  run(sha256: string, input: Uint8Array, caps: StdioCaps, limits: RunnerLimits = {}): RunnerResult {
    const loaded = this.modules.get(sha256)
    if (loaded === undefined) return failure(ErrorCode.moduleNotFound, 'module not loaded')
    const started = performance.now()
    let budget = 0
    let capPages = 0
    let memory: WebAssembly.Memory | undefined = undefined
    if (loaded.metered) {
      const checked = budgetOf(limits, this.defaults)
      if ('code' in checked) return failure(checked.code, checked.message)
      ;({ fuel: budget, capPages } = checked)
      const made = this.spareMemory.take(loaded.job.memory, capPages)
      if (!(made instanceof WebAssembly.Memory)) return failure(made.code, made.message, 0, performance.now() - started)
      memory = made
      this.sources.begin(limits)
      this.fuelOut = false
      this.growFailed = false
      this.fogmesh.memory = memory
      this.memory = memory
    }
    this.host.begin(input, caps)
    let counter: WebAssembly.Global | undefined = undefined
    let thrown: unknown = undefined
    let failed = false
    try {
      // A fresh instance per job: no state survives from one job to the next.
      if (loaded.metered) this.startMetered(loaded.job, budget)
      else this.startPlain(loaded.module)
    } catch (err) {
      thrown = err
      failed = true
    } finally {
      counter = this.fuel
      this.memory = undefined
      this.fuel = undefined
      this.fogmesh.memory = undefined
      this.sources.end()
    }
    const { fuel, exhausted } = loaded.metered
      ? fuelBurned(budget, counter === undefined ? BigInt(budget) : (counter.value as bigint), this.fuelOut)
      : { fuel: 0, exhausted: false }
    const growFailed = loaded.metered && this.growFailed
    const stop = this.host.stopped // authoritative even if the guest caught the throw
    const { stdout, stderr } = this.host.finish() // copies: nothing of the result points into the memory
    if (loaded.metered && memory !== undefined) this.spareMemory.give(memory, loaded.job.memory, capPages)
    const ms = performance.now() - started

    if (exhausted) return failure(ErrorCode.fuelExhausted, `fuel limit of ${budget} exhausted`, fuel, ms, stderr)
    if (stop !== null) {
      const r = this.stopped(stop, stdout, stderr, fuel, ms)
      if (!r.ok && growFailed && r.code !== ErrorCode.outputLimit) return failure(ErrorCode.memoryLimit, memoryFaultMessage(capPages, r.message), fuel, ms, stderr)
      return r
    }
    if (!failed) return { ok: true, output: stdout, fuel, ms }
    const { code, message } = describeFault(thrown, FAULTS)
    if (growFailed && code !== ErrorCode.internal) return failure(ErrorCode.memoryLimit, memoryFaultMessage(capPages, message), fuel, ms, stderr)
    return failure(code, message, fuel, ms, stderr)
  }

  /** The metered way: the host's memory and fuel, the moved start function, then `_start`. */
  private startMetered(job: PreparedJob, budget: number): void {
    const exports = new WebAssembly.Instance(job.module, this.meteredImports).exports
    const fuel = exports[FUEL_EXPORT]
    const start = exports[START_EXPORT]
    const { _start } = exports
    if (!(fuel instanceof WebAssembly.Global) || typeof _start !== 'function' || (job.start && typeof start !== 'function')) {
      throw new JobError(ErrorCode.linkError, 'prepared module lost its _start or fuel export')
    }
    fuel.value = BigInt(budget)
    this.fuel = fuel
    if (job.start) (start as () => void)()
    _start()
  }

  /** The plain way: a compiled original module with its own memory; its start function runs inside the constructor. */
  private startPlain(module: WebAssembly.Module): void {
    const { memory, _start } = new WebAssembly.Instance(module, this.plainImports).exports
    if (!(memory instanceof WebAssembly.Memory) || typeof _start !== 'function') {
      throw new JobError(ErrorCode.linkError, 'module lost its _start or memory export')
    }
    this.memory = memory
    _start()
  }

  private stopped(stop: WasiStop, stdout: Uint8Array, stderr: string, fuel: number, ms: number): RunnerResult {
    switch (stop.reason) {
      case 'exit':
        if (stop.value === 0) return { ok: true, output: stdout, fuel, ms }
        return failure(ErrorCode.exitNonZero, `exit code ${stop.value}`, fuel, ms, stderr)
      case 'output_limit':
        return failure(ErrorCode.outputLimit, `stdout exceeds ${stop.value} bytes`, fuel, ms, stderr)
      case 'signal':
        return failure(ErrorCode.trap, `terminated by signal ${stop.value}`, fuel, ms, stderr)
    }
  }
}
