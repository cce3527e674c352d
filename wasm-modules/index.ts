/**
 * fogmesh's own WASI job modules, built from source by `npm install` (postinstall) or
 * `npm run build:modules` into wasm-modules/dist/<name>.wasm. See wasm-modules/README.md
 * for the job ABI (WASI preview1 command: stdin -> stdout, exit code).
 */
import { readFile } from 'node:fs/promises'
import { join } from 'node:path'
import { fileURLToPath } from 'node:url'

/** The modules this package builds. */
export const JOB_MODULES = ['rolling-stats', 'echo', 'zscore', 'aqi', 'downsample', 'sha256', 'capacity'] as const

/** Name of one of the built-in job modules. */
export type JobModuleName = (typeof JOB_MODULES)[number]

const distDir = fileURLToPath(new URL('./dist/', import.meta.url))

export function isJobModuleName(name: string): name is JobModuleName {
  return (JOB_MODULES as readonly string[]).includes(name)
}

/** Absolute path of the built .wasm of a job module (it may not exist yet). */
export function modulePath(name: JobModuleName): string {
  // a runtime check too: a name from outside TypeScript must not walk out of dist/
  if (!isJobModuleName(name)) {
    throw new Error(`unknown WASM job module "${String(name)}" (known: ${JOB_MODULES.join(', ')})`)
  }
  return join(distDir, `${name}.wasm`)
}

/** The bytes of a built job module; throws a clear error when it has not been built. */
export async function loadModule(name: JobModuleName): Promise<Uint8Array> {
  const path = modulePath(name)
  let bytes: Buffer
  try {
    bytes = await readFile(path)
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') {
      throw new Error(`WASM job module "${name}" is not built (${path} is missing): run \`npm run build:modules\``)
    }
    throw err
  }
  return new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)
}
