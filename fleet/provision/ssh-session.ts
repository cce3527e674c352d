/**
 * Commands on a host through the system OpenSSH client (`ssh`), one multiplexed
 * connection per host (ControlMaster), batch mode (never a prompt), the operator's own
 * keys, agent, ~/.ssh/config and known_hosts unless told otherwise. Files go over the
 * command's stdin (`cat > FILE`), not scp: scp speaks SFTP since OpenSSH 9 and many
 * small devices (dropbear, busybox) have no sftp-server.
 *
 * Why the system client and not the `ssh2` package: fleets are reached the way the
 * operator already reaches them (bastions through ProxyJump, keys in an agent or on a
 * token, pinned host keys), which only the operator's own client knows; and it adds no
 * dependency. Failures are read from OpenSSH's messages, stable for decades.
 */
import { spawn } from 'node:child_process'
import { mkdtempSync, rmSync } from 'node:fs'
import { tmpdir } from 'node:os'
import { join } from 'node:path'
import type { Readable } from 'node:stream'
import { ProvisionError, ProvisionReason } from './provision-error.ts'
import type { SshTarget } from './ssh-target.ts'

export interface SshOptions {
  /** A private key to use (only it: IdentitiesOnly). Default: the client's own choice. */
  identity?: string
  /** known_hosts file to check and record host keys in. Default: the client's own. */
  knownHosts?: string
  /** `accept-new` (default): record a new host's key, refuse a changed one; `yes`: known hosts only. */
  hostKeys?: 'accept-new' | 'yes'
  connectTimeoutS?: number
  /** The ssh binary (default `ssh` on PATH). */
  ssh?: string
}

export interface RunResult {
  code: number
  stdout: string
  stderr: string
}

export class SshSession {
  private readonly control = mkdtempSync(join(tmpdir(), 'fm-ssh-'))
  private readonly base: string[]

  constructor(
    readonly target: SshTarget,
    private readonly opts: SshOptions = {},
  ) {
    this.base = [
      '-p', String(target.port),
      '-o', 'BatchMode=yes',
      '-o', `ConnectTimeout=${opts.connectTimeoutS ?? 10}`,
      '-o', `StrictHostKeyChecking=${opts.hostKeys ?? 'accept-new'}`,
      '-o', 'ServerAliveInterval=10',
      '-o', 'LogLevel=ERROR',
      '-o', 'ControlMaster=auto',
      '-o', `ControlPath=${join(this.control, 'cm')}`,
      '-o', 'ControlPersist=60',
      ...(opts.knownHosts ? ['-o', `UserKnownHostsFile=${opts.knownHosts}`] : []),
      ...(opts.identity ? ['-i', opts.identity, '-o', 'IdentitiesOnly=yes'] : []),
    ]
  }

  /**
   * Runs `command` (a line for the remote user's shell) with `input` on its stdin.
   * An SSH failure (exit 255 with the client's message) throws a ProvisionError naming
   * the host and the cause; the command's own exit code is returned.
   */
  run(command: string, input?: string | Buffer | Readable, onLine?: (line: string) => void): Promise<RunResult> {
    return new Promise((resolve, reject) => {
      const child = spawn(this.opts.ssh ?? 'ssh', [...this.base, `${this.target.user}@${this.target.host}`, '--', command], { stdio: ['pipe', 'pipe', 'pipe'] })
      let stdout = ''
      let stderr = ''
      let partial = ''
      child.stdout.on('data', (d: Buffer) => {
        stdout += d
        if (!onLine) return
        partial += d
        const lines = partial.split('\n')
        partial = lines.pop()!
        for (const l of lines) onLine(l)
      })
      child.stderr.on('data', (d: Buffer) => (stderr += d))
      child.stdin.on('error', () => {}) // the remote side may close early; its exit code says why
      child.once('error', (err) => reject(new ProvisionError(this.target.label, ProvisionReason.ssh, `cannot run ssh: ${err.message}`)))
      child.once('close', (code) => {
        if (onLine && partial) onLine(partial)
        if (code === 255) return reject(sshFailure(this.target.label, stderr))
        resolve({ code: code ?? 1, stdout, stderr })
      })
      if (input === undefined) child.stdin.end()
      else if (typeof input === 'string' || Buffer.isBuffer(input)) child.stdin.end(input)
      else input.pipe(child.stdin)
    })
  }

  /** Ends the shared connection and removes its socket directory. */
  async close(): Promise<void> {
    await new Promise<void>((resolve) => {
      const c = spawn(this.opts.ssh ?? 'ssh', [...this.base, '-O', 'exit', `${this.target.user}@${this.target.host}`], { stdio: 'ignore' })
      c.once('error', () => resolve())
      c.once('close', () => resolve())
    })
    rmSync(this.control, { recursive: true, force: true })
  }
}

/** OpenSSH's message → one line naming the host and the cause. */
export function sshFailure(host: string, stderr: string): ProvisionError {
  const first = stderr.split('\n').map((l) => l.trim()).find((l) => l && !l.startsWith('@')) ?? 'ssh failed without a message'
  if (/Connection refused/i.test(stderr)) return new ProvisionError(host, ProvisionReason.sshRefused, 'SSH connection refused (is sshd running on that port?)')
  if (/Permission denied/i.test(stderr)) return new ProvisionError(host, ProvisionReason.authFailed, `SSH authentication failed: ${first.replace(/^.*?(Permission denied)/, '$1')}`)
  if (/Host key verification failed|REMOTE HOST IDENTIFICATION HAS CHANGED|host key .* (?:is not known|has changed)/i.test(stderr)) {
    return new ProvisionError(host, ProvisionReason.hostKey, 'SSH host key verification failed (unknown or changed host key; check known_hosts)')
  }
  if (/Could not resolve hostname|Name or service not known|No route to host|timed out|Network is unreachable/i.test(stderr)) {
    return new ProvisionError(host, ProvisionReason.unreachable, `host unreachable: ${first}`)
  }
  return new ProvisionError(host, ProvisionReason.ssh, `SSH failed: ${first}`)
}
