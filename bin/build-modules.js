#!/usr/bin/env node
// Builds fogmesh's own WASI job modules from source (runs as npm postinstall).
//
//   node bin/build-modules.js            build what is out of date
//   node bin/build-modules.js --force    rebuild everything
//   node bin/build-modules.js echo       only the named module(s)
//
// Every wasm-modules/<name>/assembly/index.ts is compiled with the AssemblyScript compiler's
// programmatic API into wasm-modules/dist/<name>.wasm, then checked against the job ABI
// (WASI preview1 command): every import is wasi_snapshot_preview1.<a preview1 function>,
// and it exports the function `_start` and the memory `memory`. A module is skipped when its
// .wasm is newer than all of its inputs (its sources, wasm-modules/lib/assembly, this script
// and the installed compiler). Needs no network. Exit code 1 on any compile or ABI error.
import { existsSync, mkdirSync, readdirSync, readFileSync, renameSync, statSync, writeFileSync, rmSync } from 'node:fs'
import { isAbsolute, join, relative, resolve, sep } from 'node:path'
import { fileURLToPath } from 'node:url'
import { dieWith, listFilesRecursive, loadCompiler, newestMtime, report, sha256 } from './assemblyscript-build.js'

const root = fileURLToPath(new URL('..', import.meta.url))
const modulesDir = join(root, 'wasm-modules')
const distDir = join(modulesDir, 'dist')
const libDir = join(modulesDir, 'lib', 'assembly')
const thisFile = fileURLToPath(import.meta.url)

/** Paths relative to the repo root, with '/' (for messages and the entry file). */
const rel = (p) => relative(root, p).split(sep).join('/')

/**
 * AssemblyScript flags for every job. See wasm-modules/README.md for the reasoning.
 * --exportStart _start : top-level code becomes the WASI `_start` export instead of a wasm
 *                        start function that would run during instantiation
 * --runtime stub       : bump allocator that never frees, no GC: smallest and fastest for a
 *                        process that runs once and exits
 * --lib + --use        : wasm-modules/lib/assembly is importable as "wasi_job" / "f64text",
 *                        and abort/trace/seed go there instead of env.* imports
 */
export const ASC_FLAGS = [
  '--optimizeLevel', '3',
  '--shrinkLevel', '0',
  '--runtime', 'stub',
  '--exportStart', '_start',
  '--lib', libDir,
  '--use', 'abort=wasiJobAbort',
  '--use', 'trace=wasiJobTrace',
  '--use', 'seed=wasiJobSeed',
  '--noColors',
]

/** The functions of WASI preview1 (wasi_snapshot_preview1). */
const WASI_PREVIEW1 = new Set([
  'args_get', 'args_sizes_get', 'clock_res_get', 'clock_time_get', 'environ_get',
  'environ_sizes_get', 'fd_advise', 'fd_allocate', 'fd_close', 'fd_datasync', 'fd_fdstat_get',
  'fd_fdstat_set_flags', 'fd_fdstat_set_rights', 'fd_filestat_get', 'fd_filestat_set_size',
  'fd_filestat_set_times', 'fd_pread', 'fd_prestat_dir_name', 'fd_prestat_get', 'fd_pwrite',
  'fd_read', 'fd_readdir', 'fd_renumber', 'fd_seek', 'fd_sync', 'fd_tell', 'fd_write',
  'path_create_directory', 'path_filestat_get', 'path_filestat_set_times', 'path_link',
  'path_open', 'path_readlink', 'path_remove_directory', 'path_rename', 'path_symlink',
  'path_unlink_file', 'poll_oneoff', 'proc_exit', 'proc_raise', 'random_get', 'sched_yield',
  'sock_accept', 'sock_recv', 'sock_send', 'sock_shutdown',
])

