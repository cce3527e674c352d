import { startGateway } from '../../market/gateway.ts'
import { loadOrCreateIdentityFile } from '../../protocol/identity.ts'
import { GATEWAY_LIMIT_OPTIONS, GATEWAY_LIMIT_USAGE, gatewayLimitsFromOptions } from '../broker-limit-options.ts'
import { requesterKeyFile, requireString, untilSignal, UsageError, type Command } from '../command.ts'
import { PAYMENT_OPTIONS, paymentFromOptions } from '../wallet.ts'
import { verificationFromOptions, VERIFICATION_OPTIONS, VERIFICATION_USAGE } from '../verification-options.ts'
import { gatewayTelemetry } from '../console.ts'
import { CREDENTIAL_OPTIONS, CREDENTIAL_USAGE, credentialsFromOptions } from '../client-credentials.ts'

/** What a paying gateway locks in channels when the user says nothing (the payer takes both as given). */
const PAYMENT_DEFAULTS = { budget: 10n ** 20n, deposit: 10n ** 18n }

export const gatewayCommand: Command = {
  name: 'gateway',
  summary: 'the gateway alone: runs plain-MQTT jobs (fm/v1/jobs/submit) against any MQTT 3.1.1 broker',
  usage: `usage: fogmesh gateway --broker URL[,URL...] [--site NAME] [--data DIR] [--journal FILE]

  --broker URL   the broker, e.g. mqtt://127.0.0.1:1883 (Mosquitto, EMQX, fogmesh broker).
                 Mosquitto needs \`set_tcp_nodelay true\` in mosquitto.conf: without it every
                 job waits on delayed ACKs (88 ms per job instead of ~1.4 ms, measured).
                 Several brokers of one cluster as URL,URL,...: failover (the standby gateway of
                 a --cluster: its session lives in Redis, it reconnects to the next broker)
  --site NAME    prefer agents labelled site=NAME
  --data DIR     where its signing key lives (default ~/.fogmesh/gateway, or $FOGMESH_HOME/gateway);
                 its requester id (printed at start) is what agents list in --accept-from
  --journal FILE the job journal (market/job-journal.ts): a job is on disk before it is
                 acknowledged, answered once across restarts and broker failovers
  --rpc URL --channels ADDRESS --keystore FILE
                 pay agents through payment channels (password in $FOGMESH_KEYSTORE_PASSWORD)
  --budget N     most this gateway locks in channels, in token base units (default 10^20)
  --deposit N    deposit of each channel (default 10^18)
${VERIFICATION_USAGE}
${CREDENTIAL_USAGE}
                 (on a broker with --auth: a user with the gateway role; it answers
                 fm/v1/jobs/submit/<name> under fm/v1/replies/<name>/)
${GATEWAY_LIMIT_USAGE}`,
  options: { broker: { type: 'string' }, site: { type: 'string' }, data: { type: 'string' }, journal: { type: 'string' }, budget: { type: 'string' }, deposit: { type: 'string' }, ...PAYMENT_OPTIONS, ...VERIFICATION_OPTIONS, ...CREDENTIAL_OPTIONS, ...GATEWAY_LIMIT_OPTIONS },
  async run(values) {
    const stopped = untilSignal() // before anything starts: a signal must never find us without a handler
    const broker = requireString(values, 'broker', 'the MQTT broker URL, e.g. mqtt://127.0.0.1:1883')
    const bigOption = (name: string, fallback: bigint) => {
      const raw = values[name]
      if (raw === undefined) return fallback
      if (typeof raw !== 'string' || !/^[0-9]+$/.test(raw)) throw new UsageError(`--${name} must be a whole number of token base units`)
      return BigInt(raw)
    }
    const budget = bigOption('budget', PAYMENT_DEFAULTS.budget)
    const deposit = bigOption('deposit', PAYMENT_DEFAULTS.deposit)
    const payment = await paymentFromOptions(values)
    const identity = loadOrCreateIdentityFile(requesterKeyFile('gateway', values.data), 'fogmesh-requester-identity')
    const credentials = credentialsFromOptions(values)
    const verification = await verificationFromOptions(values)
    const gateway = await startGateway({
      broker,
      identity,
      verification: verification.options,
      ...(typeof values.journal === 'string' ? { journal: values.journal } : {}),
      ...gatewayLimitsFromOptions(values),
      ...(credentials ? { credentials } : {}),
      ...(typeof values.site === 'string' ? { site: values.site } : {}),
      ...(payment ? { payment: { ...payment, budget, deposit } } : {}),
    })
    gateway.on('invalid', (e) => console.error(`invalid job (${e.code}): ${e.message}${e.answered ? '' : ' [no replyTo to answer]'}`))
    console.log(`gateway on ${broker}: listening on fm/v1/jobs/submit`)
    console.log(`requester id ${identity.id} (agents take its jobs with --accept-from ${identity.id})`)
    for (const line of verification.describe(gateway.requester.verifier)) console.log(line)
    verification.watch(gateway.requester.verifier, (line) => console.log(line))
    const telemetry = gatewayTelemetry(gateway, typeof values.site === 'string' ? values.site : undefined) // job events and stats on fm/v1/telemetry/
    const timer = setInterval(() => {
      const s = gateway.stats()
      if (s.received > 0) console.log(`jobs: ${s.received} received, ${s.ok} ok, ${s.failed} failed, ${s.invalid} invalid, ${s.duplicates} duplicate, ${s.inFlight} in flight`)
    }, 10_000)
    timer.unref()
    const signal = await stopped
    console.log(`${signal}: shutting down`)
    clearInterval(timer)
    telemetry.stop()
    await gateway.close()
    verification.close()
    return 0
  },
}
