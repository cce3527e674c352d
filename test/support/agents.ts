/**
 * Agents for tests and benches: `fogmesh agent` as a real child process — a
 * device of its own, that a test can SIGSTOP, SIGCONT and SIGKILL — or
 * in-process ones on their own data dirs.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { join } from 'node:path'
import { startAgent, type Agent } from '../../agent/agent.ts'
import { stopChild, trackChild } from './child-processes.ts'
import { ROOT } from './paths.ts'
import { tmpDir } from './temp-dirs.ts'

/** How long an agent process may take to print its "online" line (a loaded 2-core machine needs seconds just to start node and tsx). */
const ONLINE_TIMEOUT_MS = 30_000

export interface AgentProcess {
  name: string
  /** The agent id it printed on its "online" line. */
  id: string
  pid: number
  proc: ChildProcess
  /** Everything it wrote so far, stdout and stderr. */
  output(): string
  /** Sends `signal` (SIGKILL by default) and resolves once it exited. */
  kill(signal?: NodeJS.Signals): Promise<void>
  /** SIGTERM (a clean leave), SIGKILL after 3 s. */
  stop(): Promise<void>
}

/**
 * `node bin/fogmesh.js agent --broker URL --name NAME --data DIR ...args`, exactly as a device runs
 * it, with a fresh data dir; resolves once it printed its "online" line. It takes work from any
 * requester (`--accept-from any`, an open test mesh) unless `args` say `--accept-from` themselves.
 * FM_BENCH_AGENT_NODE_ARGS="--cpu-prof --cpu-prof-dir=/tmp/prof" adds node flags (NODE_OPTIONS refuses --cpu-prof).
 */
export function spawnAgent(broker: string, name: string, args: string[] = []): Promise<AgentProcess> {
  const dir = tmpDir(`fm-agent-${name}-`)
  const nodeArgs = (process.env.FM_BENCH_AGENT_NODE_ARGS ?? '').split(' ').filter(Boolean)
  const open = args.includes('--accept-from') ? [] : ['--accept-from', 'any']
  return spawnOnline(name, dir, [...nodeArgs, join(ROOT, 'bin/fogmesh.js'), 'agent', '--broker', broker, '--name', name, '--data', dir, ...open, ...args])
}

/**
 * `node ARGS` as an agent process on data dir `dir` (FOGMESH_HOME too); resolves once it printed
 * its "online" line, and kills it if that does not come within ONLINE_TIMEOUT_MS.
 */
export async function spawnOnline(name: string, dir: string, args: string[]): Promise<AgentProcess> {
  const proc = trackChild(spawn(process.execPath, args, { cwd: ROOT, stdio: ['ignore', 'pipe', 'pipe'], env: { ...process.env, FOGMESH_HOME: dir } }))
  let out = ''
  proc.stdout!.on('data', (d: Buffer) => (out += d.toString()))
  proc.stderr!.on('data', (d: Buffer) => (out += d.toString()))
  const id = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL') // a test that gives up on it must not leave it running
      reject(new Error(`agent ${name} did not come online in ${ONLINE_TIMEOUT_MS / 1000} s: ${out}`))
    }, ONLINE_TIMEOUT_MS)
    const check = () => {
      const m = /^agent ([0-9a-f]+) "[^"]*" online/m.exec(out)
      if (!m) return
      clearTimeout(timer)
      proc.stdout!.off('data', check)
      resolve(m[1]!)
    }
    proc.stdout!.on('data', check)
    proc.once('exit', (code) => {
      clearTimeout(timer)
      reject(new Error(`agent ${name} exited with ${code}: ${out}`))
    })
  })
  return {
    name,
    id,
    pid: proc.pid!,
    proc,
    output: () => out,
    kill: (signal = 'SIGKILL') =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve()
        proc.once('exit', () => resolve())
        proc.kill(signal)
      }),
    stop: () => stopChild(proc),
  }
}

/** `n` agent processes named a1..aN, started in parallel. */
export function spawnAgents(broker: string, n: number): Promise<AgentProcess[]> {
  return Promise.all(Array.from({ length: n }, (_, i) => spawnAgent(broker, `a${i + 1}`)))
}

/** `n` agents in this process named a1..aN, each on its own data dir, taking work from any requester. */
export async function inProcessAgents(broker: string, n: number): Promise<Agent[]> {
  const out: Agent[] = []
  for (let i = 1; i <= n; i++) out.push(await startAgent({ broker, name: `a${i}`, dataDir: tmpDir(`fm-agent-a${i}-`), acceptFrom: 'any' }))
  return out
}
