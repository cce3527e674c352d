/**
 * A pseudo-terminal pair from Debian's socat, the serial cable of the tests:
 * `bridge` and `device` are stable symlinks, so the pair can be "unplugged"
 * (`unplug()`: socat stops, both ends close, the links vanish) and "plugged
 * back" (`plug()`: a new pair under the same names).
 */
import { spawn, spawnSync, type ChildProcess } from 'node:child_process'
import { existsSync } from 'node:fs'
import { join } from 'node:path'

export interface PtyPair {
  /** The end the bridge opens. */
  readonly bridge: string
  /** The end the (simulated) device opens. */
  readonly device: string
  unplug(): Promise<void>
  plug(): Promise<void>
  stop(): Promise<void>
}

export function hasSocat(): boolean {
  return spawnSync('socat', ['-V'], { stdio: 'ignore' }).status === 0
}

export async function startPtyPair(dir: string): Promise<PtyPair> {
  const bridge = join(dir, 'tty-bridge')
  const device = join(dir, 'tty-device')
  let proc: ChildProcess | undefined
  const plug = async () => {
    if (proc) return
    const p = spawn('socat', [`pty,raw,echo=0,link=${bridge}`, `pty,raw,echo=0,link=${device}`], { stdio: ['ignore', 'ignore', 'pipe'] })
    proc = p
    let stderr = ''
    p.stderr?.on('data', (d) => (stderr += d))
    const until = Date.now() + 5000
    while (!(existsSync(bridge) && existsSync(device))) {
      if (p.exitCode !== null) throw new Error(`socat exited: ${stderr.trim()}`)
      if (Date.now() > until) throw new Error('socat did not create its ptys within 5 s')
      await new Promise((r) => setTimeout(r, 10))
    }
  }
  const unplug = async () => {
    const p = proc
    proc = undefined
    if (!p || p.exitCode !== null) return
    await new Promise<void>((resolve) => {
      p.once('exit', () => resolve())
      p.kill('SIGTERM')
    })
  }
  await plug()
  return { bridge, device, plug, unplug, stop: unplug }
}
