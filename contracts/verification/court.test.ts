/**
 * VerificationCourt on a real anvil: attester binding, evidence cases (a liar outvoted by a quorum
 * is convicted and slashed, the reporter paid), what the court refuses (replayed, forged,
 * non-deterministic, not eligible, a colluding pair), self-contradiction, capacity epochs.
 *
 *   node --import tsx contracts/verification/court.test.ts
 */
import { test } from 'uvu'
import * as assert from 'uvu/assert'
import { hexlify, randomBytes, Wallet } from 'ethers'
import { Attester, StatementHasher, jobDigest, statementOf, type Statement } from '../../protocol/statement.ts'
import { balanceOf, expectRevert, increaseTime } from '../../test/support/chain.ts'
import { stakedAccount, useVerifiedChain, type StakedAccount } from '../../test/support/verified-chain.ts'
import { CourtClient, packReport, type Vote } from './court-client.ts'

const WINDOW = 600
const chain = useVerifiedChain(test, { accounts: 16, params: { challengeWindow: WINDOW, epochLength: 3600 } })
const t = chain.test

const sha = () => hexlify(randomBytes(32)).slice(2)
let n = 0
function newJob(): string {
  return jobDigest({ id: `job-${++n}`, module: sha(), inputSha256: sha(), fuel: 1e9, memoryMiB: 64, outputBytes: 1 << 20 })
}
const hasher = () => StatementHasher.for(chain.ctx.v.chainId, chain.ctx.v.addresses.court)
const vote = (a: StakedAccount, s: Statement): Vote => CourtClient.vote(s, a.attester.sign(hasher(), s))

let accounts: StakedAccount[] = []
let reporter: CourtClient
const acct = (i: number) => accounts[i]!

t('set-up: ten staked agents with attesters; a reporter without stake', async () => {
  const ctx = chain.ctx
  accounts = []
  for (let i = 1; i <= 10; i++) accounts.push(await stakedAccount(ctx, i))
  reporter = await CourtClient.connect(ctx.v.addresses.court, ctx.wallets[11]!)
  for (const a of accounts) {
    const s = await a.court.standing(a.wallet.address)
    assert.ok(s.eligible && s.registered && !s.unbonding && s.convictions === 0)
    assert.is(s.attester, a.attester.address)
    assert.is(s.minStake, ctx.v.settings.params.minStake)
  }
  assert.not.ok(await reporter.isEligible(ctx.wallets[11]!.address))
})

t('bindAttester: proof of possession, one account per attester, registered accounts only', async () => {
  const ctx = chain.ctx
  const a = acct(0)
  const stranger = new Attester(hexlify(randomBytes(32)))
  // a proof signed for another account is refused
  const proof = stranger.bindingProof(hasher(), ctx.wallets[2]!.address)
  await expectRevert(a.court.contract.getFunction('bindAttester')(stranger.address, proof.r, proof.vs), 'BadAttesterProof')
  // b's attester cannot be taken by a
  const b = acct(1)
  const taken = b.attester.bindingProof(hasher(), a.wallet.address)
  await expectRevert(a.court.contract.getFunction('bindAttester')(b.attester.address, taken.r, taken.vs), 'AttesterTaken', [b.attester.address, b.wallet.address])
  // an account without stake cannot bind
  const own = stranger.bindingProof(hasher(), ctx.wallets[11]!.address)
  await expectRevert(reporter.contract.getFunction('bindAttester')(stranger.address, own.r, own.vs), 'NotRegistered', [ctx.wallets[11]!.address])
})

