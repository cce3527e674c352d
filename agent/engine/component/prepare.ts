/**
 * Turns a component's bytes into what a runner needs, once per sha256: jco transpiles it
 * (instantiation mode, so we supply every import and every core module: no file system,
 * no network), we check what it imports and exports, and compile its core modules.
 *
 * The result, a `PreparedComponent`, is plain data plus compiled `WebAssembly.Module`s,
 * so it can be structured-cloned to worker threads (or sent to an executor process as
 * bytes): transpile in one place, run anywhere.
 *
 * Limits: every core module (the component's own module(s), the preview1 adapter, jco's
 * small shim modules) is metered by agent/engine/instrument/meter.ts in its component-core
 * mode before it is compiled: the same cost model as a preview1 job, one shared fuel
 * counter imported by all of them (`fogmesh.fuel`), and the one core module that defines
 * the memory importing it from the host (`fogmesh.memory`), which the runner creates per
 * job under the job's cap. What the runner must know about each core goes with the
 * compiled modules (`PreparedComponent.metering`). `meter: false` skips all that (fuel 0,
 * no cap: for comparisons). `rewriteCore` sees each core module's original bytes first.
 */
import { createHash } from 'node:crypto'
import { ErrorCode, JobError } from '../../../protocol/errors.ts'
import { METERING_VERSION } from '../instrument/costs.ts'
import { prepareModule } from '../instrument/meter.ts'
import type { MemoryLimits } from '../instrument/meter.ts'
import { isComponent } from './header.ts'
import { loadJco } from './jco.ts'
import { compileInstantiate, dryLink } from './instantiate.ts'
import { PROVIDED_INTERFACES } from './wasi-p2-host.ts'

/** What a component needs to run as a job, found out once when it is loaded. */
export interface ComponentInfo {
  sha256: string
  /**
   * `component-job`: exports `run: func(input: list<u8>) -> result<list<u8>, string>`
   * (world fogmesh:job/job, wasm-modules/wit/job.wit).
   * `component-command`: a WASI command, exports `wasi:cli/run@0.2.x`.
   */
  kind: 'component-job' | 'component-command'
  /** Interfaces it imports, with their versions (`wasi:cli/stdin@0.2.12`). */
  imports: string[]
}

export interface PreparedComponent {
  info: ComponentInfo
  /** jco's generated JS (sync instantiation mode); see instantiate.ts. */
  js: string
  /** The export to call: `run` (job world) or `wasi:cli/run@0.2.x` (command). */
  entry: string
  /** Compiled core modules, by the file name the JS asks `getCoreModule` for. */
  cores: Array<[string, WebAssembly.Module]>
  /** How the core modules were metered; absent when prepared with `meter: false` (fuel 0, no memory cap). */
  metering?: ComponentMetering
}

/** What the runner must know about one metered core module. */
export interface MeteredCore {
  /**
   * `host`: it defines the component's memory, now imported as `fogmesh.memory` (created
   * per job under the cap); `module`: it imports a memory from another core (jco's preview1
   * adapter); `none`: it has no memory (jco's shims).
   */
  memoryFrom: 'host' | 'module' | 'none'
  /** The declared limits of its memory (0 pages for `none`). */
  memory: MemoryLimits
  /** Its wasm start function is exported as `fogmesh_start`: call it right after instantiating. */
  start: boolean
}

export interface ComponentMetering {
  /** The cost model of the fuel counts (instrument/costs.ts). */
  version: number
  /** Per core module, in the order of `cores`. */
  cores: Array<[string, MeteredCore]>
}

/** Rewrites one core module before it is compiled (e.g. memory caps and fuel metering). */
export type CoreRewriter = (bytes: Uint8Array, core: { sha256: string; name: string }) => Uint8Array

export interface ComponentPrepareOptions {
  /** Sees (and may replace) each core module's original bytes before it is metered and compiled. */
  rewriteCore?: CoreRewriter
  /**
   * Meter the core modules and put the memory under the host's cap (default true). `false`:
   * compiled as they are; runs report fuel 0 and ignore `fuel` and `memoryMiB`.
   */
  meter?: boolean
}

