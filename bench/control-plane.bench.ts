/**
 * What the signed control plane and sealed payloads cost per job, against
 * the plain path in the same run.
 *
 * 1. CPU per job on one thread — everything the requester and the agent do
 *    for one job besides running the module and moving bytes over MQTT:
 *      unsigned   the path before issue 8: the assignment as plain JSON, parsed
 *                 and checked by the agent, the input hashed, the result signed
 *                 by the agent and verified by the requester (what both paths share);
 *      signed     + the requester signs the assignment (canonical JSON, ed25519),
 *                 the agent admits it (signature, expiry, nonce window);
 *      sealed     + the input sealed to the agent and opened there, the output
 *                 sealed back and opened (X25519 shared secret cached per peer,
 *                 HKDF-SHA256, ChaCha20-Poly1305), salted hashes.
 *    Bids are per auction, not per job (a lease carries thousands of jobs);
 *    their signing and checking is shown per bid.
 * 2. End to end — one requester, one in-process agent, the embedded broker,
 *    jobs one after another: plain (signed) against sealed, p50 and jobs/s.
 *
 *   node --import tsx bench/control-plane.bench.ts [seconds per CPU case=1.5] [jobs end to end=400]
 */
import { createHash, randomBytes } from 'node:crypto'
import { Admission } from '../agent/admission.ts'
import { startAgent } from '../agent/agent.ts'
import { startBroker } from '../broker/broker.ts'
import { startRequester } from '../market/requester.ts'
import { verifyAgainst } from '../market/verify-result.ts'
import { signAssignment } from '../protocol/assignment.ts'
import { bidSignedBy, signBid } from '../protocol/bid-signature.ts'
import { systemClock } from '../protocol/clock.ts'
import { ephemeralIdentity } from '../protocol/identity.ts'
import { assignSchema, inboxSchema, MAX_INPUT_BYTES, requestedLimitsSchema, type Result } from '../protocol/messages.ts'
import { frameSalted, jobSealContext, SALT_BYTES, Sealer, unframeSalted } from '../protocol/seal.ts'
import { signResult } from '../protocol/signature.ts'
import { base64Bytes, decodeJson, id, meshJobId, number, object, optional, publishTopic, sha256Hex } from '../protocol/validate.ts'
import { echo } from '../test/fixtures/engine/modules.ts'
import { tmpDir } from '../test/support/temp-dirs.ts'
import { header, table, target } from './report.ts'
import { int, ms, ratio, summarize } from './summary.ts'

const SECONDS = Number(process.argv[2] ?? 1.5)
const E2E_JOBS = Number(process.argv[3] ?? 400)
if (!(SECONDS > 0) || !(E2E_JOBS >= 20)) throw new Error('usage: control-plane.bench.ts [seconds per CPU case > 0] [jobs end to end >= 20]')
const WARM_S = 0.3

header('fogmesh control plane: signed assignments and bids, sealed payloads — cost per job', [
  `CPU cases: ${WARM_S} s warm-up, then ${SECONDS} s each on one thread; end to end: ${E2E_JOBS} sequential jobs per case`,
])

/**
 * CPU µs (this process's user + system time, not wall time: a machine shared with other work
 * slows the clock, not the CPU a job costs) per call of each case; the cases run interleaved
 * in short slices and each keeps its median slice.
 */
async function measureAll<K extends string>(cases: Record<K, (i: number) => unknown>): Promise<Record<K, number>> {
  let sink: unknown
  const cpu = () => {
    const u = process.cpuUsage()
    return u.user + u.system
  }
  // awaited: the admission is async, and what follows it (the result signed and checked) must fall in the slice
  const slice = async (fn: (i: number) => unknown, s: number) => {
    const end = performance.now() + s * 1000
    let n = 0
    const c0 = cpu()
    while (performance.now() < end) for (let k = 0; k < 4; k++) sink = await fn(n++)
    return (cpu() - c0) / n
  }
  const names = Object.keys(cases) as K[]
  for (const k of names) await slice(cases[k], WARM_S)
  const slices = Object.fromEntries(names.map((k) => [k, [] as number[]])) as Record<K, number[]>
  const rounds = Math.max(5, Math.round(SECONDS / 0.2))
  for (let r = 0; r < rounds; r++) for (const k of names) slices[k].push(await slice(cases[k], 0.2))
  if (sink === undefined) throw new Error('unreachable')
  return Object.fromEntries(names.map((k) => [k, summarize(slices[k]).p50])) as Record<K, number>
}
const measure = async (fn: (i: number) => unknown) => (await measureAll({ only: fn })).only

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')
const requester = ephemeralIdentity()
const agentId = ephemeralIdentity()
const MODULE = sha(Buffer.from('module'))
/** The assignment schema before issue 8: what the agent checked then. */
const unsignedAssign = object({
  id: meshJobId, attempt: number({ min: 1, max: 100, integer: true }), requester: id, replyTo: publishTopic, module: sha256Hex,
  input: base64Bytes(MAX_INPUT_BYTES), limits: optional(requestedLimitsSchema),
})

