/**
 * Where the time goes. Not a benchmark with targets: a tool for the analysis
 * behind them.
 *
 *   node --import tsx bench/diagnose.ts hops [aedes|mosquitto|mosquitto-nodelay] [N=1000]
 *     One job in flight through the gateway (sensor -> gateway -> agent ->
 *     gateway -> sensor), 3 agents as child processes (bench/probe-agent.ts),
 *     and a timestamp at every hop, from CLOCK_MONOTONIC in every process
 *     (FM_BENCH_AGENT_NODE_ARGS as for `load` profiles the probe agents).
 *
 *   node --cpu-prof --cpu-prof-dir=DIR --import tsx bench/diagnose.ts load [seconds=8]
 *     32 in flight through the requester library with 3 child-process agents,
 *     for CPU profiles; set FM_BENCH_AGENT_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR"
 *     to profile the agents too, then read them with bench/cpuprofile-summary.ts
 *     (--last SECONDS --per JOBS_PER_PROCESS).
 */
import { spawn } from 'node:child_process'
import { readdirSync, readFileSync } from 'node:fs'
import { join } from 'node:path'
import type { MqttClient } from 'mqtt'
import { startBroker } from '../broker/broker.ts'
import { startGateway } from '../market/gateway.ts'
import { startRequester } from '../market/requester.ts'
import { loadModule } from '../wasm-modules/index.ts'
import { spawnAgents } from '../test/support/agents.ts'
import { exitOnSignal, stopChild, trackChild } from '../test/support/child-processes.ts'
import { startMosquitto } from '../test/support/mosquitto.ts'
import { closeClient, plainClient } from '../test/support/mqtt-clients.ts'
import { ROOT } from '../test/support/paths.ts'
import { findProgram } from '../test/support/programs.ts'
import { tmpDir } from '../test/support/temp-dirs.ts'
import { descendants } from './cpu.ts'
import { publishModule } from './sensor-run.ts'
import { ms, summarize } from './summary.ts'
import { table } from './report.ts'

exitOnSignal()

const nowUs = () => Number(process.hrtime.bigint() / 1000n)
/**
 * The sensor's job id in a payload. Inside the mesh the gateway scopes it to its submitter
 * (`<id>@<scope>`, market/submit-scope.ts): marks of every hop are joined on the sensor's id.
 */
