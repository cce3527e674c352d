import { startBroker } from '../../broker/broker.ts'
import { startGateway } from '../../market/gateway.ts'
import { loadOrCreateIdentityFile } from '../../protocol/identity.ts'
import { givenInt, intOption, requesterKeyFile, untilSignal, UsageError, withOptionNames, type Command } from '../command.ts'
import type { ConsoleServer } from '../../console/server.ts'
import { consoleLine, consoleOnPort, gatewayTelemetry, notBuiltWarning } from '../console.ts'

/** Where `fogmesh broker` differs from the library's defaults: it serves the LAN, and browsers on a fixed WebSocket port. */
const CLI_DEFAULTS = { host: '0.0.0.0', wsPort: 8083 }
/** Which flag sets which broker option, for errors that name the flag. */
const FLAGS = { port: '--port', wsPort: '--ws-port', host: '--host', maxPacketBytes: '--max-packet-bytes', maxModuleBytes: '--max-module-bytes' }

export const brokerCommand: Command = {
  name: 'broker',
  summary: 'the embedded MQTT broker (TCP and WebSocket), with the gateway inside it',
  usage: `usage: fogmesh broker [--port 1883] [--ws-port 8083] [--http-port 8080] [--host 0.0.0.0] [--no-gateway]

  --port P              MQTT over TCP (default 1883; 0 = any free port)
  --ws-port P           MQTT over WebSocket, for browsers (default 8083; 0 = any free port)
  --host H              interface to bind (default 0.0.0.0: devices on the LAN can join)
  --max-packet-bytes N  cap on any MQTT packet (default 2097152)
  --max-module-bytes N  cap on a module published to fm/v1/modules/# (default 16777216)
  --no-gateway          broker only; no plain-MQTT job handling
  --http-port P         the console (a live web page) and Prometheus /metrics (default 8080; 0 = any free port)
  --no-console          no HTTP port: no console, no /metrics
  --alert-error-rate F  raise error_rate when more than this fraction of a minute's jobs fail (default 0.05)
  --alert-channel-low F raise channel_low when less than this fraction of a channel's deposit is left (default 0.1)`,
  options: {
    port: { type: 'string' },
    'ws-port': { type: 'string' },
    host: { type: 'string' },
    'max-packet-bytes': { type: 'string' },
    'max-module-bytes': { type: 'string' },
    'no-gateway': { type: 'boolean' },
    'http-port': { type: 'string' },
    'no-console': { type: 'boolean' },
    'alert-error-rate': { type: 'string' },
    'alert-channel-low': { type: 'string' },
  },
  async run(values) {
    const stopped = untilSignal() // before anything starts: a signal must never find us without a handler
    const httpPort = intOption(values, 'http-port', 8080, 0, 65535)
    const alerts = { errorRate: fractionOption(values, 'alert-error-rate'), channelLow: fractionOption(values, 'alert-channel-low') }
    const broker = await withOptionNames(FLAGS, () =>
      startBroker({
        port: givenInt(values, 'port'),
        wsPort: givenInt(values, 'ws-port') ?? CLI_DEFAULTS.wsPort,
        host: typeof values.host === 'string' ? values.host : CLI_DEFAULTS.host,
        maxPacketBytes: givenInt(values, 'max-packet-bytes'),
        maxModuleBytes: givenInt(values, 'max-module-bytes'),
      }),
    )
    broker.on('violation', (v) => console.error(`packet cap: ${v.remote} declared ${v.declaredBytes} bytes (cap ${v.capBytes}); connection closed`))
    broker.on('moduleRejected', (m) => console.error(`module refused from ${m.clientId}: ${m.reason}`))
    console.log(`broker  ${broker.url}  ${broker.wsUrl ?? ''}`)
    // the gateway signs its assignments with a key kept in $FOGMESH_HOME/gateway: agents list its id in --accept-from
    const gateway = values['no-gateway'] ? undefined : await startGateway({ broker: broker.url, identity: loadOrCreateIdentityFile(requesterKeyFile('gateway'), 'fogmesh-requester-identity') })
    if (gateway) console.log(`gateway listening on fm/v1/jobs/submit; requester id ${gateway.id} (agents: --accept-from ${gateway.id})`)
    const telemetry = gateway ? gatewayTelemetry(gateway) : undefined
    let web: ConsoleServer | undefined
    try {
      web = values['no-console'] ? undefined : (await consoleOnPort(broker, httpPort, typeof values.host === 'string' ? values.host : '0.0.0.0', { alerts })).console
    } catch (err) {
      telemetry?.stop()
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
    telemetry?.stop()
    await web?.close()
    await gateway?.close()
    await broker.close()
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