interface PerJob {
  unsigned: number
  signed: number
  sealed: number
}

function cpuPerJob(inputBytes: number): Promise<PerJob> {
  const input = randomBytes(inputBytes)
  const output = Buffer.from(input) // an echo
  const reqSealer = new Sealer(requester.box)
  const agentSealer = new Sealer(agentId.box)
  const admission = new Admission({ agentId: agentId.id, acceptFrom: [requester.id], clock: systemClock, nonceWindow: 50_000, maxSkewMs: 60_000, maxTtlMs: 3_700_000, sealer: agentSealer })
  // what both paths share: the agent hashes, signs the result; the requester parses and verifies it
  const answer = (jobId: string, inputSha256: string, out: Buffer, sealed?: { salt: Buffer }) => {
    const base = { type: 'result' as const, id: jobId, attempt: 1, agent: agentId.id, module: MODULE, inputSha256, status: 'ok' as const, fuel: 42, durationMs: 1 }
    const r = sealed
      ? { ...base, sealed: true, sealedOutput: agentSealer.seal(frameSalted(sealed.salt, out), requester.box.publicKeyHex, jobSealContext('result', jobId, agentId.id)), outputSha256: sha(frameSalted(sealed.salt, out)) }
      : { ...base, output: out.toString('base64'), outputSha256: sha(out) }
    return JSON.stringify({ ...r, signature: signResult(r, agentId.signer) })
  }
  const check = (wire: string, inputSha256: string, sealed?: { salt: Buffer; jobId: string }) => {
    const d = decodeJson(wire, inboxSchema)
    if (!d.ok || d.value.type !== 'result') throw new Error('bad result')
    const v = verifyAgainst(d.value as Result, {
      agent: agentId.id, publicKey: agentId.publicKeyHex, module: MODULE, inputSha256,
      ...(sealed ? { sealed: { salt: sealed.salt, open: (env: string) => reqSealer.open(env, agentId.box.publicKeyHex, jobSealContext('result', sealed.jobId, agentId.id)) } } : {}),
    })
    if (!v.ok) throw new Error(v.reason)
    return v.output
  }
  const unsigned = (i: number) => {
    const jobId = `job-${i}@s1`
    const wire = JSON.stringify({ id: jobId, attempt: 1, requester: 'r1', replyTo: 'fm/v1/requesters/r1/inbox', module: MODULE, input: input.toString('base64') })
    const d = decodeJson(wire, unsignedAssign)
    if (!d.ok) throw d.error
    const inSha = sha(d.value.input)
    return check(answer(jobId, inSha, output), inSha)
  }
  const signed = (i: number) => {
    const jobId = `job-${i}@s1`
    const inSha = sha(input)
    const wire = JSON.stringify(signAssignment({
      id: jobId, attempt: 1, requester: 'r1', replyTo: 'fm/v1/requesters/r1/inbox', module: MODULE, inputSha256: inSha, agent: agentId.id,
      requesterKey: requester.publicKeyHex, nonce: randomBytes(16).toString('hex'), expiresAt: Date.now() + 13_000, input: input.toString('base64'),
    }, requester.signer))
    const d = decodeJson(wire, assignSchema, MAX_INPUT_BYTES * 2)
    if (!d.ok) throw d.error
    return admission.admit(d.raw as Record<string, unknown>, d.value).then((v) => {
      if (!v.ok) throw new Error(v.reason)
      return check(answer(jobId, sha(v.admitted.job.input), output), inSha)
    })
  }
  const sealed = (i: number) => {
    const jobId = `job-${i}@s1`
    const salt = randomBytes(SALT_BYTES)
    const framed = frameSalted(salt, input)
    const commitment = sha(framed)
    const wire = JSON.stringify(signAssignment({
      id: jobId, attempt: 1, requester: 'r1', replyTo: 'fm/v1/requesters/r1/inbox', module: MODULE, inputSha256: commitment, agent: agentId.id,
      requesterKey: requester.publicKeyHex, nonce: randomBytes(16).toString('hex'), expiresAt: Date.now() + 13_000,
      sealedInput: reqSealer.seal(framed, agentId.box.publicKeyHex, jobSealContext('assign', jobId, agentId.id)), replyKey: requester.box.publicKeyHex,
    }, requester.signer))
    const d = decodeJson(wire, assignSchema, MAX_INPUT_BYTES * 2)
    if (!d.ok) throw d.error
    return admission.admit(d.raw as Record<string, unknown>, d.value).then((v) => {
      if (!v.ok) throw new Error(v.reason)
      const out = check(answer(jobId, commitment, v.admitted.job.input, { salt: v.admitted.salt! }), commitment, { salt, jobId })
      if (!out || out.length !== input.length) throw new Error('sealed output lost')
      unframeSalted(framed)
      return out
    })
  }
  return measureAll({ unsigned, signed, sealed })
}

