/**
 * `fogmesh agent` as a real child process — a device of its own — so that
 * tests can SIGSTOP, SIGCONT and SIGKILL it.
 */
import { spawn, type ChildProcess } from 'node:child_process'
import { fileURLToPath } from 'node:url'
import { tmpDir } from './helpers.ts'

const root = fileURLToPath(new URL('..', import.meta.url))

export interface AgentProcess {
  proc: ChildProcess
  id: string
  output: () => string
  kill(signal?: NodeJS.Signals): Promise<void>
}

export async function spawnAgent(broker: string, name: string, args: string[] = []): Promise<AgentProcess> {
  const proc = spawn(process.execPath, ['bin/fogmesh.js', 'agent', '--broker', broker, '--name', name, '--data', tmpDir('fm-agentp-'), ...args], {
    cwd: root,
    stdio: ['ignore', 'pipe', 'pipe'],
  })
  let out = ''
  proc.stdout!.on('data', (d) => (out += d))
  proc.stderr!.on('data', (d) => (out += d))
  const id = await new Promise<string>((resolve, reject) => {
    const timer = setTimeout(() => {
      proc.kill('SIGKILL') // a test that gives up on it must not leave it running
      reject(new Error(`agent ${name} did not start: ${out}`))
    }, 30_000) // generous: a loaded 2-core machine takes seconds to start node + tsx
    const check = () => {
      const m = /agent ([0-9a-f]{20}) /.exec(out)
      if (m) {
        clearTimeout(timer)
        proc.stdout!.off('data', check)
        resolve(m[1]!)
      }
    }
    proc.stdout!.on('data', check)
    proc.once('exit', (code) => reject(new Error(`agent ${name} exited ${code}: ${out}`)))
  })
  return {
    proc,
    id,
    output: () => out,
    kill: (signal = 'SIGKILL') =>
      new Promise<void>((resolve) => {
        if (proc.exitCode !== null || proc.signalCode !== null) return resolve()
        proc.once('exit', () => resolve())
        proc.kill(signal)
      }),
  }
}