/** What jco produced for one component: kept per sha256, so a component is transpiled once per process. */
interface Transpiled {
  info: ComponentInfo
  js: string
  entry: string
  cores: Array<[string, Uint8Array]>
}

const transpiled = new Map<string, Promise<Transpiled>>()
let transpiles = 0

/** Options that make jco's output a pure function of the component's bytes. */
const TRANSPILE_OPTIONS = {
  name: 'component',
  instantiation: 'sync',
  emitTypescriptDeclarations: false,
  base64Cutoff: 0,
  tracing: false,
  minify: false,
  optimize: false,
} as const

/** The job world's export, exactly (the parameter may have any name). */
const JOB_RUN = /^\s*export run: func\(\s*[a-z][a-z0-9-]*: list<u8>\s*\) -> result<list<u8>, string>;\s*$/
const COMMAND_RUN = /^wasi:cli\/run@0\.2\.\d+$/
/** A WASI 0.2 interface import: `wasi:cli/stdin@0.2.12`. */
const VERSIONED = /^(wasi:[a-z-]+\/[a-z-]+)@0\.2\.\d+$/

const MESSAGE_MAX = 120

function short(message: string): string {
  const line = message.split('\n', 1)[0] ?? ''
  return line.length > MESSAGE_MAX ? `${line.slice(0, MESSAGE_MAX - 3)}...` : line
}

/** Names from the component itself: keep them short in messages. */
function shown(name: string): string {
  return name.length > 64 ? `${name.slice(0, 61)}...` : name
}

/**
 * The imports and the export lines of the component's world, from the WIT that
 * wasm-tools prints for it (`import wasi:cli/stdin@0.2.12;`, `import foo: func(...);`).
 */
