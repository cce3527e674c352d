import { join } from 'node:path'
import { startBroker } from '../../broker/broker.ts'
import { superviseGateway, type GatewayIsolation } from '../../market/gateway-supervisor.ts'
import { loadOrCreateIdentityFile } from '../../protocol/identity.ts'
import { GATEWAY_LIMIT_OPTIONS, GATEWAY_LIMIT_USAGE, LIMIT_OPTIONS, LIMIT_USAGE, gatewayLimitsFromOptions, limitsFromOptions } from '../broker-limit-options.ts'
import { limitLogger } from '../limit-log.ts'
import { givenInt, intOption, requesterKeyFile, untilSignal, UsageError, withOptionNames, type Command } from '../command.ts'
import type { ConsoleServer } from '../../console/server.ts'
import { consoleLine, consoleOnPort, notBuiltWarning } from '../console.ts'
import { liveClients } from '../../broker/auth/broker-auth.ts'
import { SECURITY_OPTIONS, SECURITY_USAGE, securityFromOptions } from '../broker-security.ts'

/** Where `fogmesh broker` differs from the library's defaults: browsers on a fixed WebSocket port (the host: broker-security.ts). */
const CLI_DEFAULTS = { wsPort: 8083 }
/** Which flag sets which broker option, for errors that name the flag. */
const FLAGS = {
  port: '--port', wsPort: '--ws-port', host: '--host', maxPacketBytes: '--max-packet-bytes', maxModuleBytes: '--max-module-bytes',
  maxRetainedBytes: '--max-retained-bytes', maxRetainedBytesPerClient: '--max-retained-bytes-per-client',
}

