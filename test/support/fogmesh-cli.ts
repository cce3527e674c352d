/**
 * The `fogmesh` command as users run it — `node bin/fogmesh.js ARGS` child
 * processes — to completion or as a long-running daemon, and the check that
 * a user error is what docs/contract.md promises: one clear line on stderr
 * and a non-zero exit, not a stack trace.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import * as assert from 'uvu/assert'
import { trackChild } from './child-processes.ts'
import { ROOT } from './paths.ts'
import { tmpDir } from './temp-dirs.ts'
import { waitFor } from './wait.ts'

export interface Run {
  code: number | null
  signal: NodeJS.Signals | null
  stdout: string
  stderr: string
  ms: number
}

export interface FogmeshEnv {
  /** $FOGMESH_HOME of the command (default: one temp dir per test process). */
  home?: string
  env?: NodeJS.ProcessEnv
}

let sharedHome: string | undefined
const envFor = (opts: FogmeshEnv) => ({
  ...process.env,
  FOGMESH_HOME: opts.home ?? (sharedHome ??= tmpDir('fm-cli-home-')),
  NO_COLOR: '1',
  FOGMESH_DEBUG: '',
  ...opts.env,
})

/**
 * Runs `fogmesh ARGS` to completion: killed after `timeoutMs`, or `graceMs` after it
 * wrote to stderr (an error line followed by no exit is a hang, however loaded the machine is).
 */
export function runFogmesh(args: string[], opts: FogmeshEnv & { stdin?: string; timeoutMs?: number; graceMs?: number } = {}): Promise<Run> {
  return new Promise((resolve) => {
    const started = Date.now()
    const child = trackChild(
      spawn(process.execPath, [join(ROOT, 'bin/fogmesh.js'), ...args], {
        cwd: ROOT,
        env: envFor(opts),
        stdio: [opts.stdin === undefined ? 'ignore' : 'pipe', 'pipe', 'pipe'],
      }),
    )
    let stdout = ''
    let stderr = ''
    let grace: NodeJS.Timeout | undefined
    const kill = (why: string) => {
      stderr += `\n[test] killed: ${why}`
      child.kill('SIGKILL')
    }
    child.stdout!.on('data', (d) => (stdout += d))
    child.stderr!.on('data', (d) => {
      stderr += d
      if (opts.graceMs !== undefined && !grace) grace = setTimeout(() => kill(`still running ${opts.graceMs} ms after writing to stderr`), opts.graceMs)
    })
    if (opts.stdin !== undefined) child.stdin!.end(opts.stdin)
    const timeoutMs = opts.timeoutMs ?? 30_000
    const timer = setTimeout(() => kill(`still running after ${timeoutMs} ms`), timeoutMs)
    child.on('close', (code, signal) => {
      clearTimeout(timer)
      clearTimeout(grace)
      resolve({ code, signal, stdout, stderr, ms: Date.now() - started })
    })
  })
}

/** A run as a failure message shows it. */
export const showRun = (r: Run) => `exit ${r.code}${r.signal ? ` (${r.signal})` : ''} after ${r.ms} ms\n--- stdout\n${r.stdout}\n--- stderr\n${r.stderr}`

export interface Daemon {
  proc: ChildProcess
  /** The match of `ready` against its output. */
  match: RegExpExecArray
  output(): string
}

/** `fogmesh ARGS` as a long-running child; resolves once its output matches `ready`. */
export async function fogmeshDaemon(args: string[], ready: RegExp, opts: FogmeshEnv & { timeoutMs?: number } = {}): Promise<Daemon> {
  const proc = trackChild(spawn(process.execPath, [join(ROOT, 'bin/fogmesh.js'), ...args], { cwd: ROOT, env: envFor(opts), stdio: ['ignore', 'pipe', 'pipe'] }))
  let out = ''
  proc.stdout!.on('data', (d) => (out += d))
  proc.stderr!.on('data', (d) => (out += d))
  const match = await waitFor(() => {
    if (proc.exitCode !== null) throw new Error(`fogmesh ${args.join(' ')} exited ${proc.exitCode}: ${out}`)
    return ready.exec(out) ?? undefined
  }, opts.timeoutMs ?? 30_000, `fogmesh ${args[0]} to be ready`)
  return { proc, match, output: () => out }
}

/** docs/contract.md: "A user error is one clear line on stderr and a non-zero exit, not a stack trace." */
export function assertUserError(r: Run, pattern: RegExp, what: string, exitCode?: number): void {
  assert.ok(r.code !== null && r.code !== 0, `${what}: non-zero exit\n${showRun(r)}`)
  if (exitCode !== undefined) assert.is(r.code, exitCode, `${what}: exit ${exitCode}\n${showRun(r)}`)
  assert.is(r.signal, null, `${what}: ended by itself, not killed\n${showRun(r)}`)
  const lines = r.stderr.split('\n').filter((l) => l.trim() !== '')
  assert.is(lines.length, 1, `${what}: exactly one line on stderr\n${showRun(r)}`)
  assert.not.ok(/^\s+at /m.test(r.stderr), `${what}: no stack trace\n${showRun(r)}`)
  assert.not.ok(/internal error/i.test(r.stderr), `${what}: a user error, not an internal one\n${showRun(r)}`)
  assert.ok(lines[0]!.startsWith('fogmesh: '), `${what}: the line says who speaks\n${showRun(r)}`)
  assert.ok(pattern.test(lines[0]!), `${what}: ${pattern} in the message\n${showRun(r)}`)
}
