import { startBroker } from '../../broker/broker.ts'
import { startGateway } from '../../market/gateway.ts'
import { givenInt, untilSignal, withOptionNames, type Command } from '../command.ts'

/** Where `fogmesh broker` differs from the library's defaults: it serves the LAN, and browsers on a fixed WebSocket port. */
const CLI_DEFAULTS = { host: '0.0.0.0', wsPort: 8083 }
/** Which flag sets which broker option, for errors that name the flag. */
const FLAGS = { port: '--port', wsPort: '--ws-port', host: '--host', maxPacketBytes: '--max-packet-bytes', maxModuleBytes: '--max-module-bytes' }

export const brokerCommand: Command = {
  name: 'broker',
  summary: 'the embedded MQTT broker (TCP and WebSocket), with the gateway inside it',
  usage: `usage: fogmesh broker [--port 1883] [--ws-port 8083] [--host 0.0.0.0] [--no-gateway]

  --port P              MQTT over TCP (default 1883; 0 = any free port)
  --ws-port P           MQTT over WebSocket, for browsers (default 8083; 0 = any free port)
  --host H              interface to bind (default 0.0.0.0: devices on the LAN can join)
  --max-packet-bytes N  cap on any MQTT packet (default 2097152)
  --max-module-bytes N  cap on a module published to fm/v1/modules/# (default 16777216)
  --no-gateway          broker only; no plain-MQTT job handling`,
  options: {
    port: { type: 'string' },
    'ws-port': { type: 'string' },
    host: { type: 'string' },
    'max-packet-bytes': { type: 'string' },
    'max-module-bytes': { type: 'string' },
    'no-gateway': { type: 'boolean' },
  },
  async run(values) {
    const stopped = untilSignal() // before anything starts: a signal must never find us without a handler
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
    const gateway = values['no-gateway'] ? undefined : await startGateway({ broker: broker.url })
    if (gateway) console.log('gateway listening on fm/v1/jobs/submit')
    const signal = await stopped
    console.log(`${signal}: shutting down`)
    await gateway?.close()
    await broker.close()
    return 0
  },
}
