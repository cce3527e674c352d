#!/usr/bin/env node
// Builds fogmesh's own WebAssembly component jobs from source (meant to run after
// bin/build-modules.js in npm postinstall).
//
//   node bin/build-components.js                   build what is out of date
//   node bin/build-components.js --force           rebuild everything
//   node bin/build-components.js hello-component   only the named component(s)
//
// Every wasm-modules/<name>/core/index.ts is a core module written in AssemblyScript that
// implements the canonical ABI of the job world (wasm-modules/wit/job.wit) by hand. It is
// compiled with the AssemblyScript compiler's API, checked (no imports; exports `run`,
// `cabi_realloc` and `memory`), given the WIT world (jco's componentEmbed) and wrapped as a
// component (jco's componentNew) into wasm-modules/dist/<name>.wasm, whose world is then
// checked again. A component is skipped when its .wasm is newer than all of its inputs (its
// sources, job.wit, this script, the installed compiler and jco). Needs no network. Exit
// code 1 on any compile or ABI error.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync, rmSync } from 'node:fs'
import { dirname, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { dieWith, listFilesRecursive, loadCompiler, newestMtime, report, sha256 } from './assemblyscript-build.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const modulesDir = join(root, 'wasm-modules')
const distDir = join(modulesDir, 'dist')
const witFile = join(modulesDir, 'wit', 'job.wit')
const thisFile = fileURLToPath(import.meta.url)

/** The world every component here is built for, and its one export as wasm-tools prints it. */
const WORLD = 'job'
const RUN_EXPORT = 'export run: func(input: list<u8>) -> result<list<u8>, string>;'

const rel = (p) => relative(root, p).split(sep).join('/')

/**
 * AssemblyScript flags for a component's core module. Like the WASI jobs' (build-modules.js)
 * but: no --exportStart (nothing runs before `run` is called) and `abort` goes to the
 * component's own `componentAbort` (which traps), so the module imports nothing.
 */
export function ascFlags(entry) {
  const element = entry.replace(/\.ts$/, '')
  return [
    '--optimizeLevel', '3',
    '--shrinkLevel', '0',
    '--runtime', 'stub',
    '--use', `abort=${element}/componentAbort`,
    '--noColors',
  ]
}

/** Problems of a compiled core module ([] when it fits the job world's canonical ABI). */
export function checkCoreAbi(bytes) {
  let mod
  try {
    mod = new WebAssembly.Module(bytes)
  } catch (err) {
    return [`not a valid WebAssembly module: ${err.message}`]
  }
  const problems = []
  for (const imp of WebAssembly.Module.imports(mod)) {
    problems.push(`imports ${imp.module}.${imp.name} (${imp.kind}); a job-world component imports nothing`)
  }
  const exports = WebAssembly.Module.exports(mod)
  const has = (name, kind) => exports.some((e) => e.name === name && e.kind === kind)
  if (!has('run', 'function')) problems.push('does not export the function run')
  if (!has('cabi_realloc', 'function')) problems.push('does not export the function cabi_realloc')
  if (!has('memory', 'memory')) problems.push('does not export its memory as "memory"')
  for (const e of exports) {
    if (!['run', 'cabi_realloc', 'memory'].includes(e.name)) problems.push(`exports ${e.kind} ${e.name}, which the world does not have`)
  }
  return problems
}



function findComponents() {
  if (!existsSync(modulesDir)) return []
  return readdirSync(modulesDir)
    .filter((name) => existsSync(join(modulesDir, name, 'core', 'index.ts')))
    .sort()
}



const die = dieWith('build-components')

/** package.json of an installed package (for the up-to-date check), or null. */
function packageStamp(specifier) {
  try {
    let dir = dirname(fileURLToPath(import.meta.resolve(specifier)))
    while (!existsSync(join(dir, 'package.json')) && dirname(dir) !== dir) dir = dirname(dir)
    const stamp = join(dir, 'package.json')
    return existsSync(stamp) ? stamp : null
  } catch {
    return null
  }
}


async function loadJco() {
  try {
    return await import('@bytecodealliance/jco')
  } catch (err) {
    die(`cannot load jco (@bytecodealliance/jco): ${err.message}\n` +
      '  It is a dependency of this package: run `npm install` first.')
  }
}

async function compileCore(asc, name) {
  const entry = rel(join(modulesDir, name, 'core', 'index.ts'))
  const outName = `${name}.core.wasm`
  let binary = null
  const { error, stderr } = await asc.main([entry, '--outFile', outName, '--baseDir', root, ...ascFlags(entry)], {
    writeFile(filename, contents) {
      if (filename === outName) binary = contents
    },
  })
  if (error) die(`failed to compile ${entry}: ${error.message}\n${stderr.toString().trim()}`)
  if (!binary) die(`compiling ${entry} produced no binary`)
  return new Uint8Array(binary)
}

async function wrap(jco, name, core) {
  const witSource = readFileSync(witFile, 'utf8')
  let component
  try {
    const embedded = await jco.componentEmbed({ binary: core, witSource, world: WORLD, stringEncoding: 'utf8' })
    component = await jco.componentNew(embedded, [])
  } catch (err) {
    die(`cannot make ${name} a component of world ${WORLD}: ${err.message ?? err}`)
  }
  const wit = await jco.componentWit(component)
  const lines = wit.split('\n').map((l) => l.trim())
  const problems = []
  if (!lines.includes(RUN_EXPORT)) problems.push(`does not have \`${RUN_EXPORT}\``)
  for (const l of lines) if (/^import\s/.test(l)) problems.push(`has \`${l}\`; the job world imports nothing`)
  if (problems.length) die(`${name}.wasm is not a job-world component:\n${problems.map((p) => `  - ${p}`).join('\n')}`)
  return component
}

async function main() {
  const args = process.argv.slice(2)
  const force = args.includes('--force')
  const wanted = args.filter((a) => !a.startsWith('--'))
  const all = findComponents()
  if (all.length === 0) die(`no components found (expected ${rel(modulesDir)}/<name>/core/index.ts)`)
  for (const w of wanted) if (!all.includes(w)) die(`unknown component "${w}" (have: ${all.join(', ')})`)
  const names = wanted.length ? wanted : all

  const stamps = [packageStamp('assemblyscript/asc'), packageStamp('@bytecodealliance/jco')].filter((s) => s !== null)
  const sharedInputs = [witFile, thisFile, ...stamps]
  mkdirSync(distDir, { recursive: true })

  let asc = null
  let jco = null
  for (const name of names) {
    const out = join(distDir, `${name}.wasm`)
    const inputs = [...listFilesRecursive(join(modulesDir, name, 'core')), ...sharedInputs]
    if (!force && existsSync(out) && statSync(out).mtimeMs > newestMtime(inputs)) {
      report(name, readFileSync(out), 'up to date')
      continue
    }
    asc ??= await loadCompiler(die)
    jco ??= await loadJco()
    const started = Date.now()
    const core = await compileCore(asc, name)
    const problems = checkCoreAbi(core)
    if (problems.length) {
      rmSync(out, { force: true })
      die(`${rel(join(modulesDir, name, 'core'))} breaks the canonical ABI of world ${WORLD}:\n` +
        problems.map((p) => `  - ${p}`).join('\n'))
    }
    const bytes = await wrap(jco, name, core)
    const tmp = `${out}.${process.pid}.tmp`
    writeFileSync(tmp, bytes)
    renameSync(tmp, out)
    report(name, bytes, `built in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  }
}

// Build only when run as a script, not when imported for ascFlags / checkCoreAbi.
if (process.argv[1] && resolve(process.argv[1]) === thisFile) await main()
