/**
 * Starts a job worker thread, from source or from a build.
 *
 * From a build (this file is `.js`): the sibling `worker.main.js`.
 *
 * From source under tsx (this file is `.ts`): a worker does not inherit a
 * loader registered through tsx's `register()` API, and on Node 20 (below
 * 22.22) passing `--import tsx` to the worker does not help either: tsx's
 * loader only registers its hooks on the main thread there (it checks
 * `isMainThread`). So the worker starts from a two-line bootstrap that calls
 * tsx's `register()` inside the worker, then imports `worker.main.ts`. The tsx
 * flags of the parent are dropped from the worker's execArgv so that a Node
 * that does honour `--import tsx` in workers does not register it twice.
 */
import { Worker } from 'node:worker_threads'

let bootstrap: string | undefined

function tsxBootstrap(): string {
  if (bootstrap === undefined) {
    // resolved from this file, so it works whatever the process's cwd is
    const tsxApi = import.meta.resolve('tsx/esm/api')
    const entry = new URL('./worker.main.ts', import.meta.url).href
    bootstrap = `import(${JSON.stringify(tsxApi)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(entry)}) })`
  }
  return bootstrap
}

const LOADER_FLAGS = new Set(['--import', '--loader', '--experimental-loader', '--require', '-r'])

/** `execArgv` without the flags that load tsx. */
export function withoutTsxFlags(execArgv: readonly string[]): string[] {
  const kept: string[] = []
  for (let i = 0; i < execArgv.length; i++) {
    const arg = execArgv[i] ?? ''
    const eq = arg.indexOf('=')
    const flag = eq === -1 ? arg : arg.slice(0, eq)
    if (LOADER_FLAGS.has(flag)) {
      const value = eq === -1 ? (execArgv[i + 1] ?? '') : arg.slice(eq + 1)
      if (eq === -1) i++ // the value is the next argument
      if (/\btsx\b/.test(value)) continue
      kept.push(flag, value)
      continue
    }
    kept.push(arg)
  }
  return kept
}

export function spawnJobWorker(): Worker {
  if (import.meta.url.endsWith('.ts')) {
    return new Worker(tsxBootstrap(), { eval: true, execArgv: withoutTsxFlags(process.execArgv) })
  }
  return new Worker(new URL('./worker.main.js', import.meta.url))
}
