/**
 * Puts an agent on one host over SSH: probe the host, choose its bundle, copy it,
 * unpack it, run its install.sh with the agent's config (systemd where it runs, a
 * plain background service where not), read the new agent's public key, and wait
 * until its presence shows online on the broker. Each step is an event; any failure
 * is one ProvisionError naming the host and the cause.
 */
import { EventEmitter } from 'node:events'
import { agentIdFromPublicKey } from '../../protocol/agent-id.ts'
import { mergeOptions } from '../../protocol/options.ts'
import { chooseBundle, type CatalogBundle } from './bundle-catalog.ts'
import { probeHost, type HostFacts } from './host-probe.ts'
import { ProvisionError, ProvisionReason } from './provision-error.ts'
import { SshSession, type SshOptions } from './ssh-session.ts'
import type { SshTarget } from './ssh-target.ts'
import { waitOnline } from './wait-online.ts'

export interface AgentConfig {
  broker: string
  name?: string
  labels?: Record<string, string>
  /** OTA: the release public key(s), hex, comma-separated. */
  releaseKey?: string
  channel?: string
  isolation?: 'process' | 'thread'
}

export interface ProvisionOptions {
  bundles: CatalogBundle[]
  agent: AgentConfig
  /** The broker the laptop watches presence on (default: the agent's). */
  watchBroker?: string
  ssh?: SshOptions
  /** Install everything under this directory (tests, non-standard layouts); default the system paths. */
  prefix?: string
  /** `auto` (default): systemd where it runs (PID 1), a plain background service elsewhere. */
  systemd?: 'auto' | 'yes' | 'no'
  /** Install and enable, do not start (and do not wait for the agent). */
  noStart?: boolean
  /** The users install.sh creates and runs the agent and its job code as (default fogmesh, fogmesh-exec). */
  agentUser?: string
  execUser?: string
  onlineTimeoutMs?: number
}

export const PROVISION_DEFAULTS = { onlineTimeoutMs: 90_000, systemd: 'auto' as 'auto' | 'yes' | 'no', noStart: false }

export type ProvisionStep = 'connect' | 'probe' | 'upload' | 'install' | 'identity' | 'online'

export interface ProvisionEvents {
  step: [{ host: string; step: ProvisionStep; message: string }]
}

export interface ProvisionedHost {
  host: string
  agentId: string | undefined
  facts: HostFacts
  bundle: string
  /** The installer's lines. */
  installLog: string[]
  ms: number
}

/** The install.sh flags for a prefix (docs/bundle.md). */
export function prefixFlags(prefix: string | undefined): string[] {
  if (!prefix) return []
  return ['--prefix', `${prefix}/opt/fogmesh`, '--config-dir', `${prefix}/etc/fogmesh`, '--state-dir', `${prefix}/var/lib/fogmesh`, '--run-dir', `${prefix}/run`, '--log', `${prefix}/var/log/fogmesh-agent.log`, '--unit-dir', `${prefix}/etc/systemd/system`]
}

