/**
 * Spot checks with real agents and a real chain: single-agent jobs, a lying agent process (TEST
 * ONLY: one job in ten flipped, correctly signed) that the pick rule prefers (price 0), a
 * requester re-running 20% of accepted results. The liar must be caught within the number of
 * jobs the probability predicts: P(caught within n) = 1 − (1 − p·q)^n with p = 0.2, q = 0.1,
 * so within 228 jobs at 99%. The catch is evidence: after the challenge window the liar is
 * convicted on chain and out of the market.
 *
 *   node --import tsx test/spot-check.test.ts
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { findAnvil } from '../contracts/anvil.ts'
import type { EvidenceEvents } from '../market/evidence.ts'
import { detectionProbability, jobsToDetect } from '../market/spot-check.ts'
import type { VerifierEvents } from '../market/verification.ts'
import { loadModule } from '../wasm-modules/index.ts'
import { increaseTime } from './support/chain.ts'
import { liesOn } from './support/dishonest-executor.ts'
import { testUnless } from './support/programs.ts'
import { mulberry32 } from './support/rng.ts'
import { sha256 } from './support/sha256.ts'
import { startStakedMesh, type StakedMesh } from './support/staked-mesh.ts'
import { waitFor } from './support/wait.ts'

const WINDOW = 60
const P = 0.2
const Q = 0.1
const t = testUnless(test, findAnvil() ? undefined : 'anvil not found')
let m: StakedMesh
t.before(async () => {
  m = await startStakedMesh({ honest: 3, chain: { params: { challengeWindow: WINDOW } } })
})
t.after(async () => {
  await m?.close()
})

t(`spotCheck ${P}: a liar lying on ${Q * 100}% of its jobs is caught within the predicted number of jobs, then convicted`, async () => {
  const liar = await m.addAgent('liar', { price: 0, lieEvery: 1 / Q, lieSeed: 'S' })
  const req = await m.requester({ verification: { spotCheck: P, random: mulberry32(2024) } })
  const module = await req.publishModule(await loadModule('sha256'))
  await req.verifier.stake!.ready()
  const checks: VerifierEvents['spotCheck'][0][] = []
  req.verifier.on('spotCheck', (c) => checks.push(c))
  const accused: EvidenceEvents['accused'][0][] = []
  req.verifier.evidence!.on('accused', (a) => accused.push(a))
  const limit = jobsToDetect(P, Q, 0.99)
  let n = 0
  let lies = 0
  for (; n < limit && !checks.some((c) => c.outcome === 'caught'); n++) {
    const id = `spot-${n}`
    const input = Buffer.from(`reading ${n}`)
    const r = await req.submit({ id, module, input })
    assert.is(r.status, 'ok')
    if (r.agent === liar.id && liesOn(id, 'S', 1 / Q)) {
      lies++
      assert.is.not(r.output!.toString(), `${sha256(input)}\n`, 'the liar answered this one with a lie')
    }
  }
  await waitFor(() => checks.some((c) => c.outcome === 'caught') || req.verifier.spot.inFlight === 0, 30_000, 'spot checks to finish')
  const caught = checks.find((c) => c.outcome === 'caught')
  console.log(`caught after ${n} jobs (${lies} lies, ${checks.length} spot checks: ${checks.filter((c) => c.outcome === 'match').length} matches); ` +
    `P(caught within ${n}) = ${detectionProbability(P, Q, n).toFixed(3)}, 99% within ${limit}`)
  assert.ok(caught, `caught within ${limit} jobs`)
  assert.is(caught!.agent, liar.id)
  assert.ok(caught!.checkers.length >= 3, 'the checker and referees: a quorum of three')
  assert.ok(checks.filter((c) => c.outcome === 'caught').every((c) => c.agent === liar.id), 'no honest agent is ever caught')
  await waitFor(() => accused.length > 0, 20_000, 'the catch goes on chain as evidence')
  assert.equal(accused[0]!.accused, [liar.keys.account])
  await increaseTime(m.chain.provider, WINDOW + 1)
  await req.verifier.evidence!.resolveDue()
  await req.verifier.stake!.refresh()
  const s = await req.verifier.stake!.court.standing(liar.keys.account)
  assert.ok(s.convictions >= 1 && !s.eligible)
  assert.not.ok(req.verifier.stake!.admits(liar.id, {}))
})

t.run()
