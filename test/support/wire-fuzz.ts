/**
 * Property-based fuzzing of every wire parser in protocol/: from a valid
 * sample of each message, a seeded RNG (test/support/rng.ts) derives
 * mutants — fields deleted, swapped for values of every JSON type, strings
 * grown huge or filled with control and astral characters, numbers at the
 * edges of doubles, objects nested deep, `__proto__`/`constructor` keys,
 * the serialized bytes truncated, bit-flipped or spliced — and checks the
 * properties the boundary promises:
 *
 *  1. a parser never throws: it returns a value or a FogmeshError whose code
 *     is one of ErrorCode's;
 *  2. what it accepts is stable: the value parses again to itself (JSON
 *     round trip), and stays within the schema's limits;
 *  3. a signature check never throws, and a signed statement still verifies
 *     only if its covered bytes did not change;
 *  4. a sealed envelope opens to the sealed bytes or fails with SealError,
 *     nothing else;
 *  5. topic parsers return undefined or exactly the id in the topic.
 *
 * `runWireFuzz(seed, iterations)` returns the failures (each with the seed
 * and iteration that reproduce it); protocol/wire-fuzz.test.ts runs a fixed
 * budget in CI, bench/fuzz.bench.ts a long one.
 */
import { canonicalJson } from '../../protocol/canonical-json.ts'
import { ErrorCode, FogmeshError } from '../../protocol/errors.ts'
import { checkForwarded, signForwarded } from '../../protocol/forwarded-result.ts'
import { identityFromSeed } from '../../protocol/identity.ts'
import {
  assignSchema, gatewayPresenceSchema, heartbeatSchema, inboxSchema, jobSubmitSchema, offerSchema, presenceSchema, wireVoucherSchema,
} from '../../protocol/messages.ts'
import { presenceSignedByItsAgent, signHeartbeat, signOffline, signOnline, heartbeatSignedBy } from '../../protocol/presence-signature.ts'
import { decodeModelFile, encodeModelFile } from '../../protocol/model-file.ts'
import { generateBoxKeyPair, SealError, Sealer } from '../../protocol/seal.ts'
import { statementBytes, verifyStatement } from '../../protocol/signed-statement.ts'
import { signAssignment, assignmentSignedByItsRequester } from '../../protocol/assignment.ts'
import { signBid, bidSignedBy } from '../../protocol/bid-signature.ts'
import { signResult, verifyResult } from '../../protocol/signature.ts'
import { signStreamControl, streamControlSignedByItsRequester } from '../../protocol/stream-control.ts'
import { streamControlSchema, streamStateSchema, streamSubmitSchema, windowResultSchema } from '../../protocol/streams.ts'
import { agentTelemetrySchema, alertsSchema, jobBatchSchema, parseTelemetryTopic, requesterStatsSchema, telemetryTopics } from '../../protocol/telemetry.ts'
import { parseAgentTopic, parseModuleTopic } from '../../protocol/topics.ts'
import { decodeJson, object, type Parser } from '../../protocol/validate.ts'
import { seededRandom, type SeededRandom } from './rng.ts'

const CODES = new Set<string>(Object.values(ErrorCode))
const ID = identityFromSeed(Buffer.alloc(32, 1))
const SHA = 'ab'.repeat(32)

