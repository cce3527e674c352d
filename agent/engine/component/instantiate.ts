/**
 * Loading jco's generated JS and linking it against our host.
 *
 * The JS (sync instantiation mode) is one ES module that exports
 * `instantiate(getCoreModule, imports, instantiateCore)`; all its state lives inside that
 * function, so each call makes an independent component instance. We load it from memory
 * with `new Function`, after turning its two `export` declarations into plain ones:
 * no temp file, no `data:` URL import (the ESM loader never forgets a module, so every
 * component ever loaded would stay in memory; a Function is collected with its cache
 * entry). The code is jco's, not the component author's: names that reach it are WIT
 * identifiers (kebab-case), which cannot carry JS. It still runs with this realm's
 * globals, which is why it belongs in the executor process, not the agent's.
 */
import { ErrorCode, JobError } from '../../../protocol/errors.ts'
import { WasiP2Host } from './wasi-p2-host.ts'
import type { HostInterfaces } from './wasi-p2-host.ts'

/** Instantiates one core module (jco calls it once per core instance, in order). */
export type InstantiateCore = (module: WebAssembly.Module, imports?: WebAssembly.Imports) => WebAssembly.Instance

export type GetCoreModule = (name: string) => WebAssembly.Module

/** The generated `instantiate`: returns the component's exports. */
export type InstantiateFn = (
  getCoreModule: GetCoreModule,
  imports: Record<string, unknown>,
  instantiateCore: InstantiateCore,
) => Record<string, unknown>

export const defaultInstantiateCore: InstantiateCore = (module, imports) => new WebAssembly.Instance(module, imports)

/** The component imports something our host lacks (found when the JS takes it from `imports`): `link_error`. */
export class ComponentLinkError extends JobError {
  override name = 'ComponentLinkError'
  constructor(message: string) {
    super(ErrorCode.linkError, message)
  }
}

/** Defines what the rewrites below call instead (one line: keeps line numbers in traces close). */
const PRELUDE =
  "const __fogmeshPromising = typeof WebAssembly.promising === 'function' ? WebAssembly.promising : (f) => f; " +
  'const __fogmeshJcoDebug = globalThis?.process?.env?.JCO_DEBUG;'

/**
 * Makes the JS into a function. Throws `internal` if jco's output does not have the shape
 * this code knows (a jco upgrade that changed it: the tests catch that).
 */
export function compileInstantiate(js: string): InstantiateFn {
  let body = js
  let exported = 0
  body = body.replace(/^export function instantiate\(/m, () => {
    exported++
    return 'function instantiate('
  })
  body = body.replace(/^export const _util = /m, 'const _util = ')
  // only the fallback loader (used when no getCoreModule is given, never here) reads import.meta
  body = body.replaceAll('import.meta.url', 'undefined')
  // `try { x = WebAssembly.promising(f) } catch { x = f }`: without JSPI (Node 20) that throws
  // a TypeError inside a 9,000-line generator, and the stack trace alone costs ~1.3 ms per
  // instantiation. The same result without the throw:
  body = body.replaceAll('WebAssembly.promising(', '__fogmeshPromising(')
  // jco's debug log reads process.env on every call of every trampoline: read it once
  body = body.replaceAll('globalThis?.process?.env?.JCO_DEBUG', '__fogmeshJcoDebug')
  if (exported !== 1 || /^\s*(export|import)\s/m.test(body)) {
    throw new JobError(ErrorCode.internal, 'unexpected shape of the JS jco generated (is its version the supported one?)')
  }
  try {
    return new Function(`"use strict";\n${PRELUDE}\n${body}\nreturn instantiate;`)() as InstantiateFn
  } catch (err) {
    throw new JobError(ErrorCode.internal, 'cannot load the JS jco generated', { cause: err })
  }
}

function versionless(name: string): string {
  const at = name.indexOf('@')
  return at === -1 ? name : name.slice(0, at)
}

/**
 * The `imports` argument for `instantiate`: our interfaces, behind proxies that throw a
 * ComponentLinkError naming what is missing (jco's own check would log to the console
 * and throw a generic Error). Interface keys are looked up without their version.
 */
export function linkImports(interfaces: HostInterfaces): Record<string, unknown> {
  const members = new Map<string, Record<string, unknown>>()
  for (const [iface, functions] of Object.entries(interfaces)) {
    members.set(
      iface,
      new Proxy(functions, {
        get(target, prop) {
          if (typeof prop === 'string' && !Object.hasOwn(target, prop)) {
            throw new ComponentLinkError(`component imports ${iface}#${prop}, which the job host does not provide`)
          }
          return Reflect.get(target, prop)
        },
      }),
    )
  }
  return new Proxy(Object.create(null) as Record<string, unknown>, {
    get(_target, prop) {
      if (typeof prop !== 'string') return undefined
      const iface = members.get(versionless(prop))
      if (iface === undefined) throw new ComponentLinkError(`component imports ${prop}, which the job host does not provide`)
      return iface
    },
  })
}

/** Stops a dry run at the first core instantiation: linking went through. */
const DRY_RUN_DONE = Symbol('dry run done')

/**
 * Runs `instantiate` up to its first core instantiation against a host of the same
 * shape as the runner's: every import the JS takes is then known to exist. No guest code
 * runs. Throws `link_error`.
 */
export function dryLink(
  instantiate: InstantiateFn,
  component: { cores: Array<[string, WebAssembly.Module]> },
  interfaces: HostInterfaces = shapeOnly(),
): void {
  const cores = new Map(component.cores)
  try {
    instantiate(
      (name) => {
        const module = cores.get(name)
        if (module === undefined) throw new ComponentLinkError(`the generated JS asks for a missing core module ${name}`)
        return module
      },
      linkImports(interfaces),
      () => {
        throw DRY_RUN_DONE
      },
    )
  } catch (err) {
    if (err === DRY_RUN_DONE) return
    if (err instanceof ComponentLinkError) throw err
    const message = err instanceof Error ? err.message : String(err)
    throw new JobError(ErrorCode.linkError, `component does not link: ${message.split('\n', 1)[0]}`, { cause: err })
  }
  throw new JobError(ErrorCode.internal, 'the generated JS instantiated no core module')
}

let shape: HostInterfaces | undefined

/** Interfaces with the host's names (values are never called in a dry run). */
function shapeOnly(): HostInterfaces {
  shape ??= hostShape()
  return shape
}

function hostShape(): HostInterfaces {
  return new WasiP2Host().interfaces
}