/** ABI problems of a compiled job module ([] when it is a proper WASI preview1 command). */
export function checkJobAbi(bytes) {
  let mod
  try {
    mod = new WebAssembly.Module(bytes)
  } catch (err) {
    return [`not a valid WebAssembly module: ${err.message}`]
  }
  const problems = []
  for (const imp of WebAssembly.Module.imports(mod)) {
    if (imp.module !== 'wasi_snapshot_preview1') {
      problems.push(`imports ${imp.module}.${imp.name} (${imp.kind}); only wasi_snapshot_preview1.* is allowed`)
    } else if (imp.kind !== 'function' || !WASI_PREVIEW1.has(imp.name)) {
      problems.push(`imports wasi_snapshot_preview1.${imp.name} (${imp.kind}), which is not a WASI preview1 function`)
    }
  }
  const exports = WebAssembly.Module.exports(mod)
  if (!exports.some((e) => e.name === '_start' && e.kind === 'function')) problems.push('does not export the function _start')
  if (!exports.some((e) => e.name === 'memory' && e.kind === 'memory')) problems.push('does not export its memory as "memory"')
  if (exports.some((e) => e.name === '_initialize')) problems.push('exports _initialize (a WASI reactor, not a command)')
  return problems
}



function findModules() {
  if (!existsSync(modulesDir)) return []
  return readdirSync(modulesDir)
    .filter((name) => existsSync(join(modulesDir, name, 'assembly', 'index.ts')))
    .sort()
}



const die = dieWith('build-modules')


async function compile(asc, name) {
  const entry = rel(join(modulesDir, name, 'assembly', 'index.ts'))
  const outName = `${name}.wasm`
  let binary = null
  const { error, stderr } = await asc.main([entry, '--outFile', outName, '--baseDir', root, ...ASC_FLAGS], {
    writeFile(filename, contents) {
      if (filename === outName) binary = contents
    },
    // asc's default joins the --lib directory onto baseDir, which breaks absolute paths
    async listFiles(dirname, baseDir) {
      try {
        const dir = isAbsolute(dirname) ? dirname : join(baseDir, dirname)
        return readdirSync(dir).filter((f) => f.endsWith('.ts') && !f.endsWith('.d.ts'))
      } catch {
        return null
      }
    },
  })
  if (error) {
    const diagnostics = stderr.toString().trim()
    die(`failed to compile ${entry}: ${error.message}\n${diagnostics}`)
  }
  if (!binary) die(`compiling ${entry} produced no binary`)
  return Buffer.from(binary)
}

async function main() {
  const args = process.argv.slice(2)
  const force = args.includes('--force')
  const wanted = args.filter((a) => !a.startsWith('--'))
  const all = findModules()
  if (all.length === 0) die(`no modules found (expected ${rel(modulesDir)}/<name>/assembly/index.ts)`)
  for (const w of wanted) if (!all.includes(w)) die(`unknown module "${w}" (have: ${all.join(', ')})`)
  const names = wanted.length ? wanted : all

  const compilerStamp = join(root, 'node_modules', 'assemblyscript', 'package.json')
  const sharedInputs = [...listFilesRecursive(libDir), thisFile, ...(existsSync(compilerStamp) ? [compilerStamp] : [])]
  mkdirSync(distDir, { recursive: true })

  let asc = null
  for (const name of names) {
    const out = join(distDir, `${name}.wasm`)
    const inputs = [...listFilesRecursive(join(modulesDir, name, 'assembly')), ...sharedInputs]
    if (!force && existsSync(out) && statSync(out).mtimeMs > newestMtime(inputs)) {
      const bytes = readFileSync(out)
      if (checkJobAbi(bytes).length === 0) {
        report(name, bytes, 'up to date')
        continue
      }
    }
    asc ??= await loadCompiler(die)
    const started = Date.now()
    const bytes = await compile(asc, name)
    const problems = checkJobAbi(bytes)
    if (problems.length) {
      rmSync(out, { force: true })
      die(`${rel(join(modulesDir, name))} breaks the job ABI (WASI preview1 command):\n` +
        problems.map((p) => `  - ${p}`).join('\n'))
    }
    const tmp = `${out}.${process.pid}.tmp`
    writeFileSync(tmp, bytes)
    renameSync(tmp, out)
    report(name, bytes, `built in ${((Date.now() - started) / 1000).toFixed(1)} s`)
  }
}

// Build only when run as a script, not when imported for ASC_FLAGS / checkJobAbi.
if (process.argv[1] && resolve(process.argv[1]) === thisFile) await main()
