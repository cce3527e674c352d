import { readFileSync } from 'node:fs'
import { FogmeshError } from '../../protocol/errors.ts'
import { Bridge } from '../../firmware-bridge/bridge.ts'
import { parseConfigText } from '../../firmware-bridge/config.ts'
import { requireString, untilSignal, UsageError, type Command } from '../command.ts'
import { CREDENTIAL_OPTIONS, CREDENTIAL_USAGE, credentialsFromOptions } from '../client-credentials.ts'

export const bridgeCommand: Command = {
  name: 'bridge',
  summary: 'the firmware bridge: serial devices and GPIO to and from MQTT, guarded actuators, Sparkplug B',
  usage: `usage: fogmesh bridge --broker URL --config FILE [--quiet]

  --broker URL    the MQTT broker (mqtt://host:1883)
  --config FILE   the bridge's JSON config: serial devices, GPIO, actuators, Sparkplug
                  (example: firmware-bridge/examples/bridge.json; reference: firmware-bridge/README.md)
  --quiet         no line per reading (events and the periodic summary only)
${CREDENTIAL_USAGE}
                  (on a broker with --auth: a sensor named after the bridge, fogmesh auth add NAME --role sensor)

Readings go to <prefix>/readings/<device>/<sensor>; commands come in on
<prefix>/commands/<actuator>; <prefix> is fm/v1/bridge/<name> unless the
config sets topicPrefix. Ctrl-C puts every actuator at its safe value first.`,
  options: {
    broker: { type: 'string' },
    config: { type: 'string' },
    quiet: { type: 'boolean' },
    ...CREDENTIAL_OPTIONS,
  },
  async run(values) {
    const broker = requireString(values, 'broker', 'the MQTT broker URL (mqtt://host:1883)')
    const file = requireString(values, 'config', 'the bridge config file (see firmware-bridge/examples/bridge.json)')
    let text: string
    try {
      text = readFileSync(file, 'utf8')
    } catch (err) {
      throw new UsageError(`cannot read --config ${file}: ${(err as NodeJS.ErrnoException).code ?? (err as Error).message}`)
    }
    let config
    try {
      config = parseConfigText(text)
    } catch (err) {
      if (err instanceof FogmeshError) throw new UsageError(`${file}: ${err.shortMessage}`)
      throw err
    }
    const credentials = credentialsFromOptions(values)
    const stopped = untilSignal()
    const bridge = await Bridge.start({ broker, config, ...(credentials ? { credentials } : {}) })
    const quiet = values.quiet === true
    let readings = 0
    bridge.on('reading', (r) => {
      readings++
      if (!quiet) console.log(`reading   ${r.device}/${r.sensor} = ${JSON.stringify(r.value)}`)
    })
    bridge.on('drop', (d) => console.log(`dropped   ${d.device}: ${d.reason} (${d.bytes} bytes)`))
    bridge.on('device', (d) => console.log(`device    ${d.device} ${d.type}${d.detail ? `: ${d.detail}` : ''}`))
    bridge.on('gpio', (g) => console.log('error' in g ? `gpio      error: ${g.error}` : `gpio      ${g.input} = ${g.value}${g.bounces ? ` (${g.bounces} bounces absorbed)` : ''}`))
    bridge.on('sparkplug', (s) => console.log(`sparkplug ${s.type} (bdSeq ${s.bdSeq})`))
    bridge.on('actuator', (e) => {
      const detail = 'reason' in e ? e.reason : 'source' in e ? e.source : 'idleMs' in e ? `idle ${e.idleMs} ms` : ''
      const value = 'value' in e ? ` ${JSON.stringify(e.value)}` : 'safe' in e ? ` ${JSON.stringify(e.safe)}` : ''
      console.log(`actuator  ${e.actuator} ${e.type}${value}${detail ? ` (${detail})` : ''}${'error' in e ? `: ${e.error.message}` : ''}`)
    })
    console.log(`bridge    ${config.name} on ${broker}: ${config.serial.length} serial device(s), ${(config.gpio?.inputs?.length ?? 0) + (config.gpio?.outputs?.length ?? 0)} GPIO line(s), ${config.actuators?.length ?? 0} actuator(s)${config.sparkplug ? `, Sparkplug ${config.sparkplug.group}/${config.sparkplug.node}` : ''}`)
    for (const [name, d] of bridge.devices) console.log(`device    ${name} ${d.isOpen ? 'open' : 'waiting'} (${config.serial.find((s) => s.name === name)?.path ?? ''})`)
    for (const [name, a] of bridge.actuators) console.log(`actuator  ${name} at ${JSON.stringify(a.value ?? null)} (safe ${JSON.stringify(a.guards.safe)}${a.guards.watchdogMs ? `, watchdog ${a.guards.watchdogMs} ms` : ''})`)
    console.log(`readings  ${bridge.topics.readings('<device>')}/<sensor>`)
    console.log(`commands  ${bridge.topics.command('<actuator>')}`)
    const summary = setInterval(() => {
      const s = bridge.stats()
      const drops = Object.values(s.devices).reduce((n, d) => n + Object.values(d.drops).reduce((a, b) => a + b, 0), 0)
      console.log(`summary   ${readings} readings, ${drops} frames dropped, ${s.commandsIn} commands`)
    }, 10_000)
    const signal = await stopped
    clearInterval(summary)
    console.log(`${signal}: actuators to safe values, shutting down`)
    await bridge.close()
    return 0
  },
}
