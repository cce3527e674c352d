/**
 * Result signing per core: tweetnacl vs node:crypto (OpenSSL) ed25519, on the
 * real result statement (protocol/signature.ts: resultStatement + signResult),
 * and verification (verifySignature with each backend).
 *
 * Then "our design": what an agent does per result beyond running the job -
 * sha256 of input and output, the statement, node:crypto ed25519 with the
 * KeyObject parsed once (createSigner), base64 - measured end to end, and the
 * share of one core it takes at 1,000 jobs/s. Also what the requester (or the
 * gateway) pays per result to check it (market/verify-result.ts).
 *
 * Then batch signing (protocol/batch-signer.ts): sign + verify cost per result when the
 * results of one event-loop turn share one signature over their Merkle root, at batch sizes
 * 1 (the single form), 8 and 32, against one signature per result; verification with a fresh
 * cache per batch (each batch's signature checked once, every result's proof checked).
 *
 * Single thread, one core; the loops run for a fixed time after a warm-up.
 *
 *   node --import tsx bench/signing.bench.ts [seconds per case=1.5]
 */
import { createHash, randomBytes } from 'node:crypto'
import { verifyAgainst } from '../market/verify-result.ts'
import type { Result } from '../protocol/messages.ts'
import { createSigner, NODE_ED25519, resultStatement, signResult, verifyResult, verifySignature, type SignedResultFields } from '../protocol/signature.ts'
import { BatchSigner, type BatchSigned } from '../protocol/batch-signer.ts'
import { VerifiedRoots, verifyBatched } from '../protocol/batch-signature.ts'
import { agentIdFromPublicKey } from '../protocol/agent-id.ts'
import { header, table, target } from './report.ts'
import { int, ratio } from './summary.ts'

const SECONDS = Number(process.argv[2] ?? 1.5)
const WARM_S = 0.4

header('fogmesh result signing: ed25519 per core', [
  `node:crypto ed25519 available: ${NODE_ED25519}; OpenSSL ${process.versions.openssl}`,
  `each case: ${WARM_S} s warm-up, then ${SECONDS} s on one thread (fixed time, so slow cases still get many samples)`,
])

/** Runs `fn` repeatedly for `seconds` after a warm-up; returns ops/s and µs/op. */
function measure(fn: (i: number) => unknown, seconds = SECONDS): { opsPerSec: number; usPerOp: number; n: number } {
  let sink: unknown
  const run = (s: number) => {
    const end = performance.now() + s * 1000
    let n = 0
    const t0 = performance.now()
    while (performance.now() < end) {
      // batches of 16 keep the clock out of the figure for fast cases
      for (let k = 0; k < 16; k++) sink = fn(n++)
    }
    return { n, ms: performance.now() - t0 }
  }
  run(WARM_S)
  const { n, ms } = run(seconds)
  if (sink === undefined) throw new Error('unreachable')
  return { opsPerSec: (n / ms) * 1000, usPerOp: (ms * 1000) / n, n }
}

// ---- a realistic result --------------------------------------------------------------------

const seed = randomBytes(32)
const node = createSigner(seed, 'node')
const nacl = createSigner(seed, 'tweetnacl')
const publicKeyHex = Buffer.from(node.publicKey).toString('hex')
const agent = agentIdFromPublicKey(node.publicKey)
const sha = (b: Uint8Array) => createHash('sha256').update(b).digest('hex')

// a rolling-stats job as the simulated sensor sends it: 60 readings in, a stats line out
const input = Buffer.from(`window=60\n${Array.from({ length: 60 }, (_, i) => (21 + Math.sin(i / 9) * 3).toFixed(2)).join('\n')}\n`)
const output = Buffer.from('{"count":60,"mean":21.12,"min":18.01,"max":23.99,"stddev":2.13,"last":20.87}\n')
const module = sha(Buffer.from('rolling-stats module bytes'))
const fields = (i: number): SignedResultFields => ({
  id: `sensor-1-3fa9c2-${100000 + i}`,
  agent,
  module,
  inputSha256: sha(input),
  status: 'ok',
  outputSha256: sha(output),
  fuel: 184_233,
})
const statement = resultStatement(fields(0))
const sigNode = node.sign(statement)
const sigNacl = nacl.sign(statement)
const identical = Buffer.compare(Buffer.from(sigNode), Buffer.from(sigNacl)) === 0
console.log(`statement: ${statement.length} bytes (resultStatement of a rolling-stats result); input ${input.length} B, output ${output.length} B`)
console.log(`signatures of the two backends identical: ${identical ? 'yes' : 'NO'}`)
console.log('')

