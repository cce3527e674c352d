/**
 * The agent process's own CPU per job on the job path, without a broker, mqtt.js or an executor
 * process — the part bench/throughput.bench.ts's per-agent split cannot tell from its executor
 * and from a loaded machine's noise. Everything in this one process:
 *
 * 1. agent: a real Agent (agent/agent.ts) on an in-memory bus (protocol/transport/memory-bus.ts)
 *    with a stub executor that echoes at once. A requester identity signs the assignments in
 *    batches of BURST (its BatchSigner, as one turn of submits), made before the clock starts;
 *    then, burst after burst, the BURST wire assignments go to the agent's job topic and the
 *    bench waits for their BURST results — intake (decode, validation, signature and batch proof,
 *    input hash, nonce window and journal), the runner, the result's batch signature,
 *    serialization and publish, as the agent does them for a real burst.
 * 2. outbox: the agent's on-disk outbox (agent/outbox.ts) takes the results of 1. as mqtt.js
 *    hands it QoS 1 publishes — a burst put, then its PUBACKs (deletes) — with its group commit.
 * 3. bus: the in-memory bus alone, BURST messages to an echoing client and back (what 1. costs
 *    that is not the agent's).
 *
 * CPU is process.cpuUsage() (user + system, all threads) per job; compare runs back to back.
 *
 *   node --import tsx bench/agent-path.bench.ts [jobs=20000] [burst=8]
 */
import { createHash } from 'node:crypto'
import { mkdirSync, writeFileSync } from 'node:fs'
import { join } from 'node:path'
import type { Packet } from 'mqtt-packet'
import { startAgent } from '../agent/agent.ts'
import type { Executor, ModuleInfo, RunOutcome, RunRequest } from '../agent/engine/executor.ts'
import { Outbox } from '../agent/outbox.ts'
import { signAssignmentBatched, type AssignmentFields } from '../protocol/assignment.ts'
import { BatchSigner } from '../protocol/batch-signer.ts'
import { ephemeralIdentity } from '../protocol/identity.ts'
import { topics } from '../protocol/topics.ts'
import { MemoryBus } from '../protocol/transport/memory-bus.ts'
import { tmpDir } from '../test/support/temp-dirs.ts'
import { header, table } from './report.ts'

const JOBS = Number(process.argv[2] ?? 20_000)
const BURST = Number(process.argv[3] ?? 8)
const ROUNDS = Math.ceil(JOBS / BURST)
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

header('fogmesh agent path: the agent process\'s own CPU per job', [
  `${ROUNDS * BURST} jobs in bursts of ${BURST} (one requester batch each), 11-byte input, a stub executor echoing at once; in-memory bus`,
])

const stub: Executor = {
  slots: 2,
  load: async (sha256: string): Promise<ModuleInfo> => ({ sha256, kind: 'wasi-command', imports: [] }),
  run: async (r: RunRequest): Promise<RunOutcome> => ({ status: 'ok', output: r.input, fuel: 1234, durationMs: 0.05 }),
  stats: () => ({ workers: 2, running: 0, queued: 0, completed: 0, failed: 0, restarts: 0 }),
  close: async () => {},
}

const cpu = (from: NodeJS.CpuUsage) => {
  const d = process.cpuUsage(from)
  return d.user + d.system
}

// ---- 1. the agent -----------------------------------------------------------------------------------

const bus = new MemoryBus()
const dataDir = tmpDir('fm-agent-path-')
const moduleBytes = Buffer.from('a module the stub executor never compiles')
const module = sha(moduleBytes)
mkdirSync(join(dataDir, 'modules'), { recursive: true })
writeFileSync(join(dataDir, 'modules', `${module}.wasm`), moduleBytes)
const agent = await startAgent({ broker: bus, name: 'p1', dataDir, acceptFrom: 'any', executor: stub, slots: 2, queueLimit: 4 * BURST })

const requester = ephemeralIdentity()
const signer = new BatchSigner('assign', requester.signer, { maxLeaves: Math.max(BURST, 1) })
const input = Buffer.from('hello, edge')
const inbox = 'fm/v1/requesters/bench/inbox'
const bursts: Buffer[][] = []
for (let r = 0; r < ROUNDS; r++) {
  const fields = Array.from({ length: BURST }, (_, i): AssignmentFields => ({
    id: `j${r}-${i}`, attempt: 1, requester: 'bench', replyTo: inbox, module, inputSha256: sha(input), agent: agent.id,
    requesterKey: requester.publicKeyHex, nonce: createHash('md5').update(`${r}:${i}`).digest('hex'), expiresAt: Date.now() + 600_000,
    input: input.toString('base64'), batchResults: true,
  }))
  const wire = await Promise.all(fields.map((f) => signAssignmentBatched(f, signer, BURST === 1)))
  bursts.push(wire.map((w) => Buffer.from(JSON.stringify(w))))
}

