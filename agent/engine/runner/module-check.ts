/**
 * Decides, once per module, whether a compiled module can run as a job: a WASI
 * preview1 command that exports `_start` and its memory, and imports nothing
 * but functions the WASI host provides.
 *
 * It looks at the module as its author built it, before the job host rewrites
 * it (../instrument/meter.ts): so the `fogmesh` import namespace and `fogmesh_`
 * export names, which the rewrite adds, are refused here when a module brings
 * its own.
 */
import { ErrorCode, JobError } from '../../../protocol/errors.ts'
import type { ModuleInfo } from '../executor.ts'
import { WASI_MODULE, WASI_PREVIEW1_FUNCTIONS } from '../wasi/abi.ts'

/** What the job host itself links into a prepared module; a module may not import from it or export under it. */
const HOST_NAMESPACE = 'fogmesh'
const RESERVED_EXPORT_PREFIX = 'fogmesh_'

const PROVIDED: ReadonlySet<string> = new Set(WASI_PREVIEW1_FUNCTIONS)

/** Import and export names come from untrusted modules: keep them short in messages. */
function shown(name: string): string {
  return name.length > 64 ? `${name.slice(0, 61)}...` : name
}

/** Throws JobError `not_a_command` or `link_error`; returns what the module needs otherwise. */
export function checkModule(sha256: string, module: WebAssembly.Module): ModuleInfo {
  let hasStart = false
  let hasMemory = false
  for (const e of WebAssembly.Module.exports(module)) {
    if (e.name.startsWith(RESERVED_EXPORT_PREFIX)) {
      throw new JobError(ErrorCode.linkError, `module exports ${shown(e.name)}: names starting with ${RESERVED_EXPORT_PREFIX} are reserved`)
    }
    if (e.name === '_start' && e.kind === 'function') hasStart = true
    else if (e.name === 'memory' && e.kind === 'memory') hasMemory = true
  }
  if (!hasStart) throw new JobError(ErrorCode.notACommand, 'module does not export a _start function')
  if (!hasMemory) throw new JobError(ErrorCode.notACommand, 'module does not export its memory as "memory"')

  const imports: string[] = []
  for (const i of WebAssembly.Module.imports(module)) {
    const name = `${i.module}.${i.name}`
    if (i.module === HOST_NAMESPACE) {
      throw new JobError(ErrorCode.linkError, `module imports ${shown(name)}: the "${HOST_NAMESPACE}" namespace is reserved for the job host`)
    }
    if (i.kind !== 'function') {
      throw new JobError(ErrorCode.linkError, `module imports ${i.kind} ${shown(name)}; only WASI functions are provided`)
    }
    if (i.module !== WASI_MODULE || !PROVIDED.has(i.name)) {
      throw new JobError(ErrorCode.linkError, `module imports ${shown(name)}, which the job host does not provide`)
    }
    imports.push(name)
  }
  return { sha256, kind: 'wasi-command', imports }
}
