import { startGateway } from '../../market/gateway.ts'
import { requireString, untilSignal, type Command } from '../command.ts'

export const gatewayCommand: Command = {
  name: 'gateway',
  summary: 'the gateway alone: runs plain-MQTT jobs (fm/v1/jobs/submit) against any MQTT 3.1.1 broker',
  usage: `usage: fogmesh gateway --broker URL [--site NAME]

  --broker URL   the broker, e.g. mqtt://127.0.0.1:1883 (Mosquitto, EMQX, fogmesh broker)
  --site NAME    prefer agents labelled site=NAME`,
  options: { broker: { type: 'string' }, site: { type: 'string' } },
  async run(values) {
    const stopped = untilSignal() // before anything starts: a signal must never find us without a handler
    const broker = requireString(values, 'broker', 'the MQTT broker URL, e.g. mqtt://127.0.0.1:1883')
    const gateway = await startGateway({ broker, ...(typeof values.site === 'string' ? { site: values.site } : {}) })
    gateway.on('invalid', (e) => console.error(`invalid job (${e.code}): ${e.message}${e.answered ? '' : ' [no replyTo to answer]'}`))
    console.log(`gateway on ${broker}: listening on fm/v1/jobs/submit`)
    const timer = setInterval(() => {
      const s = gateway.stats()
      if (s.received > 0) console.log(`jobs: ${s.received} received, ${s.ok} ok, ${s.failed} failed, ${s.invalid} invalid, ${s.duplicates} duplicate, ${s.inFlight} in flight`)
    }, 10_000)
    timer.unref()
    const signal = await stopped
    console.log(`${signal}: shutting down`)
    clearInterval(timer)
    await gateway.close()
    return 0
  },
}
