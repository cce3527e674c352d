/**
 * The C programs of the metering and native benchmarks, built at bench time
 * (no committed binaries) with Debian's clang: for WASI
 * (`clang --target=wasm32-wasi -O2 -s`, wasi-libc) and natively (`clang -O2`).
 * Builds are cached in $TMPDIR/fogmesh-bench-c/ under a hash of the source,
 * the flags and the compiler version, so a second run builds nothing.
 *
 * Debian/Ubuntu: apt-get install clang lld wasi-libc libclang-rt-dev-wasm32
 */
import { execFileSync } from 'node:child_process'
import { createHash } from 'node:crypto'
import { existsSync, mkdirSync, readFileSync, renameSync, writeFileSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The suite: a hash loop, two float kernels, three sorts, an interpreter. */
export const C_PROGRAMS = ['sha256', 'nbody', 'mandelbrot', 'sort', 'vm'] as const
export type CProgram = (typeof C_PROGRAMS)[number]
/** C job modules the mesh benches run beside their AssemblyScript twins (echo.c = wasm-modules/echo). */
export const C_JOBS = ['echo'] as const
export type CJob = (typeof C_JOBS)[number]

const HERE = fileURLToPath(new URL('.', import.meta.url))
const CC = process.env.CC ?? 'clang'
const CACHE = join(tmpdir(), 'fogmesh-bench-c')

let version: string | null | undefined

/** The compiler's version line, or null when there is no clang (or no wasi-libc). */
export function toolchain(): string | null {
  if (version !== undefined) return version
  try {
    version = execFileSync(CC, ['--version'], { encoding: 'utf8' }).split('\n')[0] ?? ''
    // the WASI sysroot is what is most often missing: try a one-line program
    const probe = build('probe', '#include <stdio.h>\nint main(void){puts("ok");return 0;}\n', 'wasm')
    if (!existsSync(probe)) version = null
  } catch {
    version = null
  }
  return version
}

function build(name: string, source: string, target: 'wasm' | 'native'): string {
  const flags = target === 'wasm' ? ['--target=wasm32-wasi', '-O2', '-s'] : ['-O2']
  const key = createHash('sha256')
    .update(source)
    .update(flags.join(' '))
    .update(version ?? '')
    .digest('hex')
    .slice(0, 16)
  const out = join(CACHE, `${name}-${key}${target === 'wasm' ? '.wasm' : ''}`)
  if (existsSync(out)) return out
  mkdirSync(CACHE, { recursive: true })
  const tmp = `${out}.${process.pid}.tmp`
  const src = join(CACHE, `${name}-${key}.c`)
  writeFileSync(src, source)
  execFileSync(CC, [...flags, '-o', tmp, src, ...(target === 'native' ? ['-lm'] : [])], { stdio: ['ignore', 'ignore', 'pipe'] })
  renameSync(tmp, out) // atomic: a concurrent run never sees half a binary
  return out
}

function source(name: CProgram | CJob): string {
  return readFileSync(join(HERE, `${name}.c`), 'utf8')
}

/** Path of the WASI build of `name`. Throws if the toolchain is missing. */
export function wasmPath(name: CProgram | CJob): string {
  return build(name, source(name), 'wasm')
}

/** Path of the native build of `name`. */
export function nativePath(name: CProgram): string {
  return build(name, source(name), 'native')
}
