/**
 * The systemd unit of a device's agent (docs/bundle.md): the agent as its own
 * user, its executor as another one (started through setpriv with no
 * capabilities; the agent holds only CAP_SETUID, CAP_SETGID and CAP_KILL for that),
 * state in StateDirectory, config in ConfigurationDirectory, hardened.
 * `systemd-analyze verify` passes on it (fleet/bundle/systemd-unit.test.ts).
 */
export interface UnitOptions {
  /** Where install.sh puts releases; ExecStart runs `<prefix>/current/bin/fogmesh`. Default /opt/fogmesh. */
  prefix?: string
  user?: string
  executorUser?: string
  /** systemd's MemoryMax for the whole agent (agent, executor, job memory). Default 384M. */
  memoryMax?: string
}

export function systemdUnit(o: UnitOptions = {}): string {
  const prefix = o.prefix ?? '/opt/fogmesh'
  const user = o.user ?? 'fogmesh'
  const exec = o.executorUser ?? 'fogmesh-exec'
  return `# fogmesh agent (installed by the bundle's install.sh; see docs/bundle.md)
[Unit]
Description=fogmesh agent: runs WebAssembly jobs for the mesh
After=network-online.target
Wants=network-online.target
StartLimitIntervalSec=60
StartLimitBurst=10

[Service]
Type=simple
User=${user}
Group=${user}
# the agent runs under the A/B supervisor (agent/update/files/fogmesh-supervise.sh): it tries an OTA
# release, keeps it only when it comes back online with a passing self-test, and rolls back otherwise
ExecStart=${prefix}/current/bin/fogmesh-supervise --root ${prefix} -- agent --config /etc/fogmesh/agent.json --data /var/lib/fogmesh --executor-user ${exec}
Environment=FOGMESH_HOME=/var/lib/fogmesh
Restart=on-failure
RestartSec=2
# SIGTERM: the agent finishes its running jobs and leaves the mesh, then its executor is closed
KillMode=mixed
TimeoutStopSec=20
StateDirectory=fogmesh
StateDirectoryMode=0700
ConfigurationDirectory=fogmesh
ConfigurationDirectoryMode=0755
UMask=0077

# The agent starts its executor (where job code runs) as ${exec} and kills it when it wedges:
# that takes CAP_SETUID, CAP_SETGID and CAP_KILL, nothing else; setpriv drops all of them before
# the executor's Node starts.
AmbientCapabilities=CAP_SETUID CAP_SETGID CAP_KILL
CapabilityBoundingSet=CAP_SETUID CAP_SETGID CAP_KILL
NoNewPrivileges=yes
ProtectSystem=strict
# OTA: new releases are unpacked beside the running one and the current/previous links switched
ReadWritePaths=${prefix}
ProtectHome=yes
PrivateTmp=yes
PrivateDevices=yes
ProtectKernelTunables=yes
ProtectKernelModules=yes
ProtectKernelLogs=yes
ProtectControlGroups=yes
ProtectClock=yes
ProtectHostname=yes
RestrictSUIDSGID=yes
RestrictNamespaces=yes
RestrictRealtime=yes
LockPersonality=yes
RestrictAddressFamilies=AF_UNIX AF_INET AF_INET6
SystemCallArchitectures=native
MemoryMax=${o.memoryMax ?? '384M'}
TasksMax=128

[Install]
WantedBy=multi-user.target
`
}