/** Valid samples, one per message kind, as they travel. */
export function samples(): Array<{ name: string; schema: Parser<unknown>; value: Record<string, unknown>; signed?: { kind: Parameters<typeof verifyStatement>[0]; key: string; omit?: readonly string[]; sigField?: string } }> {
  const presence = signOnline({
    status: 'online', id: ID.id, name: 'a1', publicKey: ID.publicKeyHex, version: '0.1.0',
    capacity: { cores: 4, memoryMiB: 4096, arch: 'arm64', platform: 'linux', slots: 4 }, labels: { site: 'depot-3' }, price: { perJob: 1 },
    limits: { fuel: 1e12, memoryMiB: 256, timeoutMs: 60_000, outputBytes: 1 << 20, inputBytes: 1 << 20 },
    defaults: { fuel: 1e10, memoryMiB: 64, timeoutMs: 10_000, outputBytes: 1 << 20 }, load: { running: 0, queued: 0 }, heartbeatMs: 1000, since: 1,
    epoch: 7, seq: 3, boxKey: ID.box.publicKeyHex,
  }, ID.signer)
  const offline = signOffline({ status: 'offline', id: ID.id, name: 'a1', reason: 'lost', epoch: 7, publicKey: ID.publicKeyHex }, ID.signer)
  const beat = signHeartbeat({ id: ID.id, epoch: 7, seq: 9, load: { running: 1, queued: 2 } }, ID.signer)
  const bid = signBid({ type: 'bid', offerId: 'o1', agent: ID.id, price: 2, load: { running: 0, queued: 0 }, slots: 4, leaseMs: 30_000 }, ID.signer)
  const assign = signAssignment({
    id: 'j-1@s1', attempt: 1, requester: 'r1', replyTo: 'fm/v1/requesters/r1/inbox', module: SHA, inputSha256: SHA, agent: ID.id,
    requesterKey: ID.publicKeyHex, nonce: '0f'.repeat(16), expiresAt: 1_800_000_000_000, input: 'aGVsbG8=', limits: { timeoutMs: 500 },
  }, ID.signer) as unknown as Record<string, unknown>
  const r = { type: 'result' as const, id: 'j-1@s1', attempt: 1, agent: ID.id, module: SHA, inputSha256: SHA, status: 'ok' as const, output: 'aGVsbG8=', outputSha256: SHA, fuel: 7, durationMs: 1.5 }
  const result = { ...r, signature: signResult(r, ID.signer) }
  const forwarded = signForwarded({ id: 'j-1', jobId: 'j-1@s1', status: 'ok', output: 'aGVsbG8=', outputSha256: SHA, fuel: 7, agent: ID.id, signature: result.signature, module: SHA, inputSha256: SHA }, ID)
  const spec = { stream: 's0123456789abcdef01234567', id: 'st', module: SHA, source: 'sensors/+/t', window: { count: 3 }, replyTo: 'out/st', epoch: 0, limits: { timeoutMs: 50 } }
  const start = signStreamControl({ type: 'start', role: 'standby', spec, requester: 'r1', inbox: 'fm/v1/requesters/r1/streams' }, ID.id, ID, 1_800_000_000_000) as unknown as Record<string, unknown>
  const stop = signStreamControl({ type: 'stop', stream: spec.stream }, ID.id, ID, 1_800_000_000_000) as unknown as Record<string, unknown>
  const w = { type: 'result' as const, id: `${spec.stream}:4`, attempt: 1, agent: ID.id, module: SHA, inputSha256: SHA, status: 'ok' as const, output: 'aGVsbG8=', outputSha256: SHA, fuel: 7, durationMs: 1.5 }
  const { type: _t, attempt: _a, id: _i, ...signedWindow } = { ...w, signature: signResult(w, ID.signer) }
  const windowResult = { type: 'window', id: 'st', stream: spec.stream, jobId: w.id, seq: 4, window: { seq: 4, from: 1, to: 3, count: 3 }, dropped: 0, ...signedWindow }
  return [
    { name: 'telemetry jobs', schema: jobBatchSchema, value: { v: 1, source: 'gw', ts: 1, dropped: 0, events: [{ id: 'job-1@abc', module: SHA, status: 'error', code: 'trap', agent: ID.id, latencyMs: 3.2, durationMs: 0.4, attempts: 1, fuel: 10, ts: 1 }] } },
    { name: 'telemetry stats', schema: requesterStatsSchema, value: { v: 1, source: 'gw', kind: 'gateway', ts: 1, stepMs: 1000, t0: 0, ok: [1, 2], failed: [0, 1], p50: [3, 4], p99: [9, 8], errors: { trap: [0, 1] }, totals: { ok: 3, failed: 1, inFlight: 0, errors: { trap: 1 }, auctions: 2, dropped: 0 } } },
    { name: 'telemetry agent', schema: agentTelemetrySchema, value: { v: 1, agent: ID.id, ts: 1, jobs: { ok: 1, failed: 0, byCode: {}, fuel: 5 }, settlement: { paid: '1000000000000000000000', owed: '0', settlements: 1, jobsSettled: '5', gasUsed: '56000', vouchersAccepted: 5, vouchersRefused: 0, failures: 0, failing: false, channels: [], recent: [] } } },
    { name: 'telemetry alerts', schema: alertsSchema, value: { v: 1, source: 'c', ts: 1, alerts: [{ id: 'agent_gone:x', kind: 'agent_gone', severity: 'critical', subject: 'x', message: 'm', since: 1 }] } },
    { name: 'stream submit', schema: streamSubmitSchema, value: { id: 'st', module: SHA, source: 'sensors/+/t', window: { ms: 1000 }, replyTo: 'out/st', constraints: { labels: { site: 'x' } }, maxPrice: 2 } },
    { name: 'stream start', schema: streamControlSchema, value: start, signed: { kind: 'stream-control', key: ID.publicKeyHex } },
    { name: 'stream stop', schema: streamControlSchema, value: stop, signed: { kind: 'stream-control', key: ID.publicKeyHex } },
    { name: 'stream state', schema: streamStateSchema, value: { stream: spec.stream, agent: ID.id, seq: 4, cursor: { ts: 3, digest: SHA }, dropped: 1 } },
    { name: 'window result', schema: windowResultSchema, value: windowResult },
    { name: 'job submit', schema: jobSubmitSchema, value: { id: 'j-1', module: SHA, input: 'aGVsbG8=', replyTo: 'demo/results', limits: { fuel: 10, timeoutMs: 5 }, constraints: { labels: { site: 'x' }, agents: [ID.id] }, maxPrice: 3, sealed: true, replyKey: ID.box.publicKeyHex } },
    { name: 'presence online', schema: presenceSchema, value: presence, signed: { kind: 'presence', key: ID.publicKeyHex } },
    { name: 'presence offline', schema: presenceSchema, value: offline, signed: { kind: 'presence', key: ID.publicKeyHex } },
    { name: 'heartbeat', schema: heartbeatSchema, value: beat, signed: { kind: 'heartbeat', key: ID.publicKeyHex } },
    { name: 'offer', schema: offerSchema, value: { offerId: 'o1', requester: 'r1', replyTo: 'fm/v1/requesters/r1/inbox', module: SHA, requesterKey: ID.publicKeyHex, sealed: true, maxPrice: 5 } },
    { name: 'bid', schema: inboxSchema, value: bid, signed: { kind: 'bid', key: ID.publicKeyHex } },
    { name: 'assignment', schema: assignSchema, value: assign, signed: { kind: 'assign', key: ID.publicKeyHex, omit: ['input', 'sealedInput'] } },
    { name: 'result', schema: inboxSchema, value: result },
    { name: 'voucher ack', schema: inboxSchema, value: { type: 'voucherAck', agent: ID.id, channelId: '1', cumulativeAmount: '10', ok: 1 } },
    { name: 'voucher', schema: wireVoucherSchema, value: { requester: 'r1', replyTo: 'x/y', channelId: '1', cumulativeAmount: '10', resultsRoot: `0x${'ab'.repeat(32)}`, jobCount: '1', signature: `0x${'cd'.repeat(65)}`, leaves: [{ jobId: 'j-1@s1', leaf: `0x${'ab'.repeat(32)}` }] } },
    { name: 'gateway presence', schema: gatewayPresenceSchema, value: { status: 'online', id: ID.id, name: 'gw', publicKey: ID.publicKeyHex, boxKey: ID.box.publicKeyHex, since: 1, signature: 'A'.repeat(86) + '==' } },
    { name: 'forwarded result', schema: object({}) as Parser<unknown>, value: forwarded, signed: { kind: 'forward', key: ID.publicKeyHex, omit: ['output', 'sealedOutput'], sigField: 'gatewaySignature' } },
  ]
}

