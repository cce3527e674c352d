/**
 * Proof of Capacity with real agents and a real chain: a lazy agent process (TEST ONLY: it
 * advertises 8 slots and runs 1) fails its challenges, an honest one passes; the lazy agent's
 * slots are discounted to what was measured; three staked challengers commit their epoch tallies
 * (one transaction each, for any number of agents) and, on their witness, the lazy agent is
 * slashed below the minimum stake.
 *
 *   node --import tsx test/capacity.test.ts
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { findAnvil } from '../contracts/anvil.ts'
import { CourtClient, unpackReport } from '../contracts/verification/court-client.ts'
import { CapacityProber, type ChallengeReport } from '../market/capacity.ts'
import { expectRevert } from './support/chain.ts'
import { testUnless } from './support/programs.ts'
import { startStakedMesh, type StakedMesh } from './support/staked-mesh.ts'
import { agentKeys, stakeKeys } from './support/verified-agents.ts'

const t = testUnless(test, findAnvil() ? undefined : 'anvil not found')
let m: StakedMesh
t.before(async () => {
  m = await startStakedMesh({ chain: { params: { capacityFailThreshold: 1 } } })
})
t.after(async () => {
  await m?.close()
})

t('a lazy agent (8 slots advertised, 1 running) fails its challenges; an honest one passes; three staked witnesses slash the lazy one', async () => {
  const honest = await m.addAgent('honest', { slots: 1 })
  const lazy = await m.addAgent('lazy', { slots: 8, workers: 1 })
  const min = m.chain.v.settings.params.minStake
  const challengers = []
  for (let i = 1; i <= 3; i++) {
    // a challenger's tallies count as witness only from a staked account
    const keys = await stakeKeys(m.chain.v.addresses.court, m.wallet(), agentKeys(`challenger-${i}`), min)
    const prober: { p?: CapacityProber } = {}
    const req = await m.requester({ verification: { spotCheck: 0, capacity: { effectiveSlots: (a, s) => prober.p?.effectiveSlots(a, s) ?? s } } }, keys.wallet)
    prober.p = new CapacityProber(req, req.directory, { iterations: 400_000, slackMs: 250 })
    challengers.push({ keys, req, prober: prober.p })
  }
  const reports: ChallengeReport[] = []
  for (const c of challengers) {
    reports.push(await c.prober.challenge(honest.id))
    reports.push(await c.prober.challenge(lazy.id))
  }
  for (const r of reports) {
    const who = r.agent === lazy.id ? 'lazy' : 'honest'
    console.log(`${who}: ${r.passed ? 'passed' : 'FAILED'} ${r.slots} slots, single ${r.singleMs.toFixed(0)} ms, batch ${r.batchMs.toFixed(0)} ms, ${r.correct} right, fuel ${r.fuelPerJob}/job; counted as ${r.effectiveSlots} slots${r.reason ? ` (${r.reason})` : ''}`)
  }
  for (const r of reports.filter((x) => x.agent === honest.id)) assert.ok(r.passed, 'the honest agent passes')
  for (const r of reports.filter((x) => x.agent === lazy.id)) {
    assert.not.ok(r.passed, 'the lazy agent fails')
    assert.is(r.correct, 8, 'its answers are right: it is slow, not wrong')
    assert.ok(r.effectiveSlots <= 3, `discounted to what was measured (${r.effectiveSlots})`)
  }
  assert.is(challengers[0]!.prober.effectiveSlots(lazy.id, 8), reports[1]!.effectiveSlots)
  assert.ok(reports[0]!.fuelPerJob > 0 && reports.every((r) => r.fuelPerJob === reports[0]!.fuelPerJob), 'the same fuel on every agent')

  // one commit per challenger for the epoch: every agent it challenged in one transaction
  const court = await CourtClient.connect(m.chain.v.addresses.court, m.wallet())
  const epoch = await court.currentEpoch()
  const commits = []
  for (const c of challengers) {
    const done = await c.prober.commit(c.keys.court, epoch)
    assert.ok(done)
    assert.equal(done!.reports.map(unpackReport).sort((a, b) => a.agent.localeCompare(b.agent)), [
      { agent: honest.keys.account, passed: 1, failed: 0 },
      { agent: lazy.keys.account, passed: 0, failed: 1 },
    ].sort((a, b) => a.agent.localeCompare(b.agent)))
    commits.push({ challenger: c.keys.account, reports: done!.reports, gas: done!.sent.gasUsed })
  }
  console.log(`capacity epoch commit of 2 agents: ${commits.map((c) => c.gas).join(', ')} gas`)
  const proofs = commits.map((c) => ({ challenger: c.challenger, reports: c.reports, index: c.reports.findIndex((r) => unpackReport(r).agent === lazy.keys.account) }))
  const before = await court.standing(lazy.keys.account)
  const slashed = await court.slashCapacity(lazy.keys.account, epoch, proofs)
  console.log(`capacity slash on 3 witnesses: ${slashed.gasUsed} gas`)
  const after = await court.standing(lazy.keys.account)
  assert.ok(after.stake < before.stake && !after.eligible, 'slashed below the minimum: out of the market')
  // the honest agent cannot be slashed on the same commits: its reports show no failure
  const honestProofs = commits.map((c) => ({ challenger: c.challenger, reports: c.reports, index: c.reports.findIndex((r) => unpackReport(r).agent === honest.keys.account) }))
  await expectRevert(court.slashCapacity(honest.keys.account, epoch, honestProofs), 'BelowThreshold')
  await challengers[0]!.req.verifier.stake!.refresh()
  assert.not.ok(challengers[0]!.req.verifier.stake!.admits(lazy.id, {}))
})

t.run()
