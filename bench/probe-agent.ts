/**
 * An agent exactly as `fogmesh agent` starts it, plus timestamps at its hops,
 * for bench/diagnose.ts: assignment received (MQTT packet parsed), handler
 * entered, admitted (signature, expiry, nonce), execute entered, executor run start, the run batch
 * written to the executor's IPC channel and its answer read, run end, signing start and end,
 * publish called, the outbox's put and its durable callback, result written to the socket.
 * Times are CLOCK_MONOTONIC microseconds (process.hrtime), comparable across
 * the processes of one machine. On SIGTERM it prints one JSON line
 * `{"probe": {...per job id...}}` and leaves the mesh.
 *
 *   node --import tsx bench/probe-agent.ts BROKER_URL DATA_DIR NAME
 *
 * Diagnostics only: reaches into the agent's private fields.
 */
import type { ChildProcess } from 'node:child_process'
import type { MqttClient } from 'mqtt'
import { startAgent } from '../agent/agent.ts'
import type { Executor } from '../agent/engine/executor.ts'
import { readFrames } from '../agent/engine/executor/run-frames.ts'
import type { Signer } from '../protocol/signature.ts'

const [broker, dataDir, name] = process.argv.slice(2)
if (!broker || !dataDir || !name) {
  console.error('usage: probe-agent.ts BROKER_URL DATA_DIR NAME')
  process.exit(2)
}

export const nowUs = () => Number(process.hrtime.bigint() / 1000n)
const idOf = (payload: Buffer | string) => /"id":"([^"]+)"/.exec(payload.toString())?.[1]

type Marks = Record<string, number>
const jobs = new Map<string, Marks>()
const mark = (id: string | undefined, what: string) => {
  if (id === undefined) return
  let m = jobs.get(id)
  if (!m) jobs.set(id, (m = {}))
  m[what] ??= nowUs()
}

const agent = await startAgent({ broker, dataDir, name, acceptFrom: 'any' })
const inner = agent as unknown as {
  conn: { client: MqttClient }
  executor: Executor
  runner: { o: { signer: Signer }; execute(job: { id: string }): Promise<unknown> }
  onAssign(topic: string, payload: Buffer): void
}
const jobsTopic = `fm/v1/agents/${agent.id}/jobs`
let current: string | undefined
inner.conn.client.on('packetreceive', (p) => {
  if (p.cmd === 'publish' && p.topic === jobsTopic) mark(idOf(p.payload as Buffer), 'agentRecv')
})
inner.conn.client.on('packetsend', (p) => {
  if (p.cmd === 'publish' && p.topic.includes('/requesters/')) mark(idOf(p.payload as Buffer | string), 'agentSent')
})
// the route handlers call this.onAssign / this.execute at call time, so instance properties take over
const onAssign = inner.onAssign.bind(agent)
inner.onAssign = (topic, payload) => {
  mark(idOf(payload), 'onAssign')
  onAssign(topic, payload)
}
// presence() runs on every assignment (agent.ts execute: ineligibility(this.presence(), ...)); time it
const presence = agent.presence.bind(agent)
const presenceTimes: number[] = []
agent.presence = () => {
  const t = process.hrtime.bigint()
  const p = presence()
  presenceTimes.push(Number(process.hrtime.bigint() - t) / 1000)
  return p
}
const execute = inner.runner.execute.bind(inner.runner)
inner.runner.execute = (job) => {
  mark(job.id, 'execute')
  return execute(job)
}
const run = inner.executor.run.bind(inner.executor)
inner.executor.run = async (req) => {
  mark(req.jobId, 'runStart')
  const out = await run(req)
  mark(req.jobId, 'runEnd')
  current = req.jobId // signing follows in the same tick (one job in flight)
  return out
}
// the executor process's IPC: the batch written to the channel, and the answer read from it
const pe = inner.executor as unknown as { child?: ChildProcess; pending?: Map<number, { request: { jobId: string } }> }
if (pe.child && pe.pending) {
  const child = pe.child
  const pending = pe.pending
  const send = child.send.bind(child) as (m: unknown) => boolean
  // runs and answers cross as binary frames (agent/engine/executor/run-frames.ts), control messages as arrays
  ;(child as { send: (m: unknown) => boolean }).send = (message) => {
    if (message instanceof Uint8Array) readFrames(message, { run: (_n, r) => mark(r.jobId, 'ipcSend'), done: () => {} })
    return send(message)
  }
  child.prependListener('message', (message: unknown) => {
    if (message instanceof Uint8Array) readFrames(message, { run: () => {}, done: (n) => mark(pending.get(n)?.request.jobId, 'ipcRecv') })
  })
}
// the result's way out: publish called, the outbox's put (mqtt.js waits for its callback: durable) and that callback
const conn = inner.conn as unknown as { publish(topic: string, payload: Buffer | string, o?: unknown): void }
const publish = conn.publish.bind(conn)
conn.publish = (topic, payload, o) => {
  if (topic.includes('/requesters/')) mark(idOf(payload), 'publish')
  publish(topic, payload, o)
}
const store = (inner.conn.client as unknown as { outgoingStore: { put(p: { cmd: string; payload?: Buffer | string }, cb: (e?: Error) => void): unknown } }).outgoingStore
const put = store.put.bind(store)
store.put = (packet, cb) => {
  const id = packet.cmd === 'publish' && packet.payload ? idOf(packet.payload) : undefined
  mark(id, 'storePut')
  return put(packet, (e) => {
    mark(id, 'stored')
    cb(e)
  })
}
const runAdmitted = (inner as unknown as { runAdmitted: (t: string, a: { job: { id: string } }) => void }).runAdmitted.bind(agent)
;(inner as unknown as { runAdmitted: (t: string, a: { job: { id: string } }) => void }).runAdmitted = (t, a) => {
  mark(a.job.id, 'admitted')
  runAdmitted(t, a)
}
const signer = inner.runner.o.signer
const sign = signer.sign.bind(signer)
;(signer as { sign: Signer['sign'] }).sign = (m) => {
  mark(current, 'signStart')
  const s = sign(m)
  mark(current, 'signEnd')
  return s
}

console.log(`agent ${agent.id} "${name}" online (probe)`)
process.on('SIGTERM', async () => {
  process.stdout.write(`${JSON.stringify({ probe: Object.fromEntries(jobs), presenceUs: presenceTimes })}\n`)
  await agent.close({ graceMs: 500 })
  process.exit(0)
})