t('a liar outvoted by three staked agents is convicted after the window: slashed, reporter paid, out of the market', async () => {
  const ctx = chain.ctx
  const { token } = ctx.v.mesh
  const job = newJob()
  const good = statementOf(job, 'ok', sha(), 4242)
  const bad = statementOf(job, 'ok', sha(), 4242)
  const liar = acct(3)
  const stakeBefore = (await reporter.standing(liar.wallet.address)).stake
  const reporterBefore = await balanceOf(token, ctx.wallets[11]!.address)
  const treasuryBefore = await balanceOf(token, ctx.v.addresses.timelock)
  const opened = await reporter.accuse(job, [vote(liar, bad), vote(acct(0), good), vote(acct(1), good), vote(acct(2), good)])
  const c = await reporter.caseOf(job)
  assert.is(c.classes, 2)
  assert.is(c.statements, 4)
  assert.is(c.topCount, 3)
  assert.is(c.reporter, ctx.wallets[11]!.address)
  await expectRevert(reporter.resolve(job, [liar.wallet.address]), 'CaseStillOpen')
  await increaseTime(ctx.provider, WINDOW)
  const resolved = await reporter.resolve(job, [liar.wallet.address])
  console.log(`gas: accuse (1 liar + 3 witnesses) ${opened.gasUsed}, resolve + slash ${resolved.gasUsed}, total ${opened.gasUsed + resolved.gasUsed}`)
  const s = await reporter.standing(liar.wallet.address)
  const p = ctx.v.settings.params
  const slashed = (stakeBefore * BigInt(p.slashFractionBps)) / 10_000n
  const share = (slashed * BigInt(p.reporterShareBps)) / 10_000n
  assert.is(s.convictions, 1)
  assert.not.ok(s.eligible, 'a convicted agent leaves the market')
  assert.is(s.stake, stakeBefore - slashed)
  assert.ok(s.stake < s.minStake, 'below the minimum stake')
  assert.is(await balanceOf(token, ctx.wallets[11]!.address), reporterBefore + share)
  assert.is(await balanceOf(token, ctx.v.addresses.timelock), treasuryBefore + slashed - share)
  for (const w of [acct(0), acct(1), acct(2)]) assert.ok((await reporter.standing(w.wallet.address)).eligible, 'the witnesses keep their standing')
  // replayed: the same evidence again, the same resolution again, the same punishment again
  await expectRevert(reporter.accuse(job, [vote(liar, bad), vote(acct(0), good)]), 'CaseResolvedAlready', [job])
  await expectRevert(reporter.resolve(job, [liar.wallet.address]), 'CaseResolvedAlready', [job])
  await expectRevert(reporter.punish(job, [liar.wallet.address]), 'NotALoser', [job, liar.wallet.address])
  // a winner cannot be punished
  await expectRevert(reporter.punish(job, [acct(0).wallet.address]), 'NotALoser', [job, acct(0).wallet.address])
})

t('a colluding pair cannot slash an honest agent: two against one is dismissed', async () => {
  const ctx = chain.ctx
  const job = newJob()
  const truth = statementOf(job, 'ok', sha(), 100)
  const lie = statementOf(job, 'ok', sha(), 100)
  const honest = acct(4)
  const before = await reporter.standing(honest.wallet.address)
  await acct(5).court.accuse(job, [vote(acct(5), lie), vote(acct(6), lie), vote(honest, truth)])
  await increaseTime(ctx.provider, WINDOW)
  await expectRevert(acct(5).court.resolve(job, [honest.wallet.address]).then(() => acct(5).court.punish(job, [honest.wallet.address])), 'NoWinner', [job])
  const c = await reporter.caseOf(job)
  assert.ok(c.resolved)
  assert.is(c.winner, '0x' + '00'.repeat(32), 'dismissed: no winner')
  assert.is(c.topCount, 2)
  const after = await reporter.standing(honest.wallet.address)
  assert.is(after.stake, before.stake)
  assert.ok(after.eligible)
})

t('a third colluder is outvoted within the window: the honest side adds statements, the colluders are convicted', async () => {
  const ctx = chain.ctx
  const job = newJob()
  const truth = statementOf(job, 'error', undefined, 77, 'trap')
  const lie = statementOf(job, 'ok', sha(), 77)
  const honest = acct(7)
  const [c1, c2, c3] = [acct(4), acct(5), acct(6)]
  await c1.court.accuse(job, [vote(c1, lie), vote(c2, lie), vote(c3, lie), vote(honest, truth)])
  // the defence: referees re-ran the job and agree with the honest agent
  await honest.court.accuse(job, [vote(acct(8), truth), vote(acct(9), truth)])
  const tied = await reporter.caseOf(job)
  assert.ok(tied.tie, '3 against 3 is a tie so far')
  await honest.court.accuse(job, [vote(acct(0), truth)])
  await increaseTime(ctx.provider, WINDOW)
  await reporter.resolve(job, [c1.wallet.address, c2.wallet.address, c3.wallet.address])
  for (const c of [c1, c2, c3]) assert.not.ok((await reporter.standing(c.wallet.address)).eligible)
  assert.ok((await reporter.standing(honest.wallet.address)).eligible)
  await expectRevert(reporter.accuse(job, [vote(acct(1), truth)]), 'CaseResolvedAlready')
})

