/**
 * Runs a WASI preview1 command module under Node's own WASI host (node:wasi), with temp
 * files as stdin/stdout/stderr. Used by the modules' known-answer tests as an independent
 * reference host (the mesh's own host lives in agent/engine).
 */
import { execFileSync } from 'node:child_process'
import { accessSync, closeSync, constants, mkdtempSync, openSync, readFileSync, rmSync, statSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'
import { WASI } from 'node:wasi'
import { loadModule, type JobModuleName } from './index.ts'

export interface NodeWasiRun {
  /** The exit code: proc_exit's argument, or 0 when _start returned. */
  exitCode: number
  stdout: Buffer
  stderr: Buffer
  /** How many times the module called each wasi_snapshot_preview1 function. */
  calls: Record<string, number>
  /** The size of the module's exported memory when it finished, in bytes. */
  memoryBytes: number
}

type WasiFunctions = Record<string, (...args: unknown[]) => unknown>

/**
 * Where a run's stdin/stdout/stderr files go: memory (/dev/shm, a tmpfs) when there is one,
 * else the system temp dir. A module's known-answer test makes ~1,000 runs, each a directory
 * and three files created and removed; on a disk file system each of those is a journal
 * transaction, and while other processes fsync (tests, benches) they wait for its commits —
 * measured under load: rmdir 1.7 ms on average and up to 0.3 s, the sha256 test 30 s for
 * 2 s of CPU (once past its 180 s file timeout in CI). On tmpfs there is no journal to wait for.
 */
function scratchBase(): string {
  try {
    if (statSync('/dev/shm').isDirectory()) {
      accessSync('/dev/shm', constants.W_OK)
      return '/dev/shm'
    }
  } catch {
    // no tmpfs at the usual place: the temp dir
  }
  return tmpdir()
}

let base: string | undefined

/** Runs `module` with `stdin` as its whole standard input (EOF after it). */
export async function runWithNodeWasi(
  module: WebAssembly.Module | Uint8Array,
  stdin: string | Uint8Array,
): Promise<NodeWasiRun> {
  // Compiled and instantiated synchronously, on purpose: awaiting WebAssembly.compile or
  // .instantiate leaves the event loop of a test process with nothing alive until V8's task
  // resolves it, and each time node then waits in NodePlatform::DrainTasks for V8's background
  // tasks — which deadlocks when one of them (a concurrent JIT compile) waits for a GC that only
  // the blocked main thread can run (nodejs/node#54918, V8 issue 13902). Seen under load in the
  // sha256 test (~1,000 runs): hung in DrainTasks / CollectionBarrier::AwaitCollectionBackground
  // until the runner killed it at 180 s.
  const compiled = module instanceof WebAssembly.Module ? module : new WebAssembly.Module(module)
  const dir = mkdtempSync(join((base ??= scratchBase()), 'fogmesh-wasi-'))
  const fds: number[] = []
  try {
    writeFileSync(join(dir, 'stdin'), stdin)
    const stdinFd = openSync(join(dir, 'stdin'), 'r')
    fds.push(stdinFd)
    const stdoutFd = openSync(join(dir, 'stdout'), 'w')
    fds.push(stdoutFd)
    const stderrFd = openSync(join(dir, 'stderr'), 'w')
    fds.push(stderrFd)
    const wasi = new WASI({
      version: 'preview1',
      args: [],
      env: {},
      stdin: stdinFd,
      stdout: stdoutFd,
      stderr: stderrFd,
      returnOnExit: true,
    })
    const imports = wasi.getImportObject() as { wasi_snapshot_preview1: WasiFunctions }
    const calls: Record<string, number> = {}
    const counted: WasiFunctions = {}
    for (const [name, fn] of Object.entries(imports.wasi_snapshot_preview1)) {
      counted[name] = (...args: unknown[]) => {
        calls[name] = (calls[name] ?? 0) + 1
        return fn(...args)
      }
    }
    const instance = new WebAssembly.Instance(compiled, {
      wasi_snapshot_preview1: counted as WebAssembly.ModuleImports,
    })
    const exitCode = wasi.start(instance)
    const memory = instance.exports['memory']
    const memoryBytes = memory instanceof WebAssembly.Memory ? memory.buffer.byteLength : 0
    for (const fd of fds.splice(0)) closeSync(fd)
    return {
      exitCode,
      stdout: readFileSync(join(dir, 'stdout')),
      stderr: readFileSync(join(dir, 'stderr')),
      calls,
      memoryBytes,
    }
  } finally {
    for (const fd of fds) closeSync(fd)
    rmSync(dir, { recursive: true, force: true })
  }
}

/**
 * The module a known-answer test is about: built from its sources first
 * (`bin/build-modules.js NAME` does nothing when it is up to date), then
 * compiled once and run under node:wasi as often as the test likes.
 *
 *   const mod = new ModuleUnderTest('zscore')
 *   test.before(() => mod.build())
 */
export class ModuleUnderTest {
  bytes: Uint8Array = new Uint8Array(0)
  private wasm: WebAssembly.Module | null = null

  constructor(readonly name: JobModuleName) {}

  async build(): Promise<void> {
    const root = fileURLToPath(new URL('..', import.meta.url))
    execFileSync(process.execPath, ['bin/build-modules.js', this.name], { cwd: root, stdio: 'pipe' })
    this.bytes = await loadModule(this.name)
    this.wasm = new WebAssembly.Module(this.bytes) // synchronously: see runWithNodeWasi
  }

  /** The compiled module (for ABI checks: its imports and exports). */
  get module(): WebAssembly.Module {
    if (!this.wasm) throw new Error(`${this.name}: build() first`)
    return this.wasm
  }

  run(input: string | Uint8Array): Promise<NodeWasiRun> {
    return runWithNodeWasi(this.module, input)
  }
}