const EDGE_NUMBERS = [0, -0, 1, -1, 0.5, 1e308, -1e308, 5e-324, 2 ** 53, 2 ** 53 + 2, -(2 ** 53), 4096, 4097, 1e18, 1e19, 3_600_001]
const EDGE_STRINGS = ['', ' ', '\u0000', '#', '+', 'a/#', '$SYS/x', 'fm/v1/agents/+/jobs', '\ud800', '😀'.repeat(40), 'A'.repeat(300), '=', 'fms1..', 'fms1.AAAA.AAAA', '0x', '__proto__', 'ab'.repeat(32), 'AB'.repeat(32)]

function randomValue(r: SeededRandom, depth = 0): unknown {
  switch (r.int(0, depth > 3 ? 4 : 7)) {
    case 0: return null
    case 1: return r.chance(0.5)
    case 2: return r.pick(EDGE_NUMBERS)
    case 3: return r.pick(EDGE_STRINGS)
    case 4: return r.chance(0.5) ? r.int(-5, 5) : String.fromCharCode(...Array.from({ length: r.int(0, 40) }, () => r.int(0, 0xffff)))
    case 5: return Array.from({ length: r.int(0, 5) }, () => randomValue(r, depth + 1))
    case 6: {
      const o: Record<string, unknown> = {}
      for (let i = r.int(0, 4); i > 0; i--) o[r.pick(['a', 'id', '__proto__', 'constructor', 'toString', 'status', 'type'])] = randomValue(r, depth + 1)
      return o
    }
    default: {
      let v: unknown = 1
      for (let i = r.int(1, 60); i > 0; i--) v = r.chance(0.5) ? [v] : { v }
      return v
    }
  }
}

