/**
 * A real OpenSSH server for tests (Debian's openssh-server): on 127.0.0.1, a port the
 * OS picked a moment before, a throw-away host key, key-only login as root with the
 * authorized keys the test gives (each line may carry OpenSSH options, e.g.
 * `environment="PATH=..."` to make a host without Node). `UsePAM no`, `StrictModes no`,
 * so it runs in a temp dir without touching the system's sshd.
 */
import { execFileSync, spawn, type ChildProcess } from 'node:child_process'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import { stopChild, trackChild } from './child-processes.ts'
import { freePort, waitForPort } from './ports.ts'
import { requireProgram } from './programs.ts'
import { tmpDir } from './temp-dirs.ts'

export interface Sshd {
  port: number
  dir: string
  /** known_hosts content for this server (host key pinned). */
  knownHosts: string
  proc: ChildProcess
  output(): string
  stop(): Promise<void>
}

/** A fresh ed25519 key pair (no passphrase): returns the private key's path; `.pub` beside it. */
export function sshKey(dir: string, name: string): { path: string; pub: string } {
  const path = join(dir, name)
  execFileSync(requireProgram('ssh-keygen'), ['-q', '-t', 'ed25519', '-N', '', '-C', `fogmesh-test-${name}`, '-f', path])
  return { path, pub: execFileSync('cat', [`${path}.pub`]).toString().trim() }
}

export async function startSshd(authorizedKeys: string[]): Promise<Sshd> {
  const sshdBin = requireProgram('sshd')
  const dir = tmpDir('fm-sshd-')
  const hostKey = sshKey(dir, 'host_ed25519')
  writeFileSync(join(dir, 'authorized_keys'), authorizedKeys.join('\n') + '\n', { mode: 0o600 })
  mkdirSync('/run/sshd', { recursive: true, mode: 0o755 }) // the privilege separation directory sshd insists on
  const port = await freePort()
  const config = join(dir, 'sshd_config')
  writeFileSync(
    config,
    [
      `Port ${port}`,
      'ListenAddress 127.0.0.1',
      `HostKey ${hostKey.path}`,
      `PidFile ${join(dir, 'sshd.pid')}`,
      `AuthorizedKeysFile ${join(dir, 'authorized_keys')}`,
      'PubkeyAuthentication yes',
      'PasswordAuthentication no',
      'KbdInteractiveAuthentication no',
      'PermitRootLogin prohibit-password',
      'PermitUserEnvironment PATH',
      'UsePAM no',
      'StrictModes no',
      'AllowUsers root',
      'PrintMotd no',
      'MaxStartups 50:30:100',
      'MaxSessions 50',
      'LogLevel ERROR',
      '',
    ].join('\n'),
  )
  const proc = trackChild(spawn(sshdBin, ['-D', '-e', '-f', config], { stdio: ['ignore', 'pipe', 'pipe'] }))
  let out = ''
  proc.stdout!.on('data', (d) => (out += d))
  proc.stderr!.on('data', (d) => (out += d))
  await Promise.race([
    waitForPort(port, 20_000),
    new Promise<never>((_, reject) => proc.once('exit', (code) => reject(new Error(`sshd exited with ${code}: ${out}`)))),
  ])
  return { port, dir, knownHosts: `[127.0.0.1]:${port} ${hostKey.pub.split(' ').slice(0, 2).join(' ')}\n`, proc, output: () => out, stop: () => stopChild(proc) }
}
