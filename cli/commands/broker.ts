import { startBroker } from '../../broker/broker.ts'
import { superviseGateway, type GatewayIsolation } from '../../market/gateway-supervisor.ts'
import { GATEWAY_LIMIT_OPTIONS, GATEWAY_LIMIT_USAGE, LIMIT_OPTIONS, LIMIT_USAGE, gatewayLimitsFromOptions, limitsFromOptions } from '../broker-limit-options.ts'
import { limitLogger } from '../limit-log.ts'
import { UsageError, intOption, untilSignal, type Command } from '../command.ts'

export const brokerCommand: Command = {
  name: 'broker',
  summary: 'the embedded MQTT broker (TCP and WebSocket), with the gateway inside it',
  usage: `usage: fogmesh broker [--port 1883] [--ws-port 8083] [--host 0.0.0.0] [--no-gateway]

  --port P              MQTT over TCP (default 1883; 0 = any free port)
  --ws-port P           MQTT over WebSocket, for browsers (default 8083; 0 = any free port)
  --host H              interface to bind (default 0.0.0.0: devices on the LAN can join)
  --max-packet-bytes N  cap on any MQTT packet (default 2097152)
  --max-module-bytes N  cap on a module published to fm/v1/modules/# (default 16777216)
  --no-gateway          broker only; no plain-MQTT job handling
  --gateway-isolation I worker (default) or process: where the gateway runs, contained, restarted if it dies
${LIMIT_USAGE}
${GATEWAY_LIMIT_USAGE}`,
  options: {
    port: { type: 'string' },
    'ws-port': { type: 'string' },
    host: { type: 'string' },
    'max-packet-bytes': { type: 'string' },
    'max-module-bytes': { type: 'string' },
    'no-gateway': { type: 'boolean' },
    'gateway-isolation': { type: 'string' },
    ...LIMIT_OPTIONS,
    ...GATEWAY_LIMIT_OPTIONS,
  },
  async run(values) {
    const stopped = untilSignal() // before anything starts: a signal must never find us without a handler
    const isolation = values['gateway-isolation'] ?? 'worker'
    if (isolation !== 'worker' && isolation !== 'process') throw new UsageError(`--gateway-isolation must be worker or process (got ${String(isolation)})`)
    const gatewayConfig: Record<string, number> = {}
    const limits = limitsFromOptions(values, gatewayConfig)
    const gatewayLimits = gatewayLimitsFromOptions(values, gatewayConfig)
    const broker = await startBroker({
      limits,
      port: intOption(values, 'port', 1883, 0, 65535),
      wsPort: intOption(values, 'ws-port', 8083, 0, 65535),
      host: typeof values.host === 'string' ? values.host : '0.0.0.0',
      maxPacketBytes: intOption(values, 'max-packet-bytes', limits.maxPacketBytes, 1024),
      maxModuleBytes: intOption(values, 'max-module-bytes', limits.maxModuleBytes, 1024),
    })
    const limitLog = limitLogger((line) => console.error(line))
    broker.on('limit', limitLog.onLimit)
    broker.on('violation', (v) => limitLog.line('packet cap', `packet cap: ${v.remote} declared ${v.declaredBytes} bytes (cap ${v.capBytes}); connection closed`))
    broker.on('moduleRejected', (m) => console.error(`module refused from ${m.clientId}: ${m.reason}`))
    console.log(`broker  ${broker.url}  ${broker.wsUrl ?? ''}`)
    const gateway = values['no-gateway'] ? undefined : await superviseGateway({ gateway: { broker: broker.url, ...gatewayLimits }, isolation: isolation as GatewayIsolation })
    gateway?.on('exit', (e) => console.error(`gateway exited (${e.error ?? `code ${e.code}`}); restarting in ${e.restartInMs} ms`))
    gateway?.on('ready', (r) => r.starts > 1 && console.log(`gateway restarted (start ${r.starts})`))
    if (gateway) console.log(`gateway listening on fm/v1/jobs/submit (in a ${gateway.isolation === 'worker' ? 'worker thread' : 'child process'})`)
    const signal = await stopped
    console.log(`${signal}: shutting down`)
    await gateway?.close()
    await broker.close()
    limitLog.stop()
    return 0
  },
}
