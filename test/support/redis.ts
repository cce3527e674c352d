/** Debian's redis-server on a free loopback port, no disk, for the cluster tests (broker/cluster.ts). */
import { spawn, type ChildProcess } from 'node:child_process'
import { stopChild, trackChild } from './child-processes.ts'
import { freePort, waitForPort } from './ports.ts'

export interface RedisServer {
  url: string
  port: number
  proc: ChildProcess
  /** Kills it (SIGKILL: a Redis that goes away). */
  kill(): Promise<void>
  stop(): Promise<void>
}

/** Starts `bin` (see `requireProgram('redis-server')`) on 127.0.0.1; `port` reuses one (a restart). */
export async function startRedis(bin: string, port?: number): Promise<RedisServer> {
  port ??= await freePort()
  const args = ['--port', String(port), '--bind', '127.0.0.1', '--save', '', '--appendonly', 'no', '--protected-mode', 'yes', '--daemonize', 'no']
  const proc = trackChild(spawn(bin, args, { stdio: ['ignore', 'ignore', 'pipe'] }))
  let stderr = ''
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  const exitedEarly = new Promise<never>((_, reject) => proc.once('exit', (code) => reject(new Error(`redis-server exited (${code}): ${stderr}`))))
  try {
    await Promise.race([waitForPort(port, 10_000), exitedEarly])
  } catch (err) {
    proc.kill('SIGKILL')
    throw new Error(`redis-server did not start: ${stderr || (err as Error).message}`)
  }
  exitedEarly.catch(() => {})
  const exited = new Promise<void>((r) => proc.once('exit', () => r()))
  return {
    url: `redis://127.0.0.1:${port}`,
    port,
    proc,
    async kill() {
      proc.kill('SIGKILL')
      await exited
    },
    stop: () => stopChild(proc),
  }
}
