import { homedir } from 'node:os'
import { parseUnits } from 'ethers'
import { join } from 'node:path'
import { startAgent, type Agent } from '../../agent/agent.ts'
import { startBroker, type Broker } from '../../broker/broker.ts'
import { startGateway } from '../../market/gateway.ts'
import { FogmeshError, PortInUseError } from '../../protocol/errors.ts'
import { ephemeralIdentity } from '../../protocol/identity.ts'
import { loadModule } from '../../wasm-modules/index.ts'
import { givenInt, intOption, untilSignal, withOptionNames, type Command } from '../command.ts'
import { fmtMs } from '../latency.ts'
import { MESH, startLocalChain, type LocalChain } from '../local-chain.ts'
import { SimulatedSensor } from '../sensor.ts'
import { AgentTelemetry } from '../../agent/telemetry.ts'
import { consoleLine, consoleOnPort, gatewayTelemetry, notBuiltWarning } from '../console.ts'
import { createBrokerAuth, type BrokerAuth } from '../../broker/auth/broker-auth.ts'
import { upCredentials } from '../up-credentials.ts'
import { publishModule } from './module-add.ts'

/** What an agent of `fogmesh up` asks per job: 10^-6 MESH. */
const PRICE = 1_000_000_000_000n

/** How often the agents of `fogmesh up` settle: far more often than a real agent would, so that payments show within seconds. */
const SETTLE_POLICY = { everyJobs: 100, everyMs: 5000 }

/**
 * The embedded broker on the library's defaults (loopback, WebSocket on any free port): MQTT on
 * `port` when the user gave one (taken: their error to fix, exit 2), else on the default port
 * or, if that is taken, on any free one.
 */
async function brokerOnPort(port: number | undefined, auth: BrokerAuth): Promise<{ broker: Broker; note?: string }> {
  if (port !== undefined) return { broker: await withOptionNames({ port: '--port' }, () => startBroker({ port, auth })) }
  try {
    return { broker: await startBroker({ auth }) }
  } catch (err) {
    if (!(err instanceof PortInUseError)) throw err
    const broker = await startBroker({ port: 0, auth })
    return { broker, note: `port ${err.port} is taken; using ${broker.port}` }
  }
}

