import { startBroker } from '../../broker/broker.ts'
import { startGateway } from '../../market/gateway.ts'
import { intOption, untilSignal, type Command } from '../command.ts'
import { SECURITY_OPTIONS, SECURITY_USAGE, securityFromOptions } from '../broker-security.ts'

export const brokerCommand: Command = {
  name: 'broker',
  summary: 'the embedded MQTT broker (TCP and WebSocket), with the gateway inside it',
  usage: `usage: fogmesh broker [--port 1883] [--ws-port 8083] [--host H] [--no-gateway] [--auth FILE [--agents MODE]] [--tls-cert C --tls-key K]

  --port P              MQTT over TCP (default 1883; 0 = any free port)
  --ws-port P           MQTT over WebSocket, for browsers (default 8083; 0 = any free port)
  --host H              interface to bind (default 0.0.0.0 with --auth: devices on the LAN can join;
                        127.0.0.1 without)
  --max-packet-bytes N  cap on any MQTT packet (default 2097152)
  --max-module-bytes N  cap on a module published to fm/v1/modules/# (default 16777216)
  --no-gateway          broker only; no plain-MQTT job handling
${SECURITY_USAGE}

  SIGHUP re-reads the credentials file.`,
  options: {
    port: { type: 'string' },
    'ws-port': { type: 'string' },
    host: { type: 'string' },
    'max-packet-bytes': { type: 'string' },
    'max-module-bytes': { type: 'string' },
    'no-gateway': { type: 'boolean' },
    ...SECURITY_OPTIONS,
  },
  async run(values) {
    const stopped = untilSignal() // before anything starts: a signal must never find us without a handler
    const security = await securityFromOptions(values, !values['no-gateway'])
    const broker = await startBroker({
      auth: security.auth,
      allowAnonymous: security.allowAnonymous,
      tls: security.tls,
      port: intOption(values, 'port', 1883, 0, 65535),
      wsPort: intOption(values, 'ws-port', 8083, 0, 65535),
      host: security.host,
      maxPacketBytes: intOption(values, 'max-packet-bytes', 2 * 1024 * 1024, 1024),
      maxModuleBytes: intOption(values, 'max-module-bytes', 16 * 1024 * 1024, 1024),
    })
    broker.on('violation', (v) => console.error(`packet cap: ${v.remote} declared ${v.declaredBytes} bytes (cap ${v.capBytes}); connection closed`))
    broker.on('moduleRejected', (m) => console.error(`module refused from ${m.clientId}: ${m.reason}`))
    security.auth?.on('authRefused', (r) => console.error(`refused ${r.username || 'anonymous'} (${r.clientId}) from ${r.remote}: ${r.message}`))
    security.auth?.on('denied', (d) => console.error(`denied ${d.kind} ${d.name}: ${d.action} ${d.topic}`))
    security.auth?.on('limit', (l) => console.error(`limit ${l.limit} (${l.value}) reached`))
    const onHup = () => console.log(security.reload())
    process.on('SIGHUP', onHup)
    console.log(`broker  ${broker.url}  ${broker.wsUrl ?? ''}`)
    for (const line of security.lines) console.log(line)
    const gateway = values['no-gateway'] ? undefined : await startGateway({ broker: broker.url, ...(security.gatewayCredentials ? { credentials: security.gatewayCredentials } : {}) })
    if (gateway) console.log(`gateway listening on fm/v1/jobs/submit${security.auth ? ' and fm/v1/jobs/submit/<name>' : ''}`)
    const signal = await stopped
    console.log(`${signal}: shutting down`)
    process.off('SIGHUP', onHup)
    await gateway?.close()
    await broker.close()
    security.close()
    return 0
  },
}