const client = await bus.connect({ clientId: 'bench-requester' })
let waiting: { left: number; done: () => void } | undefined
const results: Buffer[] = []
client.route(inbox, (_t, p) => {
  if (results.length < BURST * 64) results.push(p)
  if (waiting && --waiting.left === 0) waiting.done()
})
await client.subscribe(inbox, 1)
const jobTopic = topics.agentJobs(agent.id)
const burst = (payloads: Buffer[]) =>
  new Promise<void>((resolve) => {
    waiting = { left: payloads.length, done: resolve }
    for (const p of payloads) client.publish(jobTopic, p, { qos: 1 })
  })

// warm-up: the first tenth, untimed
const warm = Math.max(1, Math.floor(ROUNDS / 10))
for (let r = 0; r < warm; r++) await burst(bursts[r]!)
let t0 = process.cpuUsage()
let w0 = performance.now()
for (let r = warm; r < ROUNDS; r++) await burst(bursts[r]!)
const agentJobs = (ROUNDS - warm) * BURST
const agentUs = cpu(t0) / agentJobs
const agentWall = ((performance.now() - w0) * 1000) / agentJobs
const stats = agent.stats()
await agent.close({ graceMs: 1000 })
if (stats.jobsOk < ROUNDS * BURST) throw new Error(`the agent answered ${stats.jobsOk} of ${ROUNDS * BURST} jobs ok (rejected ${stats.rejectedMessages})`)

// ---- 2. the outbox ----------------------------------------------------------------------------------

const outbox = new Outbox(join(dataDir, 'bench-outbox.journal'))
let messageId = 0
const outboxRound = async () => {
  const ids: number[] = []
  for (let i = 0; i < BURST; i++) {
    const id = (messageId % 65_535) + 1
    messageId++
    ids.push(id)
    const payload = results[messageId % results.length]!
    outbox.put({ cmd: 'publish', messageId: id, topic: inbox, payload: payload.toString(), qos: 1, retain: false, dup: false } as unknown as Packet, () => {})
  }
  await new Promise((r) => setImmediate(r))
  for (const id of ids) outbox.del({ messageId: id }, () => {})
}
for (let r = 0; r < warm; r++) await outboxRound()
t0 = process.cpuUsage()
w0 = performance.now()
for (let r = warm; r < ROUNDS; r++) await outboxRound()
const outboxUs = cpu(t0) / agentJobs
const outboxWall = ((performance.now() - w0) * 1000) / agentJobs
await new Promise<void>((resolve) => outbox.close(() => resolve()))

// ---- 3. the bus alone -------------------------------------------------------------------------------

const echo = await bus.connect({ clientId: 'bench-echo' })
echo.route('bench/echo', (_t, p) => echo.publish(inbox, p, { qos: 1 }))
await echo.subscribe('bench/echo', 1)
const busBurst = (payloads: Buffer[]) =>
  new Promise<void>((resolve) => {
    waiting = { left: payloads.length, done: resolve }
    for (const p of payloads) client.publish('bench/echo', p, { qos: 1 })
  })
for (let r = 0; r < warm; r++) await busBurst(bursts[r]!)
t0 = process.cpuUsage()
for (let r = warm; r < ROUNDS; r++) await busBurst(bursts[r]!)
const busUs = cpu(t0) / agentJobs
await echo.close()
await client.close()

console.log(
  table([
    ['per job', 'cpu us', 'wall us'],
    ['1. agent: intake -> runner -> signed result published (in-memory bus)', agentUs.toFixed(1), agentWall.toFixed(1)],
    ['2. outbox: put + PUBACK delete, group commit', outboxUs.toFixed(1), outboxWall.toFixed(1)],
    ['3. in-memory bus alone (included in 1.)', busUs.toFixed(1), ''],
    ['agent path = 1. - 3. + 2.', (agentUs - busUs + outboxUs).toFixed(1), ''],
  ]),
)
process.exit(0)