// ---- sign and verify by backend -------------------------------------------------------------

const f0 = fields(0)
const signTweet = measure(() => signResult(f0, nacl))
const signNode = measure(() => signResult(f0, node))
const verifyTweet = measure(() => verifySignature(statement, sigNode, publicKeyHex, 'tweetnacl'))
const verifyNode = measure(() => verifySignature(statement, sigNode, publicKeyHex, 'node'))
if (!verifySignature(statement, sigNode, publicKeyHex, 'tweetnacl') || !verifySignature(statement, sigNode, publicKeyHex, 'node')) {
  throw new Error('signature does not verify')
}

// ---- our design, end to end per result ----------------------------------------------------------

// exactly the agent's steps after the job ran (agent/agent.ts runJob): sha256 of input and output,
// the signed fields, resultStatement + ed25519 (node:crypto, KeyObject parsed once) + base64
const agentSigner = createSigner(seed) // 'auto' = what the agent uses
const perResult = measure((i) => {
  const f: SignedResultFields = { id: `sensor-1-3fa9c2-${i}`, agent, module, inputSha256: sha(input), status: 'ok', outputSha256: sha(output), fuel: 184_233 }
  return signResult(f, agentSigner)
})
// what the requester / gateway does per result to accept it (market/verify-result.ts): output sha256 + ed25519 verify
const wire: Result = {
  type: 'result', id: f0.id, attempt: 1, agent, module, inputSha256: f0.inputSha256, status: 'ok',
  output: output.toString('base64'), outputSha256: f0.outputSha256, fuel: f0.fuel, durationMs: 0.2, signature: signResult(f0, agentSigner),
}
const expected = { agent, publicKey: publicKeyHex, module, inputSha256: f0.inputSha256 }
if (!verifyAgainst(wire, expected).ok) throw new Error('verifyAgainst refused a good result')
const perCheck = measure(() => verifyAgainst(wire, expected))

// ---- batch signing: per result vs one signature per batch ------------------------------------------

const batchFields = Array.from({ length: 32 }, (_, i) => fields(i))
// one signature per result, signed and verified (the old path)
const perResultSignVerify = measure((i) => {
  const f = batchFields[i % 32] as SignedResultFields
  const signature = signResult(f, agentSigner)
  if (!verifyResult({ ...f, signature }, publicKeyHex)) throw new Error('per-result signature does not verify')
  return signature
})
/** One batch of `n`: n statements signed (the n-th call closes the batch and signs it, synchronously), then n results verified with a fresh cache. */
function batchRound(n: number): () => unknown {
  const signer = new BatchSigner('result', agentSigner, { maxLeaves: n })
  return () => {
    const out: BatchSigned[] = new Array(n)
    for (let k = 0; k < n; k++) void signer.sign(resultStatement(batchFields[k] as SignedResultFields)).then((s) => (out[k] = s))
    return out
  }
}
async function batchCost(n: number): Promise<{ sign: number; verify: number; total: number }> {
  // sign: n statements per op (promises resolve after the op; the work is synchronous in the n-th call)
  const signOp = batchRound(n)
  const sign = measure(signOp)
  await new Promise((r) => setImmediate(r))
  // verify: one signed batch, checked result by result with a fresh cache (its signature once)
  const one = new BatchSigner('result', agentSigner, { maxLeaves: n })
  const batch = await Promise.all(batchFields.slice(0, n).map((f) => one.sign(resultStatement(f))))
  const verify = measure(() => {
    const cache = new VerifiedRoots(4)
    for (let k = 0; k < n; k++) {
      const f = batchFields[k] as SignedResultFields
      const s = batch[k] as BatchSigned
      const ok = s.batch ? verifyBatched('result', resultStatement(f), s.batch, s.signature, publicKeyHex, cache).ok : verifyResult({ ...f, signature: s.signature }, publicKeyHex)
      if (!ok) throw new Error(`batch of ${n}: result ${k} does not verify`)
    }
    return cache
  })
  return { sign: sign.usPerOp / n, verify: verify.usPerOp / n, total: (sign.usPerOp + verify.usPerOp) / n }
}
const batched = new Map<number, { sign: number; verify: number; total: number }>()
for (const n of [1, 8, 32]) batched.set(n, await batchCost(n))