/** A structural mutant of `value` (a deep copy; the sample is left alone). */
function mutate(r: SeededRandom, value: Record<string, unknown>): unknown {
  const v = JSON.parse(JSON.stringify(value)) as Record<string, unknown>
  for (let n = r.int(1, 3); n > 0; n--) {
    // walk to a random object inside
    let target: Record<string, unknown> = v
    for (let d = 0; d < 3; d++) {
      const inner = Object.values(target).filter((x) => x && typeof x === 'object' && !Array.isArray(x)) as Record<string, unknown>[]
      if (!inner.length || r.chance(0.5)) break
      target = r.pick(inner)
    }
    const keys = Object.keys(target)
    const k = keys.length && r.chance(0.8) ? r.pick(keys) : r.pick(['extra', '__proto__', 'constructor', 'signature', 'epoch'])
    switch (r.int(0, 4)) {
      case 0: delete target[k]; break
      case 1: target[k] = randomValue(r); break
      case 2: if (typeof target[k] === 'string') target[k] = (target[k] as string).repeat(r.chance(0.05) ? r.int(200, 3000) : r.int(2, 20)); else target[k] = randomValue(r); break
      case 3: if (typeof target[k] === 'number') target[k] = (target[k] as number) + r.pick([1, -1, 0.5, 1e9]); else target[k] = randomValue(r); break
      default: Object.defineProperty(target, k, { value: randomValue(r), enumerable: true, configurable: true, writable: true })
    }
  }
  return v
}

/** A byte-level mutant of the serialized sample. */
function mangle(r: SeededRandom, bytes: Buffer): Buffer {
  const b = Buffer.from(bytes)
  switch (r.int(0, 3)) {
    case 0: return b.subarray(0, r.int(0, b.length))
    case 1: for (let i = r.int(1, 8); i > 0; i--) b[r.int(0, b.length - 1)]! ^= 1 << r.int(0, 7); return b
    case 2: { const at = r.int(0, b.length); return Buffer.concat([b.subarray(0, at), Buffer.from(r.pick(['{', '}', '"', '\\', ',', '[1,', 'null', '\u0000', '\ud800'])), b.subarray(at)]) }
    default: return Buffer.from(Array.from({ length: r.int(0, 64) }, () => r.int(0, 255)))
  }
}

export interface FuzzFailure {
  target: string
  seed: number
  iteration: number
  problem: string
}

export interface FuzzStats {
  iterations: number
  accepted: number
  refused: number
  failures: FuzzFailure[]
}

