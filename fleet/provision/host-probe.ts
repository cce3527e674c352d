/**
 * What a host is, found out in one SSH round trip before anything is copied: its
 * architecture, its Node (if any), whether systemd runs (PID 1) or not (a container),
 * who we are there (root, or password-less sudo), and that it has tar.
 */
import { ProvisionError, ProvisionReason } from './provision-error.ts'
import type { SshSession } from './ssh-session.ts'

export interface HostFacts {
  /** `uname -m` */
  machine: string
  /** The bundle arch for it (docs/bundle.md), or undefined when no bundle can run there. */
  arch: 'x64' | 'arm64' | 'armv7' | undefined
  /** `node --version` without the v, or undefined. */
  node: string | undefined
  systemd: boolean
  root: boolean
  sudo: boolean
  tar: boolean
  hostname: string
}

export const PROBE_SCRIPT = `
echo "machine=$(uname -m)"
echo "uid=$(id -u)"
echo "hostname=$(hostname 2>/dev/null || cat /etc/hostname 2>/dev/null)"
if command -v node >/dev/null 2>&1; then echo "node=$(node --version 2>/dev/null)"; else echo "node="; fi
if [ -d /run/systemd/system ]; then echo systemd=yes; else echo systemd=no; fi
if command -v tar >/dev/null 2>&1 && command -v gzip >/dev/null 2>&1; then echo tar=yes; else echo tar=no; fi
if [ "$(id -u)" != 0 ] && command -v sudo >/dev/null 2>&1 && sudo -n true >/dev/null 2>&1; then echo sudo=yes; else echo sudo=no; fi
`

const ARCH: Record<string, HostFacts['arch']> = { x86_64: 'x64', amd64: 'x64', aarch64: 'arm64', arm64: 'arm64', armv7l: 'armv7', armv8l: 'armv7' }

export function parseProbe(stdout: string): HostFacts {
  const kv = new Map<string, string>()
  for (const line of stdout.split('\n')) {
    const i = line.indexOf('=')
    if (i > 0) kv.set(line.slice(0, i).trim(), line.slice(i + 1).trim())
  }
  const machine = kv.get('machine') ?? ''
  const node = kv.get('node')?.replace(/^v/, '') || undefined
  return {
    machine,
    arch: ARCH[machine],
    node: node && /^\d+\.\d+\.\d+$/.test(node) ? node : undefined,
    systemd: kv.get('systemd') === 'yes',
    root: kv.get('uid') === '0',
    sudo: kv.get('sudo') === 'yes',
    tar: kv.get('tar') === 'yes',
    hostname: kv.get('hostname') || 'device',
  }
}

export async function probeHost(ssh: SshSession): Promise<HostFacts> {
  const r = await ssh.run('sh -s', PROBE_SCRIPT)
  const facts = parseProbe(r.stdout)
  const host = ssh.target.label
  if (r.code !== 0 || !facts.machine) throw new ProvisionError(host, ProvisionReason.ssh, `the probe did not run (exit ${r.code}): ${r.stderr.trim().split('\n')[0] ?? ''}`)
  if (!facts.root && !facts.sudo) throw new ProvisionError(host, ProvisionReason.noRoot, `${ssh.target.user} is not root and cannot sudo without a password (install.sh needs root)`)
  if (!facts.tar) throw new ProvisionError(host, ProvisionReason.noNode, 'no tar and gzip on the host: cannot unpack the bundle')
  return facts
}