const q = (s: string) => `'${s.replace(/'/g, `'\\''`)}'`

export class HostProvisioner extends EventEmitter<ProvisionEvents> {
  private readonly opts

  constructor(options: ProvisionOptions) {
    super()
    this.opts = mergeOptions(options, PROVISION_DEFAULTS, { onlineTimeoutMs: { min: 1000, max: 3_600_000, integer: true } }, 'provision')
  }

  async provision(target: SshTarget): Promise<ProvisionedHost> {
    const t0 = Date.now()
    const host = target.label
    const step = (s: ProvisionStep, message: string) => this.emit('step', { host, step: s, message })
    const ssh = new SshSession(target, this.opts.ssh)
    try {
      step('connect', `ssh ${target.user}@${target.host} -p ${target.port}`)
      const facts = await probeHost(ssh)
      step('probe', `${facts.machine}, ${facts.node ? `Node ${facts.node}` : 'no Node'}, ${facts.systemd ? 'systemd' : 'no systemd (plain service)'}, ${facts.root ? 'root' : 'sudo'}`)
      const bundle = chooseBundle(this.opts.bundles, facts, host)
      const name = target.name ?? this.opts.agent.name ?? sanitize(facts.hostname)
      const tmp = `/tmp/fogmesh-provision-${process.pid}-${Date.now().toString(36)}`
      const up = await ssh.run(`umask 077 && mkdir -p ${q(tmp)} && cat > ${q(`${tmp}/bundle.tar.gz`)}`, bundle.bytes)
      if (up.code !== 0) throw new ProvisionError(host, ProvisionReason.installFailed, `copying the bundle failed: ${lastLine(up.stderr)}`)
      step('upload', `${bundle.info.root}.tar.gz (${bundle.bytes.length} bytes) to ${tmp}`)

      const config = { ...this.opts.agent, name, labels: { ...this.opts.agent.labels, ...target.labels } }
      const sudo = facts.root ? '' : 'sudo -n '
      const users = [...(this.opts.agentUser ? ['--user', this.opts.agentUser] : []), ...(this.opts.execUser ? ['--exec-user', this.opts.execUser] : [])]
      const flags = [...prefixFlags(this.opts.prefix), ...users, '--systemd', this.opts.systemd, ...(this.opts.noStart ? ['--no-start'] : [])].map(q).join(' ')
      const script = [
        'set -e',
        `cd ${q(tmp)}`,
        'tar -xzf bundle.tar.gz',
        `cat > agent.json <<'FOGMESH_AGENT_JSON'\n${JSON.stringify(config, null, 2)}\nFOGMESH_AGENT_JSON`,
        `cd ${q(bundle.info.root)}`,
        `rc=0; ${sudo}./install.sh --config ${q(`${tmp}/agent.json`)} ${flags} 2>&1 || rc=$?`,
        `cd / && rm -rf ${q(tmp)}`,
        'exit $rc',
      ].join('\n')
      const installLog: string[] = []
      const inst = await ssh.run('sh -s', script, (line) => {
        installLog.push(line)
        step('install', line)
      })
      if (inst.code !== 0) throw new ProvisionError(host, ProvisionReason.installFailed, `install.sh failed: ${lastLine(inst.stdout + inst.stderr).replace(/^install\.sh: /, '')}`)

      let agentId: string | undefined
      if (!this.opts.noStart) {
        const state = `${this.opts.prefix ?? ''}/var/lib/fogmesh/identity.json`
        const log = `${this.opts.prefix ?? ''}/var/log/fogmesh-agent.log`
        const waitS = Math.ceil(this.opts.onlineTimeoutMs / 1000)
        // the agent makes its key at its first start; only the public half leaves the host
        const idScript = `i=0; while [ ! -s ${q(state)} ] && [ $i -lt ${waitS * 5} ]; do sleep 0.2; i=$((i+1)); done; ${sudo}sed -n 's/.*"publicKey": *"\\([0-9a-f]\\{64\\}\\)".*/\\1/p' ${q(state)} 2>/dev/null; [ -s ${q(state)} ] || { echo -; ${facts.systemd && this.opts.systemd !== 'no' ? `${sudo}journalctl -u fogmesh-agent -n 1 -o cat` : `${sudo}tail -n 1 ${q(log)}`} 2>/dev/null; }`
        const idr = await ssh.run('sh -s', idScript)
        const [pub = '', ...rest] = idr.stdout.split('\n').map((l) => l.trim())
        if (!/^[0-9a-f]{64}$/.test(pub)) {
          const last = rest.join(' ').trim()
          throw new ProvisionError(host, ProvisionReason.notOnline, `the agent did not start within ${waitS} s (no identity in ${state})${last ? `; its log says: ${last.slice(0, 200)}` : ''}`)
        }
        agentId = agentIdFromPublicKey(pub)
        step('identity', `agent ${agentId}`)
        await waitOnline(this.opts.watchBroker ?? this.opts.agent.broker, agentId, this.opts.onlineTimeoutMs, host)
        step('online', `agent ${agentId} "${name}" online`)
      }
      return { host, agentId, facts, bundle: bundle.info.root, installLog, ms: Date.now() - t0 }
    } finally {
      await ssh.close()
    }
  }
}

const sanitize = (h: string) => h.replace(/[^A-Za-z0-9._-]/g, '-').slice(0, 64) || 'device'
const lastLine = (s: string) => s.trim().split('\n').filter(Boolean).pop() ?? '(no output)'