console.log('-- 1. CPU per job, requester + agent together, one thread (CPU µs) --')
const rows: string[][] = [['input', 'unsigned (before)', 'signed', 'sealed', 'signed / unsigned', 'sealed / unsigned', 'sealed / signed']]
const perSize = new Map<number, PerJob>()
for (const size of [64, 1024, 65_536]) {
  const c = await cpuPerJob(size)
  perSize.set(size, c)
  rows.push([`${size} B`, ms(c.unsigned), ms(c.signed), ms(c.sealed), ratio(c.signed, c.unsigned), ratio(c.sealed, c.unsigned), ratio(c.sealed, c.signed)])
}
console.log(table(rows))

const bidUs = await measure((i) => {
  const bid = signBid({ type: 'bid', offerId: `o${i}`, agent: agentId.id, price: 1, load: { running: 0, queued: 0 }, slots: 4, leaseMs: 30_000 }, agentId.signer)
  const d = decodeJson(JSON.stringify(bid), inboxSchema)
  return d.ok && bidSignedBy(d.raw as Record<string, unknown>, agentId.publicKeyHex)
})
console.log(`\nsigned bid: ${ms(bidUs)} µs to sign, send as JSON, parse and verify (once per agent per auction; a 30 s lease at 100 jobs/s spreads it over 3,000 jobs)\n`)

console.log('-- 2. end to end: requester → embedded broker → one in-process agent → requester, sequential --')
const broker = await startBroker({ port: 0, wsPort: 0, host: '127.0.0.1' })
const agent = await startAgent({ broker: broker.url, dataDir: tmpDir('fm-bench-cp-'), name: 'cp', slots: 2, acceptFrom: 'any', isolation: 'thread' })
const r = await startRequester({ broker: broker.url })
await r.directory.waitFor(1, 5000)
const module = await r.publishModule(echo().bytes)
const input = Buffer.from(`window=60\n${Array.from({ length: 60 }, (_, i) => (21 + Math.sin(i / 9) * 3).toFixed(2)).join('\n')}\n`)
const lat = { plain: [] as number[], sealed: [] as number[] }
const busy = { plain: 0, sealed: 0 }
const cpuUs = { plain: 0, sealed: 0 }
// blocks of 20 jobs, alternating, after a warm-up of both: load from elsewhere falls on both alike
for (let block = -2; block < (2 * E2E_JOBS) / 20; block++) {
  const kind = block % 2 === 0 ? 'plain' : 'sealed'
  const t0 = performance.now()
  const c0 = process.cpuUsage()
  for (let i = 0; i < 20; i++) {
    const a = await r.submit({ module, input, ...(kind === 'sealed' ? { sealed: true } : {}) })
    if (a.status !== 'ok') throw new Error(`${kind}: ${a.error?.code} ${a.error?.message}`)
    if (block >= 0) lat[kind].push(a.latencyMs)
  }
  if (block >= 0) {
    busy[kind] += performance.now() - t0
    const c = process.cpuUsage(c0)
    cpuUs[kind] += c.user + c.system
  }
}
const e2e = {
  'plain (signed)': { p50: summarize(lat.plain).p50, perSec: (lat.plain.length / busy.plain) * 1000, cpuMs: cpuUs.plain / lat.plain.length / 1000 },
  sealed: { p50: summarize(lat.sealed).p50, perSec: (lat.sealed.length / busy.sealed) * 1000, cpuMs: cpuUs.sealed / lat.sealed.length / 1000 },
}
await r.close()
await agent.close({ graceMs: 500 })
await broker.close()
const plain = e2e['plain (signed)']!
const sealedE2e = e2e.sealed!
console.log(table([
  ['path', 'p50 ms', 'jobs/s', 'CPU ms/job'],
  ['plain (signed)', ms(plain.p50), int(plain.perSec), ms(plain.cpuMs)],
  ['sealed', ms(sealedE2e.p50), int(sealedE2e.perSec), ms(sealedE2e.cpuMs)],
  ['sealed / plain', ratio(sealedE2e.p50, plain.p50), ratio(sealedE2e.perSec, plain.perSec), ratio(sealedE2e.cpuMs, plain.cpuMs)],
]))
console.log(`(input ${input.length} B; echo module; requester, broker and agent (executor in threads) in this process: CPU is all of theirs; both paths sign every assignment and result)\n`)

const small = perSize.get(1024)!
target('signing assignments adds at most 0.5 ms CPU per job (1 KiB input)', `+${ms(small.signed - small.unsigned)} µs (${ratio(small.signed, small.unsigned)} of the unsigned path's control-plane CPU)`, (small.signed - small.unsigned) <= 500)
target('sealing adds at most 0.5 ms CPU per job (1 KiB input)', `+${ms(small.sealed - small.signed)} µs over signed`, (small.sealed - small.signed) <= 500)
target('sealed end to end within 1.5x of plain in CPU per job', `${ms(sealedE2e.cpuMs)} ms vs ${ms(plain.cpuMs)} ms (${ratio(sealedE2e.cpuMs, plain.cpuMs)}); p50 ${ms(sealedE2e.p50)} vs ${ms(plain.p50)} ms`, sealedE2e.cpuMs <= 1.5 * plain.cpuMs)
process.exit(0)
