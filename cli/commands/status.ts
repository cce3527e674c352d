import { homedir } from 'node:os'
import { join } from 'node:path'
import { formatUnits } from 'ethers'
import { AgentDirectory, type AgentRecord, type DepartedAgent } from '../../market/directory.ts'
import { connect } from '../../protocol/transport.ts'
import { readReputation, readStandings, type AgentStakeView } from '../agent-standing.ts'
import { intOption, requireString, type Command } from '../command.ts'
import { openRpc } from '../staking-options.ts'
import { CREDENTIAL_OPTIONS, CREDENTIAL_USAGE, credentialsFromOptions } from '../client-credentials.ts'

/** Where the gateway keeps what its requester observed of each agent (fogmesh gateway --reputation). */
export function defaultReputationFile(): string {
  return join(process.env.FOGMESH_HOME ?? join(homedir(), '.fogmesh'), 'reputation.json')
}

function stakeCell(s: AgentStakeView | { error: string } | undefined): string {
  if (!s) return '-'
  if ('error' in s) return 'unreadable'
  if (!s.verified) return 'claim not on chain'
  const amount = `${formatUnits(BigInt(s.stake), 18)} MESH`
  return s.eligible ? amount : `${amount} (out${s.convictions ? ', convicted' : ''})`
}

export function formatAgents(agents: AgentRecord[], departed: DepartedAgent[] = [], stakes?: Map<string, AgentStakeView | { error: string }>): string {
  if (agents.length === 0 && departed.length === 0) return 'no agents have joined this broker'
  const rows = agents
    .sort((a, b) => a.presence.name.localeCompare(b.presence.name))
    .map((a) => {
      const p = a.presence
      const labels = Object.entries(p.labels).map(([k, v]) => `${k}=${v}`).join(',')
      return [p.id, p.name, a.state + (a.reason ? ` (${a.reason})` : ''), `${p.capacity.arch}/${p.capacity.cores}c/${p.capacity.memoryMiB}MiB`,
        String(p.capacity.slots), `${a.load.running} run, ${a.load.queued} queued`, String(p.price.perJob), p.version, labels || '-',
        ...(stakes ? [stakeCell(stakes.get(p.id))] : [])]
    })
    .concat(departed.map((d) => [d.id, d.name ?? '-', `gone (${d.reason})`, '-', '-', '-', '-', '-', '-', ...(stakes ? ['-'] : [])]))
  const head = ['AGENT', 'NAME', 'STATE', 'DEVICE', 'SLOTS', 'LOAD', 'PRICE', 'VERSION', 'LABELS', ...(stakes ? ['STAKE'] : [])]
  const widths = head.map((h, i) => Math.max(h.length, ...rows.map((r) => (r[i] ?? '').length)))
  return [head, ...rows].map((r) => r.map((c, i) => c.padEnd(widths[i] ?? 0)).join('  ').trimEnd()).join('\n')
}

/** How long `status` listens for heartbeats before it prints (a CLI choice). */
const LISTEN_MS = 1500

export const statusCommand: Command = {
  name: 'status',
  summary: 'the agents on a broker: state, capacity, load, price',
  usage: `usage: fogmesh status --broker URL [--json] [--all] [--listen MS] [--rpc URL] [--reputation FILE]

  --listen MS        how long to listen for heartbeats before printing (default 1500)
  --json             machine-readable output (with stake and reputation per agent)
  --all              include agents that are gone (offline)
  --rpc URL          read each staked agent's stake from the chain (the court its presence names)
  --reputation FILE  what this machine's gateway observed of each agent
                     (default $FOGMESH_HOME/reputation.json, when it exists)
${CREDENTIAL_USAGE}`,
  options: { broker: { type: 'string' }, json: { type: 'boolean' }, listen: { type: 'string' }, all: { type: 'boolean' }, rpc: { type: 'string' }, reputation: { type: 'string' }, ...CREDENTIAL_OPTIONS },
  async run(values) {
    const broker = requireString(values, 'broker', 'the MQTT broker URL, e.g. mqtt://127.0.0.1:1883')
    const listenMs = intOption(values, 'listen', LISTEN_MS, 0)
    const credentials = credentialsFromOptions(values)
    const conn = await connect(broker, { reconnect: false, ...(credentials ? { credentials } : {}) })
    const directory = new AgentDirectory(conn)
    try {
      await directory.start()
      await new Promise((r) => setTimeout(r, listenMs))
    } finally {
      directory.stop()
      await conn.close()
    }
    const agents = directory.list('all').filter((a) => values.all || a.state !== 'gone')
    // a retained "online" with no heartbeat while we listened is not evidence of life
    for (const a of agents) if (a.state === 'online' && a.beats === 0 && listenMs >= a.presence.heartbeatMs * 1.5) a.state = 'unreachable'
    const departed = values.all ? directory.departed() : []
    let stakes: Map<string, AgentStakeView | { error: string }> | undefined
    if (values.rpc !== undefined) {
      const provider = await openRpc(values)
      try {
        stakes = await readStandings(agents, provider)
      } finally {
        provider.destroy()
      }
    }
    const reputation = readReputation(typeof values.reputation === 'string' ? values.reputation : defaultReputationFile())
    if (values.json) {
      const rows = [
        ...agents.map((a) => ({
          ...a.presence, state: a.state, load: a.load, reason: a.reason,
          ...(stakes?.has(a.presence.id) ? { standing: stakes.get(a.presence.id) } : {}),
          ...(reputation.has(a.presence.id) ? { reputation: reputation.get(a.presence.id) } : {}),
        })),
        ...departed.map((d) => ({ id: d.id, name: d.name, state: 'gone', reason: d.reason })),
      ]
      console.log(JSON.stringify(rows, null, 2))
    } else console.log(formatAgents(agents, departed, stakes))
    return 0
  },
}