// ---- report ----------------------------------------------------------------------------------------

const row = (label: string, m: { opsPerSec: number; usPerOp: number; n: number }, vs?: { opsPerSec: number }) => [
  label,
  int(m.opsPerSec),
  m.usPerOp.toFixed(1),
  String(m.n),
  vs ? ratio(m.opsPerSec, vs.opsPerSec) : '',
]
console.log(
  table([
    ['one core', 'ops/s', 'us/op', 'n', 'vs tweetnacl'],
    row('sign  tweetnacl   (signResult)', signTweet),
    row('sign  node:crypto (signResult)', signNode, signTweet),
    row('verify tweetnacl  (verifySignature)', verifyTweet),
    row('verify node:crypto (verifySignature)', verifyNode, verifyTweet),
    row('our design: agent per result (2x sha256 + statement + sign + base64)', perResult),
    row('requester/gateway check per result (verifyAgainst)', perCheck),
  ]),
)
console.log('')
console.log(
  table([
    ['sign + verify per result', 'sign us', 'verify us', 'total us', 'speed-up vs one signature per result'],
    ['one signature per result (signResult + verifyResult)', '', '', perResultSignVerify.usPerOp.toFixed(1), '1.00x'],
    ...[...batched].map(([n, c]) => [
      n === 1 ? 'batch of 1 (the single form, through BatchSigner)' : `batch of ${n} (one signature, ${n} proofs)`,
      c.sign.toFixed(1), c.verify.toFixed(1), c.total.toFixed(1), `${(perResultSignVerify.usPerOp / c.total).toFixed(2)}x`,
    ]),
  ]),
)
const agentShare = perResult.usPerOp / 1000 // µs per job × 1,000 jobs/s = ms of CPU per s; /1000 = fraction of a core
const checkShare = perCheck.usPerOp / 1000
const tweetShare = signTweet.usPerOp / 1000
console.log('')
console.log(`at 1,000 jobs/s: agent signing ${(agentShare * 100).toFixed(1)}% of one core (with tweetnacl it would be ${(tweetShare * 100).toFixed(0)}%); requester checking ${(checkShare * 100).toFixed(1)}% of one core`)
console.log(`claim in protocol/signature.ts, "OpenSSL signs ~100x faster than tweetnacl": measured ${ratio(signNode.opsPerSec, signTweet.opsPerSec)} (verify ${ratio(verifyNode.opsPerSec, verifyTweet.opsPerSec)})`)
target('signatures identical across backends', identical ? 'yes' : 'no', identical)
target('node:crypto sign >= 10x tweetnacl', ratio(signNode.opsPerSec, signTweet.opsPerSec), signNode.opsPerSec >= 10 * signTweet.opsPerSec)
target('agent per-result signing <= 10% of one core at 1,000 jobs/s', `${(agentShare * 100).toFixed(1)}%`, agentShare <= 0.1)
target('requester per-result check <= 20% of one core at 1,000 jobs/s', `${(checkShare * 100).toFixed(1)}%`, checkShare <= 0.2)
const b32 = batched.get(32) as { total: number }
target('batch of 32: sign + verify per result <= 0.5x one signature per result', ratio(b32.total, perResultSignVerify.usPerOp), b32.total <= 0.5 * perResultSignVerify.usPerOp)
process.exit(0)
