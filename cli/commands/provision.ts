import { DEFAULT_CONCURRENCY, FleetProvisioner } from '../../fleet/provision/provision-fleet.ts'
import { loadBundles } from '../../fleet/provision/bundle-catalog.ts'
import { parseHostsFile, parseTarget, type SshTarget } from '../../fleet/provision/ssh-target.ts'
import { parseTrustedKey } from '../../fleet/release/release-key.ts'
import { intOption, labelsOption, requireString, UsageError, type Command } from '../command.ts'

export const provisionCommand: Command = {
  name: 'provision',
  summary: 'puts an agent on hosts over SSH: copies the bundle, installs it as a service, waits until it is online',
  usage: `usage: fogmesh provision ssh://user@host[:port] [...] --broker URL --bundle FILE|DIR [options]
       fogmesh provision --hosts FILE --broker URL --bundle FILE|DIR [options]

  --broker URL      the broker the agents use, e.g. mqtt://192.168.1.10:1883
  --bundle FILE|DIR a bundle from fogmesh bundle, or a directory of them (one is chosen per host:
                    its arch; with Node (--with-node) where the host has no Node >= 20.11)
  --hosts FILE      one ssh://user@host[:port] a line, optional name=N labels=k=v,... ; # comments
  --name N          the agent's name (one host; default: the host's hostname)
  --labels k=v,...  labels for every agent (a hosts file's labels= add to them)
  --release-key K   agents follow OTA releases signed by this key (see fogmesh release keygen)
  --channel C       their release channel (default stable)
  --identity FILE   the SSH private key to use (default: ssh's own: agent, ~/.ssh/config)
  --known-hosts FILE   known_hosts to check and record host keys in (default: ssh's own)
  --strict-host-keys   refuse hosts whose key is not already known (default: record new ones)
  --watch-broker URL   where this machine sees the agents' presence (default: --broker)
  --prefix DIR      install under DIR (DIR/opt/fogmesh, DIR/etc/fogmesh, ...) instead of the system paths
  --systemd M       auto (default: where systemd runs), yes, or no (a plain background service)
  --no-start        install and enable only
  --user U          the agent's user on the host (default fogmesh; install.sh creates it)
  --exec-user U     the unprivileged user job code runs as (default fogmesh-exec)
  --concurrency N   hosts at once (default ${DEFAULT_CONCURRENCY})
  --timeout S       seconds to wait for each agent to show online (default 90)`,
  options: {
    broker: { type: 'string' },
    bundle: { type: 'string' },
    hosts: { type: 'string' },
    name: { type: 'string' },
    labels: { type: 'string' },
    'release-key': { type: 'string' },
    channel: { type: 'string' },
    identity: { type: 'string' },
    'known-hosts': { type: 'string' },
    'strict-host-keys': { type: 'boolean' },
    'watch-broker': { type: 'string' },
    prefix: { type: 'string' },
    systemd: { type: 'string' },
    'no-start': { type: 'boolean' },
    user: { type: 'string' },
    'exec-user': { type: 'string' },
    concurrency: { type: 'string' },
    timeout: { type: 'string' },
  },
  async run(values, positionals) {
    const broker = requireString(values, 'broker', 'the MQTT broker URL the agents use, e.g. mqtt://192.168.1.10:1883')
    const bundlePath = requireString(values, 'bundle', 'a bundle (fogmesh bundle --out DIR) or a directory of them')
    const targets: SshTarget[] = positionals.map(parseTarget)
    if (typeof values.hosts === 'string') targets.push(...parseHostsFile(values.hosts))
    if (targets.length === 0) throw new UsageError('provision takes ssh://user@host[:port] targets or --hosts FILE (see fogmesh provision --help)')
    if (typeof values.name === 'string') {
      if (targets.length > 1) throw new UsageError('--name names one agent: give names in a hosts file (name=N) for several')
      if (!/^[A-Za-z0-9._-]{1,64}$/.test(values.name)) throw new UsageError('--name takes 1..64 characters of [A-Za-z0-9._-]')
    }
    for (const flag of ['user', 'exec-user']) {
      const u = values[flag]
      if (u !== undefined && (typeof u !== 'string' || !/^[a-z_][a-z0-9_-]{0,31}$/.test(u))) throw new UsageError(`--${flag} takes a user name ([a-z_][a-z0-9_-]*, at most 32 characters)`)
    }
    const systemd = (values.systemd ?? 'auto') as string
    if (!['auto', 'yes', 'no'].includes(systemd)) throw new UsageError('--systemd is auto, yes or no')
    const releaseKey = typeof values['release-key'] === 'string' ? values['release-key'].split(',').map(parseTrustedKey).join(',') : undefined
    const bundles = loadBundles(bundlePath.split(','))
    const fleet = new FleetProvisioner(
      {
        bundles,
        agent: {
          broker,
          ...(typeof values.name === 'string' ? { name: values.name } : {}),
          labels: labelsOption(values.labels),
          ...(releaseKey ? { releaseKey, channel: typeof values.channel === 'string' ? values.channel : 'stable' } : {}),
        },
        ssh: {
          ...(typeof values.identity === 'string' ? { identity: values.identity } : {}),
          ...(typeof values['known-hosts'] === 'string' ? { knownHosts: values['known-hosts'] } : {}),
          hostKeys: values['strict-host-keys'] === true ? 'yes' : 'accept-new',
        },
        ...(typeof values['watch-broker'] === 'string' ? { watchBroker: values['watch-broker'] } : {}),
        ...(typeof values.prefix === 'string' ? { prefix: values.prefix } : {}),
        systemd: systemd as 'auto' | 'yes' | 'no',
        noStart: values['no-start'] === true,
        ...(typeof values.user === 'string' ? { agentUser: values.user } : {}),
        ...(typeof values['exec-user'] === 'string' ? { execUser: values['exec-user'] } : {}),
        onlineTimeoutMs: intOption(values, 'timeout', 90, 1, 3600) * 1000,
      },
      intOption(values, 'concurrency', DEFAULT_CONCURRENCY, 1, 256),
    )
    const many = targets.length > 1
    console.log(`provisioning ${targets.length} host(s) with ${bundles.map((b) => b.info.root).join(', ')}${many ? `, ${Math.min(targets.length, intOption(values, 'concurrency', DEFAULT_CONCURRENCY, 1, 256))} at a time` : ''}`)
    let finished = 0
    fleet.on('step', (s) => console.log(`[${s.host}] ${s.step === 'install' ? '  ' : `${s.step}: `}${s.message}`))
    fleet.on('done', (o) => {
      finished++
      const n = many ? `(${finished}/${targets.length}) ` : ''
      if (o.ok) console.log(`${n}${o.target.label}: ${o.result.agentId ? `agent ${o.result.agentId} online` : 'installed (not started)'} in ${(o.result.ms / 1000).toFixed(1)} s`)
      else console.error(`fogmesh: ${o.error.shortMessage}`)
    })
    const outcomes = await fleet.run(targets)
    const failed = outcomes.filter((o) => !o.ok)
    if (many) {
      console.log(`provisioned ${outcomes.length - failed.length} of ${outcomes.length} host(s)${failed.length ? `; failed: ${failed.map((f) => `${f.target.label} (${f.ok ? '' : f.error.reason})`).join(', ')}` : ''}`)
    }
    for (const o of outcomes) if (o.ok && o.result.agentId) console.log(o.result.agentId)
    return failed.length === 0 ? 0 : 1
  },
}