t('refused: forged, altered, for another court or chain, non-deterministic, non-canonical, unknown, repeated', async () => {
  const ctx = chain.ctx
  const job = newJob()
  const good = statementOf(job, 'ok', sha(), 5)
  const bad = statementOf(job, 'ok', sha(), 5)
  const [a, b] = [acct(0), acct(1)]
  // altered after signing: the fuel changed, so the signature recovers to a stranger
  const altered = { ...vote(b, good), fuel: 6 }
  await expectRevert(reporter.accuse(job, [vote(a, bad), altered]), 'UnknownAttester')
  // a statement signed for another court (or another chain) recovers to a stranger too
  const other = StatementHasher.for(ctx.v.chainId + 1n, ctx.v.addresses.court)
  await expectRevert(reporter.accuse(job, [vote(a, bad), CourtClient.vote(good, b.attester.sign(other, good))]), 'UnknownAttester')
  const elsewhere = StatementHasher.for(ctx.v.chainId, ctx.v.addresses.registry)
  await expectRevert(reporter.accuse(job, [vote(a, bad), CourtClient.vote(good, b.attester.sign(elsewhere, good))]), 'UnknownAttester')
  // not a signature at all
  await expectRevert(reporter.accuse(job, [vote(a, bad), { ...vote(b, good), r: '0x' + '00'.repeat(32) }]), 'BadSignature')
  // a key nobody bound
  const stranger = new Attester(hexlify(randomBytes(32)))
  await expectRevert(reporter.accuse(job, [vote(a, bad), CourtClient.vote(good, stranger.sign(hasher(), good))]), 'UnknownAttester', [stranger.address])
  // non-deterministic failures are never evidence
  const deadline = statementOf(job, 'error', undefined, 5, 'deadline')
  const internal = statementOf(job, 'error', undefined, 5, 'internal')
  const closed = statementOf(job, 'error', undefined, 5, 'closed')
  assert.is(deadline.outcome, 64)
  await expectRevert(reporter.accuse(job, [vote(a, good), vote(b, deadline)]), 'NonDeterministic', [64])
  await expectRevert(reporter.accuse(job, [vote(a, good), vote(b, internal)]), 'NonDeterministic', [65])
  await expectRevert(reporter.accuse(job, [vote(a, good), vote(b, closed)]), 'NonDeterministic', [127])
  await expectRevert(reporter.convictSelfContradiction(job, vote(a, good), vote(a, deadline)), 'NonDeterministic', [64])
  // one encoding per result: an error carries no output
  const odd = { ...statementOf(job, 'error', undefined, 5, 'trap'), output: '0x' + sha() }
  await expectRevert(reporter.accuse(job, [vote(a, good), vote(b, odd)]), 'NonCanonical')
  // agreement is no case
  await expectRevert(reporter.accuse(job, [vote(a, good), vote(b, good)]), 'NoContradiction', [job])
  // counted once per agent; a second, different result from the same agent is a self-contradiction
  await expectRevert(reporter.accuse(job, [vote(a, good), vote(a, good), vote(b, bad)]), 'AlreadyCounted', [job, a.wallet.address])
  await expectRevert(reporter.accuse(job, [vote(a, good), vote(a, bad)]), 'SelfContradiction', [job, a.wallet.address])
})

t('a self-contradiction is convicted at once; once only', async () => {
  const job = newJob()
  const liar = acct(8)
  const x = statementOf(job, 'ok', sha(), 9)
  const y = statementOf(job, 'error', undefined, 9, 'fuel_exhausted')
  await expectRevert(reporter.convictSelfContradiction(job, vote(liar, x), vote(liar, x)), 'SameResult', [job])
  await expectRevert(reporter.convictSelfContradiction(job, vote(liar, x), vote(acct(9), y)), 'DifferentSigners')
  const r = await reporter.convictSelfContradiction(job, vote(liar, x), vote(liar, y))
  console.log(`gas: self-contradiction ${r.gasUsed}`)
  const s = await reporter.standing(liar.wallet.address)
  assert.is(s.convictions, 1)
  assert.not.ok(s.eligible)
  await expectRevert(reporter.convictSelfContradiction(job, vote(liar, x), vote(liar, y)), 'AlreadyCounted')
  // a convicted agent is no witness any more
  const later = newJob()
  await expectRevert(reporter.accuse(later, [vote(liar, statementOf(later, 'ok', sha(), 1))]), 'NotEligible', [liar.wallet.address])
})