export const upCommand: Command = {
  name: 'up',
  summary: 'the whole mesh on this machine: broker, gateway, agents and a sensor submitting real WASM jobs',
  usage: `usage: fogmesh up [--agents N] [--port P] [--http-port P] [--duration S] [--interval MS] [--no-chain]

  --agents N     agents to start (default 3)
  --port P       MQTT port of the embedded broker (default 1883, or a free one if 1883 is taken)
  --duration S   stop after S seconds, print a summary, exit 0 only if every job succeeded
  --interval MS  the sensor submits a job every MS milliseconds (default 100)
  --no-chain     no local chain: jobs are not paid for
  --http-port P  the console (live web page) and Prometheus /metrics (default 8080, or a free one if 8080 is taken)

  By default a local chain (anvil) is started, the contracts deployed, and the sensor's
  gateway pays each agent through a payment channel: a voucher per result, settled on chain
  by the agents every 100 jobs or 5 seconds.

  Its agents take work only from its gateway (signed assignments), and its gateway gives work
  to (and pays) only its own agents: any other agent that bids is refused, named at the end,
  and makes the run exit 1, as does any result that does not verify.

  Its broker runs with identities on: agents by key, the gateway, a deployer, the console and
  the sensor with credentials it writes to <data dir>/up/auth.json. While it runs, anonymous MQTT
  clients on this machine can read presence and submit on fm/v1/jobs/submit, e.g.:
    mosquitto_sub -t 'fm/v1/agents/+/presence' -v
  and the CLI can act as its gateway or deployer with the passwords in <data dir>/up/passwords.json.`,
  options: { agents: { type: 'string' }, port: { type: 'string' }, duration: { type: 'string' }, interval: { type: 'string' }, 'no-chain': { type: 'boolean' }, 'http-port': { type: 'string' } },
  async run(values) {
    const stopped = untilSignal() // before anything starts: a signal must never find us without a handler
    const nAgents = intOption(values, 'agents', 3, 1, 64)
    const duration = givenInt(values, 'duration', 1, 30 * 86400)
    const interval = intOption(values, 'interval', 100, 1, 3_600_000)
    const port = givenInt(values, 'port', 0, 65535) // every option checked before anything starts
    const httpPort = intOption(values, 'http-port', 8080, 0, 65535)
    const home = process.env.FOGMESH_HOME ?? join(homedir(), '.fogmesh')
    const wasm = await loadModule('rolling-stats')

    const chain = values['no-chain'] ? undefined : await startLocalChain(nAgents)
    /** What has started so far, to close (newest first) when a later part fails to start: nothing may keep the process alive. */
    const undo: Array<() => unknown> = []
    try {
      return await runMesh(chain)
    } catch (err) {
      for (const close of undo.reverse()) await Promise.resolve().then(close).catch(() => {})
      throw err
    } finally {
      await chain?.stop() // also when starting the rest failed: anvil must not outlive us
    }

    async function runMesh(chain: LocalChain | undefined): Promise<number> {
    if (chain) console.log(`chain    anvil ${chain.anvil.rpc} (chain ${chain.anvil.chainId}); PaymentChannels ${chain.mesh.addresses.channels}`)
    // a fresh journal per chain: anvil starts empty every time
    const agentDir = (i: number) => join(home, 'up', chain ? `agent-${i}-chain-${chain.anvil.port}` : `agent-${i}`)
    const creds = await upCredentials(home, Array.from({ length: nAgents }, (_, i) => agentDir(i + 1)), 'sensor-1')
    // its own clients authenticate (agents by key, allowlisted); anonymous clients on this machine keep the plain-MQTT path
    const auth = createBrokerAuth({ credentials: creds.store, agents: 'allowlist', anonymous: 'local' })
    const { broker, note } = await brokerOnPort(port, auth)
    if (note) console.log(note)
    console.log(`broker   ${broker.url}  (WebSocket ${broker.wsUrl})`)
    undo.push(() => broker.close())
    console.log(`auth     ${creds.file}: agents by key, up-gateway, up-deployer, up-console, sensor-1; anonymous clients from this machine may use fm/v1/jobs/submit`)
    console.log(`         passwords of up-gateway and up-deployer for fogmesh submit / module add --user: ${creds.passwordsFile}`)
    // the gateway's key first: its agents take work from it, and it gives work only to them
    const identity = ephemeralIdentity()
    const agents: Agent[] = []
    undo.push(() => Promise.all(agents.map((a) => a.close({ graceMs: 0 }))))
    const started = Date.now()
    for (let i = 1; i <= nAgents; i++) {
      const pay = chain?.agents[i - 1]
      agents.push(
        await startAgent({
          broker: broker.url,
          name: `agent-${i}`,
          acceptFrom: [identity.id],
          dataDir: agentDir(i),
          labels: { site: 'local', ...demoPlace(i) },
          ...(pay ? { pricePerJob: Number(PRICE), payment: { client: pay.client, wallet: pay.wallet, policy: SETTLE_POLICY } } : {}),
        }),
      )
    }
    const gateway = await startGateway({
      broker: broker.url,
      identity,
      credentials: creds.gateway,
      admit: agents.map((a) => a.id),
      ...(chain
        ? { payment: { client: chain.requester.client, privateKey: chain.requester.privateKey, budget: parseUnits('100', 18), deposit: PRICE * 10_000n } }
        : {}),
    })
    console.log(`gateway  ${gateway.id} listening on fm/v1/jobs/submit and fm/v1/jobs/submit/<name>`)
    undo.push(() => gateway.close())
    const telemetry = gatewayTelemetry(gateway)
    const { console: web, note: httpNote } = await consoleOnPort(broker, httpPort, '127.0.0.1', { fallback: values['http-port'] === undefined, credentials: creds.console })
    if (httpNote) console.log(httpNote)
    console.log(consoleLine(web))
    undo.push(() => web.close(), () => telemetry.stop())
    if (!web.built) console.error(notBuiltWarning)
    // who tried what: bids refused (not admitted, not signed by who they name), results that did not verify
    const intruders = new Map<string, { bids: number; reasons: Set<string> }>()
    const unverified = new Map<string, { refused: number; forged: number }>()
    gateway.requester.on('refusedBid', (b) => {
      let e = intruders.get(b.agent)
      if (!e) intruders.set(b.agent, (e = { bids: 0, reasons: new Set() }))
      e.bids++
      e.reasons.add(b.reason)
    })
    const count = (agent: string, k: 'refused' | 'forged') => {
      let e = unverified.get(agent)
      if (!e) unverified.set(agent, (e = { refused: 0, forged: 0 }))
      e[k]++
    }
    gateway.requester.on('refused', (f) => count(f.agent, 'refused'))
    gateway.requester.on('forged', (f) => count(f.agent, 'forged'))
    const agentTelemetry = agents.map((a) => new AgentTelemetry(a, a.connection).start())
    await gateway.requester.directory.waitFor(nAgents, 10_000)
    for (const a of agents) console.log(`agent    ${a.id}  ${a.name}  ${a.presence().capacity.slots} slots`)
    const module = await publishModule(broker.url, Buffer.from(wasm), creds.deployer)
    console.log(`module   rolling-stats ${module}  (${wasm.length} bytes)`)
    const sensor = await SimulatedSensor.start(broker.url, module, 'sensor-1', creds.sensor, gateway.publicKey)
    undo.push(() => sensor.close())
    console.log(`sensor   ${sensor.name} submits a job every ${interval} ms; ${duration ? `stopping after ${duration} s` : 'Ctrl-C stops'}`)
    console.log(`ready in ${Date.now() - started} ms\n`)
    undo.length = 0 // from here on, the normal stop below closes everything
    sensor.run(interval)

    const settled = () => {
      const s = { paid: 0n, settlements: 0, jobs: 0n, gas: 0n }
      for (const a of agents) {
        const st = a.stats().settlement
        if (!st) continue
        s.paid += st.paid
        s.settlements += st.settlements
        s.jobs += st.jobsSettled
        s.gas += st.gasUsed
      }
      return s
    }
    const paymentLine = () => {
      const s = settled()
      return `paid ${MESH(s.paid)} in ${s.settlements} settlements, ${s.jobs > 0n ? (s.gas / s.jobs).toString() : '-'} gas/job`
    }
    const tty = process.stdout.isTTY === true
    const line = () => {
      const r = sensor.report
      const online = gateway.requester.directory.list('online').length
      const l = r.latency
      return `agents ${online}/${nAgents} online | jobs ${r.ok} ok, ${r.failed} failed | p50 ${fmtMs(l.percentile(50))} p99 ${fmtMs(l.percentile(99))}${chain ? ` | ${paymentLine()}` : ''} | ${r.last ?? ''}`
    }
    const live = setInterval(() => {
      if (tty) process.stdout.write(`\r\x1b[2K${line().slice(0, (process.stdout.columns || 120) - 1)}`)
      else console.log(line())
    }, tty ? 250 : 1000)

    const stop = await Promise.race([
      stopped,
      ...(duration ? [new Promise<'duration'>((r) => setTimeout(() => r('duration'), duration * 1000))] : []),
    ])
    clearInterval(live)
    sensor.stop()
    await sensor.drain(3000)
    if (tty) process.stdout.write('\n')
    const r = sensor.report
    const elapsed = (Date.now() - started) / 1000
    console.log(`\n${stop === 'duration' ? `${duration} s done` : `${stop}: stopping`}`)
    console.log(`jobs      ${r.sent} sent, ${r.ok} ok, ${r.failed} failed, ${r.outstanding} unanswered`)
    console.log(`latency   p50 ${fmtMs(r.latency.percentile(50))}  p99 ${fmtMs(r.latency.percentile(99))}  max ${fmtMs(r.latency.max)}  (sensor publish to result, via the gateway)`)
    console.log(`agents    ${Object.entries(r.perAgent).map(([id, n]) => `${agents.find((a) => a.id === id)?.name ?? id}: ${n}`).join(', ') || '-'}`)
    if (Object.keys(r.errors).length) console.log(`errors    ${Object.entries(r.errors).map(([c, n]) => `${c}: ${n}`).join(', ')}`)
    console.log(`last      ${r.last ?? '-'}`)
    const nameOf = (id: string) => agents.find((a) => a.id === id)?.name ?? `${id} (not one of ours${gateway.requester.directory.get(id) ? `: "${gateway.requester.directory.get(id)!.presence.name}"` : ''})`
    for (const [id, n] of Object.entries(r.forged)) console.log(`forged    ${n} answers on the sensor's replyTo in the name of ${nameOf(id)} did not verify (ignored)`)
    for (const [id, e] of intruders) console.log(`refused   ${nameOf(id)}: ${e.bids} bids (${[...e.reasons].join(', ')}); not used, not paid`)
    for (const [id, e] of unverified) {
      if (e.refused) console.log(`refused   ${nameOf(id)}: ${e.refused} results it signed did not verify; not paid`)
      if (e.forged) console.log(`forged    ${e.forged} results in the name of ${nameOf(id)} did not verify (ignored; the real ones counted)`)
    }
    await sensor.close()
    if (chain) await gateway.requester.payer?.drain(3000)
    await Promise.all(agents.map((a) => a.close({ graceMs: 1000 }))) // agents settle what they are owed as they leave
    for (const t of agentTelemetry) t.stop()
    telemetry.stop()
    await web.close()
    if (chain) {
      const p = gateway.requester.payer!.stats()
      const s = settled()
      console.log(`payments  ${p.vouchers} vouchers for ${MESH(p.owed)}, ${MESH(p.acknowledged)} acknowledged; paid on chain ${MESH(s.paid)} for ${s.jobs} jobs in ${s.settlements} settlements, ${s.jobs > 0n ? s.gas / s.jobs : 0n} gas per job`)
    }
    await gateway.close()
    await broker.close()
    console.log(`uptime    ${elapsed.toFixed(1)} s`)
    if (r.ok === 0) throw new FogmeshError('agent_failed', 'no job succeeded')
    const attacked = intruders.size > 0 || unverified.size > 0 || Object.keys(r.forged).length > 0
    return r.failed === 0 && r.outstanding === 0 && !attacked ? 0 : 1
    }
  },
}

/** Where `up` puts its agents on the console's map: a few hundred metres apart. */
function demoPlace(i: number): { lat: string; lon: string } {
  const angle = (i * 2 * Math.PI) / 7
  return { lat: (52.52 + 0.004 * Math.sin(angle)).toFixed(5), lon: (13.405 + 0.006 * Math.cos(angle)).toFixed(5) }
}
