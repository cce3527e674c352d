/**
 * One metered run of a component: the fuel counter all its core instances share, the
 * memory the host creates under the cap, and the checks that the component lays its core
 * instances out the way it was metered (one memory-defining instance, which gets that
 * memory; every other core that imports a memory gets the same one).
 *
 * What the runner must know about each metered core comes with the prepared component
 * (`PreparedComponent.metering`, prepare.ts); `meteredCores` turns it into a lookup by
 * compiled module, once per component.
 */
import { ErrorCode, JobError } from '../../../protocol/errors.ts'
import { START_EXPORT } from '../instrument/meter.ts'
import type { MemoryLimits } from '../instrument/meter.ts'
import type { Fault } from '../runner/faults.ts'
import { cappedMemory, chargeBytes } from '../runner/run-budget.ts'
import type { InstantiateCore } from './instantiate.ts'
import type { MeteredCore, PreparedComponent } from './prepare.ts'

/** A metered core module, as the runner instantiates it. */
export interface CoreMeta extends MeteredCore {
  /** For `memoryFrom: 'module'`: where its import of the memory is ([module, name]). */
  memoryImport: [string, string] | null
}

export interface MeteredCores {
  cores: Map<WebAssembly.Module, CoreMeta>
  /** The limits of the memory the host creates per run (that of the core that defines it), if any. */
  memory: MemoryLimits | null
}

/** A run whose component is laid out against the cap (a second memory-defining instance, a memory from elsewhere): `invalid_module`. */
export class CoreLayoutError extends JobError {
  override name = 'CoreLayoutError'
  constructor(message: string) {
    super(ErrorCode.invalidModule, message)
  }
}

/** The metered cores of a prepared component by compiled module; null when it was prepared with `meter: false`. */
export function meteredCores(prepared: PreparedComponent, cores: Map<string, WebAssembly.Module>): MeteredCores | null {
  if (prepared.metering === undefined) return null
  const metered = new Map<WebAssembly.Module, CoreMeta>()
  let memory: MemoryLimits | null = null
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
  return { cores: metered, memory }
}

/** What a metered run tells the host through `fogmesh`. */
export interface RunSignals {
  outOfFuel: () => void
  growFailed: () => void
}

export class MeteredRun {
  /** The one counter of the run, set to the budget before the first core instance exists. */
  readonly fuel: WebAssembly.Global
  fuelOut = false
  growFailed = false
  /** The `fogmesh` import object of this run. */
  private readonly imports: Readonly<Record<string, unknown>>
  /** The memory was given to its defining core's instance (once per run). */
  private memoryGiven = false

  private constructor(
    private readonly layout: MeteredCores,
    private readonly memory: WebAssembly.Memory | null,
    budget: number,
    signals: RunSignals,
  ) {
    this.fuel = new WebAssembly.Global({ value: 'i64', mutable: true }, BigInt(budget))
    this.imports = Object.freeze({
      fuel: this.fuel,
      memory: memory ?? undefined,
      out_of_fuel: signals.outOfFuel,
      grow_failed: signals.growFailed,
    })
  }

  /** A run's fuel and memory, or `memory_limit` when the component's memory cannot start under the cap. */
  static begin(layout: MeteredCores, budget: number, capPages: number, signals: RunSignals): MeteredRun | Fault {
    let memory: WebAssembly.Memory | null = null
    if (layout.memory !== null) {
      const capped = cappedMemory(layout.memory, capPages)
      if (!(capped instanceof WebAssembly.Memory)) return capped
      memory = capped
    }
    return new MeteredRun(layout, memory, budget, signals)
  }

  /** Charges bytes the host moved for the job (a transfer, a job-world input or result). */
  charge(bytes: number): void {
    chargeBytes(this.fuel, bytes)
  }

  /** Instantiates one core module of the run: its `fogmesh` imports, then its start function. */
  instantiate(module: WebAssembly.Module, imports: WebAssembly.Imports | undefined, instantiateCore: InstantiateCore): WebAssembly.Instance {
    const core = this.layout.cores.get(module)
    if (core === undefined) throw new CoreLayoutError('component instantiates a core module the job host did not meter')
    if (core.memoryFrom === 'host') {
      // the cap is per job: a second instance of the memory's module would get a second memory
      if (this.memoryGiven) throw new CoreLayoutError('component instantiates its memory-defining core module twice; the job host caps one memory')
      this.memoryGiven = true
    } else if (core.memoryFrom === 'module' && core.memoryImport !== null) {
      // jco wires the defining core's exported memory here: it must be the capped one
      const [mod, name] = core.memoryImport
      const given = (imports?.[mod] as Record<string, unknown> | undefined)?.[name]
      if (this.memory === null || given !== this.memory) throw new CoreLayoutError('a core module imports a memory the job host does not cap')
    }
    const instance = instantiateCore(module, { ...imports, fogmesh: this.imports as WebAssembly.ModuleImports })
    if (core.start) {
      // the wasm start function, moved out of instantiation so that it is metered too
      const start = instance.exports[START_EXPORT]
      if (typeof start !== 'function') throw new JobError(ErrorCode.linkError, 'metered core module lost its start function')
      ;(start as () => void)()
    }
    return instance
  }
}