/** Runs `iterations` rounds over every target from `seed`. */
export function runWireFuzz(seed: number, iterations: number): FuzzStats {
  const r = seededRandom(seed)
  const stats: FuzzStats = { iterations: 0, accepted: 0, refused: 0, failures: [] }
  const all = samples()
  const fail = (target: string, iteration: number, problem: string) => stats.failures.length < 50 && stats.failures.push({ target, seed, iteration, problem })
  const box = generateBoxKeyPair()
  const sealer = new Sealer(box)
  const sealed = sealer.seal(Buffer.from('payload'), box.publicKeyHex, 'ctx')
  for (let i = 0; i < iterations; i++) {
    stats.iterations++
    const s = r.pick(all)
    const structural = r.chance(0.7)
    const mutant = structural ? mutate(r, s.value) : undefined
    let payload: Buffer
    try {
      payload = structural ? Buffer.from(JSON.stringify(mutant)) : mangle(r, Buffer.from(JSON.stringify(s.value)))
    } catch {
      continue // a mutant JSON cannot hold
    }
    // 1 and 2: the parser
    let d: ReturnType<typeof decodeJson>
    try {
      d = decodeJson(payload, s.schema)
    } catch (err) {
      fail(s.name, i, `decodeJson threw: ${(err as Error).message}`)
      continue
    }
    if (!d.ok) {
      stats.refused++
      if (!(d.error instanceof FogmeshError) || !CODES.has(d.error.code)) fail(s.name, i, `refused without a stable code: ${String(d.error)}`)
    } else {
      stats.accepted++
      const again = decodeJson(JSON.stringify(jsonable(d.value)), s.schema)
      if (!again.ok) fail(s.name, i, `accepted, but its value does not parse again: ${again.error.shortMessage}`)
      else if (canonicalJson(jsonable(again.value)) !== canonicalJson(jsonable(d.value))) fail(s.name, i, 'accepted value is not stable through a JSON round trip')
    }
    // 3: signatures never throw; a changed statement does not verify
    if (s.signed && d.ok && d.raw && typeof d.raw === 'object') {
      const raw = d.raw as Record<string, unknown>
      let ok = false
      try {
        ok = verifyStatement(s.signed.kind, raw, s.signed.key, s.signed.omit, s.signed.sigField)
        if (s.signed.kind === 'presence') presenceSignedByItsAgent(raw)
        if (s.signed.kind === 'heartbeat') heartbeatSignedBy(raw, s.signed.key)
        if (s.signed.kind === 'bid') bidSignedBy(raw, s.signed.key)
        if (s.signed.kind === 'assign') assignmentSignedByItsRequester(raw)
        if (s.signed.kind === 'stream-control') streamControlSignedByItsRequester(raw)
        if (s.signed.kind === 'forward') checkForwarded(raw, { id: 'j-1', gatewayKey: s.signed.key })
      } catch (err) {
        fail(s.name, i, `a signature check threw: ${(err as Error).message}`)
      }
      if (ok && !sameStatement(s.signed, s.value, raw)) fail(s.name, i, 'a changed statement still verified')
    }
    if (s.name === 'result' && d.ok) {
      try {
        verifyResult(d.value as Parameters<typeof verifyResult>[0], ID.publicKeyHex)
      } catch (err) {
        fail(s.name, i, `verifyResult threw: ${(err as Error).message}`)
      }
    }
    // 4: sealed envelopes
    const env = r.chance(0.5) ? mangle(r, Buffer.from(sealed)).toString('latin1') : text(randomValue(r))
    try {
      const out = sealer.open(env, box.publicKeyHex, 'ctx')
      if (env !== sealed && !out.equals(Buffer.from('payload'))) fail('sealed envelope', i, 'a mangled envelope opened to other bytes')
    } catch (err) {
      if (!(err instanceof SealError)) fail('sealed envelope', i, `open threw ${(err as Error).name}: ${(err as Error).message}`)
    }
    // 5: topics
    const topic = r.chance(0.5) ? `fm/v1/agents/${text(randomValue(r))}/${r.pick(['presence', 'heartbeat', 'jobs', 'x'])}` : `fm/v1/modules/${text(randomValue(r))}`
    try {
      const t = parseAgentTopic(topic)
      if (t && topic !== `fm/v1/agents/${t.agentId}/${t.kind}`) fail('agent topic', i, `parsed ${topic} as ${JSON.stringify(t)}`)
      const m = parseModuleTopic(topic)
      if (m && topic !== `fm/v1/modules/${m}`) fail('module topic', i, `parsed ${topic} as ${m}`)
      const tt = `fm/v1/telemetry/${r.pick(['jobs', 'stats', 'agents', 'settlements', 'alerts', 'x'])}${r.chance(0.8) ? `/${text(randomValue(r))}` : ''}`
      const tp = parseTelemetryTopic(tt)
      if (tp && tt !== (tp.kind === 'alerts' ? telemetryTopics.alerts : `fm/v1/telemetry/${tp.kind}/${tp.subject}`)) fail('telemetry topic', i, `parsed ${tt} as ${JSON.stringify(tp)}`)
    } catch (err) {
      fail('topics', i, `threw: ${(err as Error).message}`)
    }
  }
  return stats
}

