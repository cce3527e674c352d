/**
 * Runs a WASI preview1 command module under Node's own WASI host (node:wasi), with temp
 * files as stdin/stdout/stderr. Used by the modules' known-answer tests as an independent
 * reference host (the mesh's own host lives in agent/engine).
 */
import { execFileSync } from 'node:child_process'
import { closeSync, mkdtempSync, openSync, readFileSync, rmSync, writeFileSync } from 'node:fs'
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

/** Runs `module` with `stdin` as its whole standard input (EOF after it). */
export async function runWithNodeWasi(
  module: WebAssembly.Module | Uint8Array,
  stdin: string | Uint8Array,
): Promise<NodeWasiRun> {
  const compiled = module instanceof WebAssembly.Module ? module : await WebAssembly.compile(module)
  const dir = mkdtempSync(join(tmpdir(), 'fogmesh-wasi-'))
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
    const instance = await WebAssembly.instantiate(compiled, {
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
    this.wasm = await WebAssembly.compile(this.bytes)
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