export function worldOf(wit: string): { imports: string[]; exports: string[] } {
  const imports: string[] = []
  const exports: string[] = []
  let inWorld = false
  for (const line of wit.split('\n')) {
    if (!inWorld) {
      inWorld = /^world \S+ \{$/.test(line)
      continue
    }
    if (line === '}') break
    const imp = /^\s*import\s+(\S+?)(?:;|:\s)/.exec(line)
    if (imp?.[1] !== undefined) imports.push(imp[1])
    else if (/^\s*export\s/.test(line)) exports.push(line)
  }
  return { imports, exports }
}

/** Throws `link_error` for an import outside the host's WASI surface; returns the sorted imports. */
function checkImports(imports: string[]): string[] {
  const provided = new Set(PROVIDED_INTERFACES)
  for (const name of imports) {
    const m = VERSIONED.exec(name)
    if (m === null || !provided.has(m[1] ?? '')) {
      throw new JobError(ErrorCode.linkError, `component imports ${shown(name)}, which the job host does not provide`)
    }
  }
  return [...imports].sort()
}

async function transpile(sha256: string, bytes: Uint8Array): Promise<Transpiled> {
  const jco = await loadJco()
  transpiles++
  let result: Awaited<ReturnType<typeof jco.transpile>>
  let wit: string
  try {
    // jco may keep a reference: give it a copy it can own
    result = await jco.transpile(bytes.slice(), { ...TRANSPILE_OPTIONS })
    wit = await jco.componentWit(bytes.slice())
  } catch (err) {
    const message = err instanceof Error ? err.message : String(err)
    throw new JobError(ErrorCode.invalidModule, `not a valid component: ${short(message)}`, { cause: err })
  }
  const world = worldOf(wit)
  const imports = checkImports(world.imports)

  let kind: ComponentInfo['kind']
  let entry: string
  const commandExport = result.exports.find(([name, sort]) => sort === 'instance' && COMMAND_RUN.test(name))
  if (result.exports.some(([name, sort]) => name === 'run' && sort === 'function')) {
    if (!world.exports.some((line) => JOB_RUN.test(line))) {
      throw new JobError(
        ErrorCode.notACommand,
        'component exports run, but not as func(input: list<u8>) -> result<list<u8>, string>',
      )
    }
    kind = 'component-job'
    entry = 'run'
  } else if (commandExport !== undefined) {
    kind = 'component-command'
    entry = commandExport[0]
  } else {
    throw new JobError(ErrorCode.notACommand, 'component exports neither run (world fogmesh:job/job) nor wasi:cli/run@0.2')
  }

  const js = new TextDecoder().decode(result.files['component.js'] ?? new Uint8Array(0))
  const cores: Array<[string, Uint8Array]> = []
  for (const [name, file] of Object.entries(result.files)) {
    if (name.endsWith('.wasm')) cores.push([name, file])
  }
  cores.sort(([a], [b]) => (a < b ? -1 : a > b ? 1 : 0))
  return { info: { sha256, kind, imports }, js, entry, cores }
}

/**
 * Checks and transpiles a component (cached per sha256 for the life of the process), then
 * compiles its core modules through `rewriteCore`. Throws a JobError: `invalid_module` (not
 * a component, or a broken one), `module_hash_mismatch`, `link_error` (imports outside the
 * host's surface) or `not_a_command` (no job-world `run` and no `wasi:cli/run`).
 */
export async function prepareComponent(
  sha256: string,
  bytes: Uint8Array,
  options: ComponentPrepareOptions = {},
): Promise<PreparedComponent> {
  if (!isComponent(bytes)) throw new JobError(ErrorCode.invalidModule, 'not a WebAssembly component')
  let pending = transpiled.get(sha256)
  if (pending === undefined) {
    // the cache is keyed by the hash: it must be the hash of these bytes
    if (createHash('sha256').update(bytes).digest('hex') !== sha256) {
      throw new JobError(ErrorCode.moduleHashMismatch, 'component bytes do not match their sha256')
    }
    pending = transpile(sha256, bytes)
    transpiled.set(sha256, pending)
    // a failure is not cached: the same bytes fail the same way, but a missing jco may get installed
    pending.catch(() => transpiled.delete(sha256))
  }
  const t = await pending

  const meter = options.meter !== false
  const cores: Array<[string, WebAssembly.Module]> = []
  const metered: Array<[string, MeteredCore]> = []
  for (const [name, original] of t.cores) {
    let bytes = options.rewriteCore ? options.rewriteCore(original.slice(), { sha256, name }) : original
    if (meter) {
      const p = meterCore(name, bytes)
      bytes = p.bytes
      metered.push([name, { memoryFrom: p.memoryFrom, memory: p.memory, start: p.start }])
    }
    try {
      cores.push([name, new WebAssembly.Module(bytes)])
    } catch (err) {
      const message = err instanceof Error ? err.message : String(err)
      throw new JobError(ErrorCode.invalidModule, `core module ${name}${meter ? ' (metered)' : ''}: ${short(message)}`, { cause: err })
    }
  }
  const prepared: PreparedComponent = { info: { ...t.info, imports: [...t.info.imports] }, js: t.js, entry: t.entry, cores }
  if (meter) {
    const defining = metered.filter(([, core]) => core.memoryFrom === 'host')
    if (defining.length > 1) {
      // the cap is per job: two memories would each get it
      throw new JobError(
        ErrorCode.invalidModule,
        `component has ${defining.length} core modules that define a memory; the job host caps one`,
      )
    }
    prepared.metering = { version: METERING_VERSION, cores: metered }
  }
  // every function the JS takes from our host exists (names within an interface are not in the WIT check)
  dryLink(compileInstantiate(prepared.js), prepared)
  return prepared
}

/** One core module through the meter (component-core mode); its refusals name the core module. */
function meterCore(name: string, bytes: Uint8Array): ReturnType<typeof prepareModule> {
  try {
    return prepareModule(bytes, { componentCore: true })
  } catch (err) {
    if (err instanceof JobError) throw new JobError(err.code, short(`core module ${name}: ${err.shortMessage}`), { cause: err })
    throw err
  }
}

/** Drops a component's transpiled form from the process-wide cache. */
export function forgetComponent(sha256: string): void {
  transpiled.delete(sha256)
}

/** How many components this process has transpiled (for tests and stats). */
export function transpileCount(): number {
  return transpiles
}

/** Whether a component's transpiled form is cached (for tests and stats). */
export function isTranspiled(sha256: string): boolean {
  return transpiled.has(sha256)
}
