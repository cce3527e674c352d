/** Debian's Mosquitto on a free loopback port, for tests and benches ("any MQTT 3.1.1 broker works"). */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { stopChild, trackChild } from './child-processes.ts'
import { freePort, waitForPort } from './ports.ts'
import { tmpDir } from './temp-dirs.ts'

export interface Mosquitto {
  url: string
  port: number
  proc: ChildProcess
  /** What `mosquitto -h` says, e.g. `2.0.21`. */
  version: string
  stop(): Promise<void>
}

/**
 * Starts `bin` (a Mosquitto binary, see `findProgram`) listening on 127.0.0.1 only, anonymous
 * clients allowed, no persistence; `extraConfig` lines are appended to mosquitto.conf
 * (e.g. `set_tcp_nodelay true\n`). Resolves once it accepts connections. `anonymous: false` leaves
 * `allow_anonymous` to `extraConfig` (e.g. the files of `fogmesh auth export --mosquitto`).
 */
export async function startMosquitto(bin: string, extraConfig = '', { anonymous = true }: { anonymous?: boolean } = {}): Promise<Mosquitto> {
  const port = await freePort()
  const conf = join(tmpDir('fm-mosq-'), 'mosquitto.conf')
  writeFileSync(conf, `listener ${port} 127.0.0.1\n${anonymous ? 'allow_anonymous true\n' : ''}persistence false\n${extraConfig}`)
  const proc = trackChild(spawn(bin, ['-c', conf], { stdio: ['ignore', 'ignore', 'pipe'] }))
  let stderr = ''
  proc.stderr!.on('data', (d: Buffer) => (stderr += d.toString()))
  const exitedEarly = new Promise<never>((_, reject) => proc.once('exit', (code) => reject(new Error(`mosquitto exited (${code}): ${stderr}`))))
  try {
    await Promise.race([waitForPort(port, 10_000), exitedEarly])
  } catch (err) {
    proc.kill('SIGKILL')
    throw new Error(`mosquitto did not start: ${stderr || (err as Error).message}`)
  }
  exitedEarly.catch(() => {}) // it exits when stopped
  const help = spawnSync(bin, ['-h'], { encoding: 'utf8' })
  const version = /mosquitto version (\S+)/.exec(`${help.stdout}${help.stderr}`)?.[1] ?? '?'
  return { url: `mqtt://127.0.0.1:${port}`, port, proc, version, stop: () => stopChild(proc) }
}