const idOf = (payload: Buffer | string) => /"id":"([^"@]+)(?:@[^"]*)?"/.exec(payload.toString())?.[1]
const mode = process.argv[2] ?? 'hops'
const echo = await loadModule('echo')
const input = Buffer.from('hello, edge')

if (mode === 'hops') {
  const brokerKind = process.argv[3] ?? 'aedes'
  const N = Number(process.argv[4] ?? 1000)
  let url: string
  let stopBroker: () => Promise<void>
  if (brokerKind === 'aedes') {
    const b = await startBroker({ port: 0, wsPort: false, host: '127.0.0.1' })
    url = b.url
    stopBroker = () => b.close()
  } else {
    const bin = findProgram('mosquitto')
    if (!bin) throw new Error('mosquitto: not installed')
    const m = await startMosquitto(bin, brokerKind === 'mosquitto-nodelay' ? 'set_tcp_nodelay true\n' : '')
    url = m.url
    stopBroker = () => m.stop()
  }
  const gateway = await startGateway({ broker: url })
  // FM_BENCH_AGENT_NODE_ARGS="--cpu-prof --cpu-prof-dir=DIR" profiles the probe agents (and their executors) too
  const agentNodeArgs = (process.env.FM_BENCH_AGENT_NODE_ARGS ?? '').split(' ').filter(Boolean)
  const probes = await Promise.all(
    [1, 2, 3].map(async (i) => {
      const child = trackChild(
        spawn(process.execPath, [...agentNodeArgs, '--import', 'tsx', join(ROOT, 'bench/probe-agent.ts'), url, tmpDir('fm-probe-'), `p${i}`], {
          cwd: ROOT,
          stdio: ['ignore', 'pipe', 'inherit'],
        }),
      )
      let out = ''
      child.stdout!.on('data', (d: Buffer) => (out += d.toString()))
      await new Promise<void>((resolve, reject) => {
        const t = setInterval(() => out.includes('online') && (clearInterval(t), resolve()), 20)
        child.once('exit', (c) => reject(new Error(`probe agent exited ${c}`)))
      })
      return { child, output: () => out }
    }),
  )
  await gateway.requester.directory.waitFor(3, 20_000)
  const module = await publishModule(url, echo)

  const marks = new Map<string, Record<string, number>>()
  const mark = (id: string | undefined, what: string, t = nowUs()) => {
    if (id === undefined) return
    let m = marks.get(id)
    if (!m) marks.set(id, (m = {}))
    m[what] ??= t
  }
  const gw = (gateway as unknown as { conn: { client: MqttClient } }).conn.client
  gw.on('packetreceive', (p) => {
    if (p.cmd !== 'publish') return
    if (p.topic === 'fm/v1/jobs/submit') mark(idOf(p.payload as Buffer), 'gwRecvSubmit')
    else if (p.topic.includes('/requesters/')) mark(idOf(p.payload as Buffer), 'gwRecvResult')
  })
  gw.on('packetsend', (p) => {
    if (p.cmd !== 'publish') return
    if (p.topic.endsWith('/jobs') && p.topic.startsWith('fm/v1/agents/')) mark(idOf(p.payload as Buffer | string), 'gwSentAssign')
    else if (p.topic.startsWith('sensors/')) mark(idOf(p.payload as Buffer | string), 'gwSentReply')
  })

  const sensor = await plainClient(url)
  const replyTo = 'sensors/diag/results'
  await sensor.subscribeAsync(replyTo, { qos: 0 })
  const one = (id: string) =>
    new Promise<void>((resolve) => {
      const on = (_t: string, p: Buffer) => {
        if (idOf(p) !== id) return
        mark(id, 'sensorRecv')
        sensor.off('message', on)
        resolve()
      }
      sensor.on('message', on)
      mark(id, 'sensorSend')
      sensor.publish('fm/v1/jobs/submit', JSON.stringify({ id, module, input: input.toString('base64'), replyTo }), { qos: 0 })
    })
  for (let i = 0; i < 300; i++) await one(`warm-${i}`)
  for (let i = 0; i < N; i++) await one(`job-${i}`)
  await closeClient(sensor)
  const presenceUs: number[] = []
  for (const p of probes) {
    await stopChild(p.child)
    const line = p.output().split('\n').find((l) => l.startsWith('{"probe"'))
    if (!line) continue
    const probe = JSON.parse(line) as { probe: Record<string, Record<string, number>>; presenceUs: number[] }
    presenceUs.push(...probe.presenceUs)
    for (const [id, m] of Object.entries(probe.probe)) {
      for (const [k, t] of Object.entries(m)) mark(id.split('@')[0], k, t)
    }
  }
  await gateway.close()
  await stopBroker()

  const hops: Array<[string, string, string]> = [
    ['sensor publish -> gateway has submit (broker)', 'sensorSend', 'gwRecvSubmit'],
    ['gateway: validate, lease, assign written', 'gwRecvSubmit', 'gwSentAssign'],
    ['assign: broker -> agent process has it', 'gwSentAssign', 'agentRecv'],
    ['agent: mqtt.js packet -> onAssign (PUBACK, emit)', 'agentRecv', 'onAssign'],
    ['agent: onAssign: decode, verify, nonce -> admitted', 'onAssign', 'admitted'],
    ['agent: admitted -> execute', 'admitted', 'execute'],
    ['agent: execute: checks, module.get -> run start', 'execute', 'runStart'],
    ['agent: run start -> IPC batch sent (turn end)', 'runStart', 'ipcSend'],
    ['agent: IPC: executor process runs, answers', 'ipcSend', 'ipcRecv'],
    ['agent: IPC answer -> run end', 'ipcRecv', 'runEnd'],
    ['agent: sha256 + JSON -> sign start', 'runEnd', 'signStart'],
    ['agent: ed25519 sign', 'signStart', 'signEnd'],
    ['agent: after sign -> publish called', 'signEnd', 'publish'],
    ['agent: publish -> outbox put', 'publish', 'storePut'],
    ['agent: outbox put -> its callback (at once; held: durable)', 'storePut', 'stored'],
    ['agent: outbox callback -> result written', 'stored', 'agentSent'],
    ['result: broker -> gateway has it', 'agentSent', 'gwRecvResult'],
    ['gateway: verify, answer written', 'gwRecvResult', 'gwSentReply'],
    ['reply: broker -> sensor has it', 'gwSentReply', 'sensorRecv'],
    ['TOTAL sensor round trip', 'sensorSend', 'sensorRecv'],
  ]
  const measured = [...marks].filter(([id]) => id.startsWith('job-')).map(([, m]) => m)
  const complete = measured.filter((m) => hops.every(([, a, b]) => m[a] !== undefined && m[b] !== undefined))
  const rows = hops.map(([label, a, b]) => {
    const s = summarize(complete.map((m) => ((m[b] as number) - (m[a] as number)) / 1000))
    return [label, ms(s.p50), ms(s.mean), ms(s.p99), ms(s.max)]
  })
  console.log(`hops, ${brokerKind}, 1 job in flight, ${complete.length} of ${N} jobs with every mark (ms; CLOCK_MONOTONIC across processes)`)
  console.log(table([['hop', 'p50', 'mean', 'p99', 'max'], ...rows]))
  const pr = summarize(presenceUs)
  if (pr.n > 0) console.log(`agent.presence() (per heartbeat/offer): ${pr.n} calls, p50 ${pr.p50.toFixed(1)} us, mean ${pr.mean.toFixed(1)} us, p99 ${pr.p99.toFixed(1)} us`)
  process.exit(0)
}

if (mode === 'load') {
  const seconds = Number(process.argv[3] ?? 8)
  const broker = await startBroker({ port: 0, wsPort: false, host: '127.0.0.1' })
  const agents = await spawnAgents(broker.url, 3)
  const requester = await startRequester({ broker: broker.url })
  await requester.directory.waitFor(3, 20_000)
  const module = await requester.publishModule(echo)
  let stop = false
  let counting = false
  let done = 0
  const per: Record<string, number> = {}
  const lane = async () => {
    while (!stop) {
      const r = await requester.submit({ module, input })
      if (counting) {
        done++
        per[r.agent ?? '-'] = (per[r.agent ?? '-'] ?? 0) + 1
      }
    }
  }
  const lanes = Array.from({ length: 32 }, lane)
  await new Promise((r) => setTimeout(r, 2000))
  const procs = [
    { label: 'bench (broker+requester)', pid: process.pid },
    ...agents.flatMap((a) => [{ label: a.name, pid: a.pid }, ...descendants(a.pid).map((pid) => ({ label: `${a.name} executor`, pid }))]),
  ]
  const before = procs.map((p) => threadTimes(p.pid))
  counting = true
  const t0 = performance.now()
  await new Promise((r) => setTimeout(r, seconds * 1000))
  counting = false
  const el = (performance.now() - t0) / 1000
  const after = procs.map((p) => threadTimes(p.pid))
  stop = true
  await Promise.all(lanes)
  console.log('cpu per job by thread (us, from /proc/PID/task/TID/stat; ctx = context switches per job, voluntary/involuntary):')
  const rows: string[][] = [['process', 'thread', 'cpu us/job', 'cores', 'ctx vol/job', 'ctx invol/job']]
  let total = 0
  procs.forEach((p, i) => {
    for (const [tid, a] of after[i] as Map<string, ThreadTime>) {
      const b = (before[i] as Map<string, ThreadTime>).get(tid) ?? { name: a.name, cpuMs: 0, vol: 0, invol: 0 }
      const cpu = a.cpuMs - b.cpuMs
      if (cpu < 10) continue
      total += cpu
      rows.push([p.label, a.name, ((cpu * 1000) / done).toFixed(0), (cpu / 1000 / el).toFixed(2), ((a.vol - b.vol) / done).toFixed(2), ((a.invol - b.invol) / done).toFixed(2)])
    }
  })
  rows.push(['total', '', ((total * 1000) / done).toFixed(0), (total / 1000 / el).toFixed(2), '', ''])
  console.log(table(rows))
  console.log(`load: ${done} jobs in ${el.toFixed(2)} s = ${(done / el).toFixed(0)} jobs/s; per agent ${agents.map((a) => `${a.name} (pid ${a.pid}) ${per[a.id] ?? 0}`).join(', ')}`)
  await requester.close()
  await Promise.all(agents.map((a) => a.stop()))
  await broker.close()
  process.exit(0)
}

interface ThreadTime {
  name: string
  cpuMs: number
  vol: number
  invol: number
}

/** CPU time and context switches of every thread of a process. */
function threadTimes(pid: number): Map<string, ThreadTime> {
  const out = new Map<string, ThreadTime>()
  for (const tid of readdirSync(`/proc/${pid}/task`)) {
    try {
      const stat = readFileSync(`/proc/${pid}/task/${tid}/stat`, 'utf8')
      const name = stat.slice(stat.indexOf('(') + 1, stat.lastIndexOf(')'))
      const f = stat.slice(stat.lastIndexOf(')') + 2).split(' ')
      const status = readFileSync(`/proc/${pid}/task/${tid}/status`, 'utf8')
      const vol = Number(/voluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0)
      const invol = Number(/nonvoluntary_ctxt_switches:\s+(\d+)/.exec(status)?.[1] ?? 0)
      out.set(tid, { name, cpuMs: (Number(f[11]) + Number(f[12])) * 10, vol, invol })
    } catch {
      // thread ended
    }
  }
  return out
}

console.error(`unknown mode ${mode}`)
process.exit(2)
