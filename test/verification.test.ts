/**
 * Verification with real agents and a real chain: agent processes staked on anvil, a lying agent
 * process (TEST ONLY executor wrapper: one job in ten flipped, correctly signed and co-signed),
 * the requester with the VerificationCourt.
 *
 *   - redundancy 3: the liar is outvoted every time, every answer is right and carries a quorum
 *     certificate anyone can check; its contradictions go on chain and convict it after the
 *     challenge window; it leaves the market;
 *   - a colluding pair (the same lie) is outvoted by referees and convicted; the pair cannot
 *     slash an honest agent with its own statements;
 *   - replayed evidence is refused.
 *
 *   node --import tsx test/verification.test.ts
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { findAnvil } from '../contracts/anvil.ts'
import { CourtClient } from '../contracts/verification/court-client.ts'
import type { Requester } from '../market/requester.ts'
import type { EvidenceEvents } from '../market/evidence.ts'
import { verifyQuorumCertificate } from '../protocol/quorum-certificate.ts'
import { jobDigest, statementOf } from '../protocol/statement.ts'
import { loadModule } from '../wasm-modules/index.ts'
import { expectRevert, increaseTime } from './support/chain.ts'
import { liesOn } from './support/dishonest-executor.ts'
import { testUnless } from './support/programs.ts'
import { sha256 } from './support/sha256.ts'
import { startStakedMesh, type StakedAgent, type StakedMesh } from './support/staked-mesh.ts'
import { waitFor } from './support/wait.ts'

const WINDOW = 60
const t = testUnless(test, findAnvil() ? undefined : 'anvil not found')

let m: StakedMesh
let req: Requester
let module = ''
const accused: EvidenceEvents['accused'][0][] = []
const convicted: EvidenceEvents['convicted'][0][] = []

t.before(async () => {
  m = await startStakedMesh({ honest: 4, chain: { params: { challengeWindow: WINDOW } } })
  req = await m.requester({ verification: { spotCheck: 0 } })
  req.verifier.evidence!.on('accused', (e) => accused.push(e))
  req.verifier.evidence!.on('convicted', (e) => convicted.push(e))
  module = await req.publishModule(await loadModule('sha256'))
})
t.after(async () => {
  await m?.close()
})

const expected = (input: Buffer) => Buffer.from(`${sha256(input)}\n`)
const keys = () => (id: string) => req.directory.get(id)?.presence.publicKey

async function convictDue(n: number): Promise<void> {
  await increaseTime(m.chain.provider, WINDOW + 1)
  await req.verifier.evidence!.resolveDue()
  await waitFor(() => convicted.length >= n, 10_000, `${n} convictions`)
  await req.verifier.stake!.refresh()
}

t('redundancy 3: a liar (1 in 10, correctly signed) is outvoted every time, then convicted on chain and out of the market', async () => {
  const liar = await m.addAgent('liar', { price: 0, lieEvery: 10, lieSeed: 'L' })
  await req.directory.waitFor(5, 10_000)
  await req.verifier.stake!.ready()
  // job ids: ten the liar answers honestly and two it lies on, in the order they come
  const ids: string[] = []
  for (let i = 0, honest = 0, lying = 0; honest < 10 || lying < 2; i++) {
    const id = `k3-${i}`
    if (liesOn(id, 'L', 10) ? lying++ < 2 : honest++ < 10) ids.push(id)
  }
  const lies = ids.filter((id) => liesOn(id, 'L', 10))
  const stakeBefore = (await m.chain.v.mesh.registry.getFunction('getAgent')(liar.keys.account)).stake as bigint
  const outvoted: string[] = []
  for (const id of ids) {
    const input = Buffer.from(`reading ${id}`)
    const r = await req.submit({ id, module, input, redundancy: 3 })
    assert.is(r.status, 'ok', `${id}: ${JSON.stringify(r.error)}`)
    assert.equal(r.output, expected(input), `${id}: the right answer`)
    const qc = r.quorum!
    assert.ok(verifyQuorumCertificate(qc, { keys: keys() }).ok, `${id}: the certificate verifies`)
    assert.ok(qc.agreeing.every((s) => s.attestation), 'every agreeing statement is co-signed for the court')
    const liarIn = qc.agreeing.some((s) => s.agent === liar.id)
    if (liesOn(id, 'L', 10)) {
      assert.not.ok(liarIn, `${id}: the liar is outvoted`)
      // once outvoted, its reputation may keep it out of later jobs: then nobody dissents
      if (qc.dissenting > 0) {
        outvoted.push(id)
        assert.is(qc.dissenting, 1)
        assert.ok(qc.agreeing.length >= 3, 'a contested result stands with a quorum of three')
      }
    } else if (outvoted.length === 0) assert.ok(liarIn, `${id}: the cheapest agent took part`)
  }
  assert.ok(outvoted.length >= 1 && outvoted[0] === lies[0], 'the first lie was outvoted')
  await waitFor(() => accused.length >= outvoted.length, 20_000, 'accusations on chain')
  for (const a of accused) assert.equal(a.accused, [liar.keys.account])
  console.log(`${ids.length} jobs at k=3, ${lies.length} lies, ${outvoted.length} outvoted (the rest went to others); gas per accusation ${accused.map((a) => a.gasUsed).join(', ')}`)
  await convictDue(outvoted.length)
  console.log(`gas per resolution (conviction + slash) ${convicted.map((c) => c.gasUsed).join(', ')}`)
  const s = await req.verifier.stake!.court.standing(liar.keys.account)
  assert.is(s.convictions, outvoted.length)
  assert.ok(s.stake < stakeBefore && s.stake < s.minStake, 'slashed below the minimum stake')
  assert.not.ok(s.eligible)
  assert.not.ok(req.verifier.stake!.admits(liar.id, {}), 'out of every requester\'s market')
  for (const h of m.agents.slice(0, 4)) assert.ok(req.verifier.stake!.admits(h.id, {}), `${h.keys.name} still in`)
  // the market follows: new jobs never reach the liar
  const r = await req.submit({ id: 'after-conviction', module, input: Buffer.from('x'), redundancy: 3 })
  assert.not.ok(r.quorum!.agreeing.some((x) => x.agent === liar.id))
  // replayed evidence: the same case again is refused by the contract
  const job = accused[0]!.job
  await expectRevert(req.verifier.stake!.court.resolve(job, [liar.keys.account]), 'CaseResolvedAlready', [job])
  await liar.proc.stop()
})

t('a colluding pair is outvoted by referees and convicted; it cannot slash the honest agent it contradicts', async () => {
  const pair: StakedAgent[] = [
    await m.addAgent('c1', { price: 0, lieEvery: 1, lieSeed: 'pair' }),
    await m.addAgent('c2', { price: 0, lieEvery: 1, lieSeed: 'pair' }),
  ]
  await waitFor(() => req.directory.list('online').filter((a) => pair.some((p) => p.id === a.presence.id)).length === 2, 10_000, 'pair online')
  await req.verifier.stake!.ready()
  const before = accused.length
  const input = Buffer.from('the pair lies')
  // other limits, another lease group: a fresh auction that hears the pair (leases of older groups are refreshed in the background)
  const r = await req.submit({ id: 'pair-1', module, input, redundancy: 3, limits: { timeoutMs: 9000 } })
  assert.is(r.status, 'ok')
  assert.equal(r.output, expected(input), 'the truth stands against two liars')
  assert.is(r.quorum!.dissenting, 2)
  assert.ok(r.quorum!.agreeing.length >= 3)
  assert.ok(verifyQuorumCertificate(r.quorum!, { keys: keys() }).ok)
  await waitFor(() => accused.length > before, 20_000, 'accusation')
  assert.equal(accused.at(-1)!.accused.sort(), pair.map((p) => p.keys.account).sort())

  // the pair's own attack: their two lies against an honest agent's real statement for a job
  // the honest agent ran alone; the court opens the case but a pair is no quorum
  const honest = m.agents[0]!
  const solo = await req.submit({ id: 'solo-1', module, input: Buffer.from('solo'), constraints: { agents: [honest.id] } })
  assert.is(solo.status, 'ok', JSON.stringify(solo.error))
  assert.is(solo.agent, honest.id)
  const job = jobDigest({ id: 'solo-1', module, inputSha256: solo.inputSha256, fuel: 1e10, memoryMiB: 64, outputBytes: 1024 * 1024 })
  const truth = statementOf(job, 'ok', solo.outputSha256, solo.fuel)
  const lie = statementOf(job, 'ok', sha256(Buffer.from('framed')), solo.fuel)
  const attacker = await CourtClient.connect(m.chain.v.addresses.court, pair[0]!.keys.wallet)
  const vote = (s: typeof truth, sig: { r: string; vs: string }) => CourtClient.vote(s, sig)
  await attacker.accuse(job, [
    vote(lie, pair[0]!.keys.attester.sign(attacker.hasher, lie)),
    vote(lie, pair[1]!.keys.attester.sign(attacker.hasher, lie)),
    vote(truth, solo.result!.attestation!),
  ])
  const honestBefore = await attacker.standing(honest.keys.account)
  await convictDue(convicted.length + 1) // the requester's case against the pair
  await attacker.resolve(job, [honest.keys.account]).catch(() => {})
  const c = await attacker.caseOf(job)
  assert.ok(c.resolved)
  assert.is(c.winner, `0x${'00'.repeat(32)}`, 'dismissed: two is no quorum')
  const honestAfter = await attacker.standing(honest.keys.account)
  assert.is(honestAfter.stake, honestBefore.stake, 'the honest agent keeps its stake')
  assert.ok(honestAfter.eligible)
  for (const p of pair) {
    const s = await attacker.standing(p.keys.account)
    assert.is(s.convictions, 1, `${p.keys.name} convicted`)
    assert.not.ok(req.verifier.stake!.admits(p.id, {}))
  }
  for (const p of pair) await p.proc.stop()
})

t.run()
