// What the two install-time AssemblyScript builds share (build-modules.js: WASI commands,
// build-components.js: components): finding inputs, up-to-date checks,
// reporting, and loading the AssemblyScript compiler.
import { createHash } from 'node:crypto'
import { existsSync, readdirSync, statSync } from 'node:fs'
import { join } from 'node:path'

export function listFilesRecursive(dir, out = []) {
  if (!existsSync(dir)) return out
  for (const name of readdirSync(dir)) {
    const path = join(dir, name)
    if (statSync(path).isDirectory()) listFilesRecursive(path, out)
    else out.push(path)
  }
  return out
}

export function newestMtime(paths) {
  let newest = 0
  for (const p of paths) newest = Math.max(newest, statSync(p).mtimeMs)
  return newest
}

export const sha256 = (bytes) => createHash('sha256').update(bytes).digest('hex')

export function report(name, bytes, note) {
  console.log(`wasm-modules: ${`${name}.wasm`.padEnd(20)} ${String(bytes.length).padStart(7)} bytes  sha256 ${sha256(bytes)}  ${note}`)
}

/** A `die(message)` that prints one line under `prefix` and exits 1. */
export function dieWith(prefix) {
  return (message) => {
    console.error(`${prefix}: ${message}`)
    process.exit(1)
  }
}

export async function loadCompiler(die) {
  try {
    const mod = await import('assemblyscript/asc')
    return mod.default ?? mod
  } catch (err) {
    die(`cannot load the AssemblyScript compiler (assemblyscript/asc): ${err.message}\n` +
      '  It is a dependency of this package: run `npm install` first.')
  }
}