export const brokerCommand: Command = {
  name: 'broker',
  summary: 'the embedded MQTT broker (TCP and WebSocket), with the gateway inside it',
  usage: `usage: fogmesh broker [--port 1883] [--ws-port 8083] [--http-port 8080] [--host H] [--no-gateway] [--auth FILE [--agents MODE]] [--tls-cert C --tls-key K]

  --port P              MQTT over TCP (default 1883; 0 = any free port)
  --ws-port P           MQTT over WebSocket, for browsers (default 8083; 0 = any free port)
  --host H              interface to bind (default 0.0.0.0 with --auth: devices on the LAN can join;
                        127.0.0.1 without)
  --max-packet-bytes N  cap on any MQTT packet (default 2097152)
  --max-module-bytes N  cap on a module published to fm/v1/modules/# (default 16777216)
  --no-gateway          broker only; no plain-MQTT job handling
  --data DIR            keep retained messages, persistent sessions and in-flight QoS 1 messages on disk
                        (and the gateway's job journal): a crash and restart loses nothing acknowledged
  --cluster redis://H:P one broker of a cluster sharing state and messages through Redis; the gateway is
                        off unless --gateway (run one gateway per cluster)
  --gateway             with --cluster: run the gateway in this broker too
  --cluster-bus B       with --cluster: streams (default: a Redis Stream read from each broker's cursor,
                        nothing lost to a Redis outage) or pubsub (mqemitter-redis, fire-and-forget)
  --cluster-stream-len N with --cluster: about how many messages the stream keeps for a broker that
                        was away (default 50000; \`cluster bus gap\` is printed when it bites)
  --max-retained-bytes N            cap on retained payload bytes in total (default 268435456)
  --max-retained-bytes-per-client N cap on retained payload bytes of one client (default 67108864)
  --http-port P         the console (a live web page) and Prometheus /metrics (default 8080; 0 = any free port)
  --no-console          no HTTP port: no console, no /metrics
  --alert-error-rate F  raise error_rate when more than this fraction of a minute's jobs fail (default 0.05)
  --alert-channel-low F raise channel_low when less than this fraction of a channel's deposit is left (default 0.1)
  --gateway-isolation I worker (default) or process: where the gateway runs, contained, restarted if it dies
${LIMIT_USAGE}
${GATEWAY_LIMIT_USAGE}
${SECURITY_USAGE}

  SIGHUP re-reads the credentials file and closes the sessions of removed or changed identities.`,
  options: {
    port: { type: 'string' },
    'ws-port': { type: 'string' },
    host: { type: 'string' },
    'max-packet-bytes': { type: 'string' },
    'max-module-bytes': { type: 'string' },
    'no-gateway': { type: 'boolean' },
    data: { type: 'string' },
    cluster: { type: 'string' },
    gateway: { type: 'boolean' },
    'cluster-bus': { type: 'string' },
    'cluster-stream-len': { type: 'string' },
    'max-retained-bytes': { type: 'string' },
    'max-retained-bytes-per-client': { type: 'string' },
    'http-port': { type: 'string' },
    'no-console': { type: 'boolean' },
    'alert-error-rate': { type: 'string' },
    'alert-channel-low': { type: 'string' },
    'gateway-isolation': { type: 'string' },
    ...LIMIT_OPTIONS,
    ...GATEWAY_LIMIT_OPTIONS,
    ...SECURITY_OPTIONS,
  },
  async run(values) {
    const stopped = untilSignal() // before anything starts: a signal must never find us without a handler
    const httpPort = intOption(values, 'http-port', 8080, 0, 65535)
    const alerts = { errorRate: fractionOption(values, 'alert-error-rate'), channelLow: fractionOption(values, 'alert-channel-low') }
    const isolation = values['gateway-isolation'] ?? 'worker'
    if (isolation !== 'worker' && isolation !== 'process') throw new UsageError(`--gateway-isolation must be worker or process (got ${String(isolation)})`)
    const gatewayConfig: Record<string, number> = {}
    const limits = limitsFromOptions(values, gatewayConfig)
    const gatewayLimits = gatewayLimitsFromOptions(values, gatewayConfig)
    const security = await securityFromOptions(values, { gateway: !values['no-gateway'], console: !values['no-console'] })
    const broker = await withOptionNames(FLAGS, () =>
      startBroker({
        limits,
        auth: security.auth,
        allowAnonymous: security.allowAnonymous,
        tls: security.tls,
        port: givenInt(values, 'port'),
        wsPort: givenInt(values, 'ws-port') ?? CLI_DEFAULTS.wsPort,
        host: security.host,
        maxPacketBytes: givenInt(values, 'max-packet-bytes'),
        maxModuleBytes: givenInt(values, 'max-module-bytes'),
        data: typeof values.data === 'string' ? values.data : undefined,
        cluster: typeof values.cluster === 'string' ? values.cluster : undefined,
        clusterBus: clusterBusOption(values['cluster-bus']),
        clusterStreamLen: givenInt(values, 'cluster-stream-len'),
        maxRetainedBytes: givenInt(values, 'max-retained-bytes'),
        maxRetainedBytesPerClient: givenInt(values, 'max-retained-bytes-per-client'),
      }),
    )
    broker.on('retainedRejected', (r) => console.error(`retained refused from ${r.clientId} on ${r.topic}: ${r.reason}`))
    if (broker.state.kind === 'disk') console.log(`state    ${values.data} (${broker.state.stats().retainedTopics} retained, ${broker.recovered} publishes recovered)`)
    if (broker.state.kind === 'redis') console.log(`cluster  ${values.cluster} (${broker.state.bus ? 'stream' : 'pub/sub'} bus)`)
    broker.state.bus?.events.on('gap', (g) => console.error(`cluster bus gap: the stream was trimmed past this broker's cursor (after ${g.after}, oldest kept ${g.firstKept}); raise --cluster-stream-len`))
    const limitLog = limitLogger((line) => console.error(line))
    broker.on('limit', limitLog.onLimit)
    broker.on('violation', (v) => limitLog.line('packet cap', `packet cap: ${v.remote} declared ${v.declaredBytes} bytes (cap ${v.capBytes}); connection closed`))
    broker.on('moduleRejected', (m) => console.error(`module refused from ${m.clientId}: ${m.reason}`))
    security.auth?.on('authRefused', (r) => console.error(`refused ${r.username || 'anonymous'} (${r.clientId}) from ${r.remote}: ${r.message}`))
    security.auth?.on('denied', (d) => console.error(`denied ${d.kind} ${d.name}: ${d.action} ${d.topic}`))
    security.auth?.on('revoked', (r) => console.error(`revoked ${r.kind} ${r.name} (${r.clientId}): ${r.reason.replaceAll('_', ' ')}`))
    security.auth?.on('limit', (l) => console.error(`limit ${l.limit} (${l.value}) reached`))
    const onHup = () => console.log(security.reload(liveClients(broker)))
    process.on('SIGHUP', onHup)
    console.log(`broker  ${broker.url}  ${broker.wsUrl ?? ''}`)
    for (const line of security.lines) console.log(line)
    // the gateway contained (its own thread or process): nothing in it can take the broker down. It signs its
    // assignments with a key kept in $FOGMESH_HOME/gateway (loaded here for its id, there to sign): agents list it in --accept-from
    const wantGateway = values.cluster !== undefined ? values.gateway === true : !values['no-gateway']
    const journal = typeof values.data === 'string' ? join(values.data, 'gateway.journal') : undefined
    const identityFile = requesterKeyFile('gateway')
    const gatewayId = wantGateway ? loadOrCreateIdentityFile(identityFile, 'fogmesh-requester-identity').id : undefined
    const gateway = !wantGateway
      ? undefined
      : await superviseGateway({ gateway: { broker: broker.url, identityFile, ...gatewayLimits, journal, ...(security.gatewayCredentials ? { credentials: security.gatewayCredentials } : {}) }, isolation: isolation as GatewayIsolation, telemetry: true, link: (conn) => broker.handleLocal(conn) })
    gateway?.on('exit', (e) => console.error(`gateway exited (${e.error ?? `code ${e.code}`}); restarting in ${e.restartInMs} ms`))
    gateway?.on('ready', (r) => r.starts > 1 && console.log(`gateway restarted (start ${r.starts})`))
    if (gateway) console.log(`gateway listening on fm/v1/jobs/submit${security.auth ? ' and fm/v1/jobs/submit/<name>' : ''} (in a ${gateway.isolation === 'worker' ? 'worker thread, linked to the broker in-process' : 'child process'}); requester id ${gatewayId} (agents: --accept-from ${gatewayId})`)
    let web: ConsoleServer | undefined
    try {
      web = values['no-console'] ? undefined : (await consoleOnPort(broker, httpPort, security.host, { alerts, ...(security.consoleCredentials ? { credentials: security.consoleCredentials } : {}) })).console
    } catch (err) {
      await gateway?.close()
      await broker.close()
      throw err
    }
    if (web) {
      console.log(consoleLine(web))
      if (!web.built) console.error(notBuiltWarning)
      web.alerts.on('raised', (a) => console.log(`alert    ${a.severity} ${a.kind}: ${a.message}`))
      web.alerts.on('resolved', (a) => console.log(`resolved ${a.kind}: ${a.subject}`))
    }
    const signal = await stopped
    console.log(`${signal}: shutting down`)
    process.off('SIGHUP', onHup)
    await web?.close()
    await gateway?.close()
    await broker.close()
    limitLog.stop()
    security.close()
    return 0
  },
}

function fractionOption(values: Record<string, unknown>, name: string): number | undefined {
  const raw = values[name]
  if (raw === undefined) return undefined
  const n = Number(raw)
  if (typeof raw !== 'string' || raw.trim() === '' || !Number.isFinite(n) || n < 0 || n > 1) throw new UsageError(`--${name} must be a fraction from 0 to 1 (got ${String(raw)})`)
  return n
}

function clusterBusOption(v: unknown): 'streams' | 'pubsub' | undefined {
  if (v === undefined) return undefined
  if (v !== 'streams' && v !== 'pubsub') throw new UsageError(`--cluster-bus must be streams or pubsub (got ${String(v)})`)
  return v
}