t('capacity epochs: one commit per challenger per epoch; a quorum of staked witnesses slashes, once', async () => {
  const ctx = chain.ctx
  // fresh accounts: earlier tests convicted some
  const lazy = acct(9)
  const witnesses = [acct(0), acct(1), acct(2)]
  const epoch = await reporter.currentEpoch()
  const fill = (k: number) => Array.from({ length: k }, () => packReport(Wallet.createRandom().address, 4, 0))
  const reports = [packReport(lazy.wallet.address, 0, 4), ...fill(99)]
  const gas: bigint[] = []
  for (const w of witnesses) gas.push((await w.court.commitCapacity(epoch, reports)).gasUsed)
  const single = await acct(7).court.commitCapacity(epoch, [packReport(lazy.wallet.address, 0, 1)])
  console.log(`gas: capacity commit of 100 agents ${gas[0]} (${gas[0]! / 100n} per agent per epoch); of 1 agent ${single.gasUsed}`)
  await expectRevert(witnesses[0]!.court.commitCapacity(epoch, reports), 'AlreadyCommitted')
  await expectRevert(witnesses[0]!.court.commitCapacity(epoch + 5n, reports), 'EpochNotOpen')
  const proof = (w: StakedAccount, rs = reports, index = 0) => ({ challenger: w.wallet.address, reports: rs, index })
  await expectRevert(reporter.slashCapacity(lazy.wallet.address, epoch, witnesses.slice(0, 2).map((w) => proof(w))), 'TooFewWitnesses', [2, 3])
  await expectRevert(reporter.slashCapacity(lazy.wallet.address, epoch, [proof(witnesses[0]!), proof(witnesses[0]!), proof(witnesses[1]!)]), 'DuplicateWitness')
  await expectRevert(reporter.slashCapacity(lazy.wallet.address, epoch, [proof(witnesses[0]!), proof(witnesses[1]!), proof(witnesses[2]!, reports, 1)]), 'WrongAgent')
  await expectRevert(reporter.slashCapacity(lazy.wallet.address, epoch, [proof(witnesses[0]!), proof(witnesses[1]!), proof(witnesses[2]!, reports.slice(0, 50))]), 'ReportMismatch')
  // one failure is below the threshold (3)
  await expectRevert(reporter.slashCapacity(lazy.wallet.address, epoch, [proof(witnesses[0]!), proof(witnesses[1]!), proof(acct(7), [packReport(lazy.wallet.address, 0, 1)])]), 'BelowThreshold')
  // an unstaked challenger is no witness
  await reporter.commitCapacity(epoch, reports)
  await expectRevert(reporter.slashCapacity(lazy.wallet.address, epoch, [proof(witnesses[0]!), proof(witnesses[1]!), { challenger: ctx.wallets[11]!.address, reports, index: 0 }]), 'WitnessNotEligible')
  const before = (await reporter.standing(lazy.wallet.address)).stake
  const r = await reporter.slashCapacity(lazy.wallet.address, epoch, witnesses.map((w) => proof(w)))
  console.log(`gas: capacity slash on 3 witnesses of 100-agent commits ${r.gasUsed}`)
  const after = await reporter.standing(lazy.wallet.address)
  assert.ok(after.stake < before, 'slashed')
  assert.is(after.convictions, 0, 'capacity is not correctness: no conviction')
  assert.not.ok(after.eligible, 'below the minimum stake now')
  await expectRevert(reporter.slashCapacity(lazy.wallet.address, epoch, witnesses.map((w) => proof(w))), 'AlreadySlashedForEpoch')
})

t('parameters: only the timelock sets them; ranges hold', async () => {
  const ctx = chain.ctx
  const params = ctx.v.params.connect(ctx.wallets[0]!) as typeof ctx.v.params
  await expectRevert(params.getFunction('setMinStake')(1n), 'OwnableUnauthorizedAccount', [ctx.wallets[0]!.address])
  assert.is(await params.getFunction('owner')(), ctx.v.addresses.timelock)
  const timelock = ctx.v.timelock
  assert.not.ok(await timelock.getFunction('hasRole')('0x' + '00'.repeat(32), ctx.wallets[0]!.address), 'the deployer gave up the admin role')
})

t.run()