/** A random value as a string, whatever it is (String() throws on an object whose toString is not a function). */
function text(v: unknown): string {
  return typeof v === 'string' ? v : (JSON.stringify(v) ?? 'undefined')
}

/** Buffers (decoded base64 fields) as base64, so canonical JSON can compare values. */
function jsonable(v: unknown): unknown {
  return JSON.parse(JSON.stringify(v, (_k, x: unknown) => (x && typeof x === 'object' && (x as { type?: string }).type === 'Buffer' ? Buffer.from((x as { data: number[] }).data).toString('base64') : x)))
}

function sameStatement(sig: { kind: Parameters<typeof statementBytes>[0]; omit?: readonly string[]; sigField?: string }, a: Record<string, unknown>, b: Record<string, unknown>): boolean {
  try {
    return statementBytes(sig.kind, a, sig.omit, sig.sigField).equals(statementBytes(sig.kind, b, sig.omit, sig.sigField)) && a[sig.sigField ?? 'signature'] === b[sig.sigField ?? 'signature']
  } catch {
    return false
  }
}

/**
 * Model files (protocol/model-file.ts), the one binary wire format: from a valid file,
 * bytes mangled or its JSON header mutated and framed again. `decodeModelFile` either
 * returns a model or throws a FogmeshError with a stable code — never a RangeError, a
 * TypeError, a hang — and what it accepts encodes and decodes again.
 */
export function runModelFileFuzz(seed: number, iterations: number, file: Buffer): FuzzStats {
  const r = seededRandom(seed)
  const stats: FuzzStats = { iterations: 0, accepted: 0, refused: 0, failures: [] }
  const fail = (iteration: number, problem: string) => stats.failures.length < 50 && stats.failures.push({ target: 'model file', seed, iteration, problem })
  const headerLen = file.readUInt32LE(8)
  const header = JSON.parse(file.subarray(12, 12 + headerLen).toString('utf8')) as Record<string, unknown>
  const weights = file.subarray(12 + headerLen)
  for (let i = 0; i < iterations; i++) {
    stats.iterations++
    let bytes: Buffer
    if (r.chance(0.5)) bytes = mangle(r, file)
    else {
      const json = Buffer.from(JSON.stringify(mutate(r, header)) ?? 'null')
      const len = Buffer.alloc(4)
      len.writeUInt32LE(r.chance(0.9) ? json.length : r.int(0, json.length * 2))
      bytes = Buffer.concat([file.subarray(0, 8), len, json, r.chance(0.8) ? weights : weights.subarray(0, r.int(0, weights.length))])
    }
    try {
      const m = decodeModelFile(bytes)
      stats.accepted++
      try {
        decodeModelFile(encodeModelFile(m.header, m.weights))
      } catch (err) {
        fail(i, `accepted, but does not encode and decode again: ${(err as Error).message}`)
      }
    } catch (err) {
      stats.refused++
      if (!(err instanceof FogmeshError) || !CODES.has(err.code)) fail(i, `threw ${(err as Error).name}: ${(err as Error).message}`)
    }
  }
  return stats
}
